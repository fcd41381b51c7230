using System.Globalization;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Tests.Interop;

/// <summary>A real gRPC server (Kestrel, h2c, 127.0.0.1, port chosen by the OS) answering <c>helloworld.Greeter</c> with its name.</summary>
internal sealed class GreeterBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _calls;

    private GreeterBackend(string name)
    {
        Name = name;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        _app = builder.Build();
        _app.MapGrpcService<GreeterService>();
    }

    public string Name { get; }

    public int Port { get; private set; }

    public int Calls => Volatile.Read(ref _calls);

    public static async Task<GreeterBackend> StartAsync(string name)
    {
        var backend = new GreeterBackend(name);
        await backend._app.StartAsync();
        var address = backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        backend.Port = new Uri(address).Port;
        return backend;
    }

    public override string ToString() => $"{Name} on 127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class GreeterService(GreeterBackend backend) : Greeter.GreeterBase
    {
        public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
        {
            Interlocked.Increment(ref backend._calls);
            return Task.FromResult(new HelloReply { Message = $"Hello {request.Name} from {backend.Name}", Backend = backend.Name });
        }
    }
}
