using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Tests.Infrastructure;

/// <summary>A real Kestrel HTTP/1.1 server on 127.0.0.1 (port chosen by the OS) that answers every request with its name.</summary>
internal sealed class ControlPlaneTestBackend : IAsyncDisposable
{
    /// <summary>The bound on every wait in these tests.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private readonly WebApplication _app;

    private ControlPlaneTestBackend(string name)
    {
        Name = name;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        _app = builder.Build();
        _app.Run(context => context.Response.WriteAsync(Name, context.RequestAborted));
    }

    public string Name { get; }

    public int Port { get; private set; }

    public static async Task<ControlPlaneTestBackend> StartAsync(string name)
    {
        var backend = new ControlPlaneTestBackend(name);
        await backend._app.StartAsync().WaitAsync(Timeout);
        backend.Port = new Uri(backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single()).Port;
        return backend;
    }

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds, failing after <see cref="Timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out after {Timeout.TotalSeconds} s waiting for: {what}");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(Timeout);
        await _app.DisposeAsync();
    }
}
