using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Server;

/// <summary>
/// The Aggregated Discovery Service (ADS), state-of-the-world and delta, serving the snapshots of an
/// <see cref="XdsSnapshotCache"/>. Host it in any ASP.NET Core app; each stream ends when its client goes away or the
/// app stops (with <c>UNAVAILABLE</c>, so clients reconnect).
/// </summary>
/// <example><code>
/// builder.Services.AddGrpc();
/// builder.Services.AddXdsServer();
/// var app = builder.Build();
/// app.MapGrpcService&lt;XdsAdsService&gt;();
/// </code></example>
public sealed class XdsAdsService : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
{
    private readonly XdsSnapshotCache _cache;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;

    /// <summary>Creates the service (gRPC creates one per call) over the singleton <paramref name="cache"/>.</summary>
    /// <param name="cache">The snapshots to serve.</param>
    /// <param name="lifetime">When given, open streams end as the application starts stopping, instead of holding up shutdown.</param>
    public XdsAdsService(XdsSnapshotCache cache, IHostApplicationLifetime? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        _cache = cache;
        _logger = cache.LoggerFactory.CreateLogger<XdsAdsService>();
        _stopping = lifetime?.ApplicationStopping ?? CancellationToken.None;
    }

    /// <inheritdoc />
    public override async Task StreamAggregatedResources(IAsyncStreamReader<DiscoveryRequest> requestStream, IServerStreamWriter<DiscoveryResponse> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        using var stream = new XdsSotwStream(_cache, requestStream, responseStream, context.Peer, context.RequestHeaders.GetValue("user-agent"), _logger);
        await stream.RunAsync(context.CancellationToken, _stopping).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task DeltaAggregatedResources(IAsyncStreamReader<DeltaDiscoveryRequest> requestStream, IServerStreamWriter<DeltaDiscoveryResponse> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        using var stream = new XdsDeltaStream(_cache, requestStream, responseStream, context.Peer, context.RequestHeaders.GetValue("user-agent"), _logger);
        await stream.RunAsync(context.CancellationToken, _stopping).ConfigureAwait(false);
    }
}
