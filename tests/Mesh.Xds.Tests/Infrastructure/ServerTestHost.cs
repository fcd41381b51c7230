using System.Net;
using Envoy.Service.Discovery.V3;
using Grpc.Net.Client;
using Mesh.Xds.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on 127.0.0.1 (port chosen by the OS, HTTP/2 without TLS) hosting <see cref="XdsAdsService"/>
/// the way an application does (<c>AddGrpc</c>, <c>AddXdsServer</c>, <c>MapGrpcService</c>), with a
/// <see cref="GrpcChannel"/> to it and the server's logs collected.
/// </summary>
internal sealed class ServerTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ServerTestHost(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
        Cache = app.Services.GetRequiredService<XdsSnapshotCache>();
        Logs = app.Services.GetFakeLogCollector();
        Channel = GrpcChannel.ForAddress(address);
    }

    /// <summary>The server's address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>The cache the service serves (the singleton from the server's container).</summary>
    public XdsSnapshotCache Cache { get; }

    /// <summary>Every log record the server wrote.</summary>
    public FakeLogCollector Logs { get; }

    /// <summary>A channel to the server, shared by the streams of a test (HTTP/2 multiplexes them).</summary>
    public GrpcChannel Channel { get; }

    public AggregatedDiscoveryService.AggregatedDiscoveryServiceClient CreateAdsClient() => new(Channel);

    public static async Task<ServerTestHost> StartAsync(Action<XdsServerOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddFakeLogging();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(5));
        builder.Services.AddGrpc();
        builder.Services.AddXdsServer(configure);
        var app = builder.Build();
        app.MapGrpcService<XdsAdsService>();
        await app.StartAsync().WaitAsync(ServerTestClient.Timeout);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new ServerTestHost(app, new Uri(address));
    }

    /// <summary>
    /// Waits until the server has handled a subscription change (a request travels over the network, while a snapshot
    /// is set in process: without this, the snapshot may be pushed before the server sees the change).
    /// </summary>
    public Task WaitForSubscriptionAsync(string typeUrl, string[] names, bool wildcard = false) =>
        ServerTestClient.UntilAsync(
            () => Cache.Clients.Any(c => c.GetTypeStatus(typeUrl) is { } s && s.Wildcard == wildcard && s.SubscribedNames.SequenceEqual(names)),
            $"the server sees a subscription to [{string.Join(", ", names)}]{(wildcard ? " and *" : "")} of {typeUrl}");

    /// <summary>Stops the server (open streams end as the application stops).</summary>
    public async Task StopAsync() => await _app.StopAsync().WaitAsync(ServerTestClient.Timeout);

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync().WaitAsync(ServerTestClient.Timeout);
        await _app.DisposeAsync().AsTask().WaitAsync(ServerTestClient.Timeout);
    }
}
