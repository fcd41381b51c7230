using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Tests.EndToEnd;

/// <summary>A real Kestrel HTTP/1.1 server on 127.0.0.1 (port chosen by the OS) that answers every request with its name.</summary>
internal sealed class NamedHttpBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private NamedHttpBackend(string name)
    {
        Name = name;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        _app = builder.Build();
        _app.Run(context =>
        {
            Interlocked.Increment(ref _requests);
            return context.Response.WriteAsync(Name, context.RequestAborted);
        });
    }

    public string Name { get; }

    public int Port { get; private set; }

    public int Requests => Volatile.Read(ref _requests);

    public static async Task<NamedHttpBackend> StartAsync(string name)
    {
        var backend = new NamedHttpBackend(name);
        await backend._app.StartAsync();
        backend.Port = new Uri(backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single()).Port;
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
