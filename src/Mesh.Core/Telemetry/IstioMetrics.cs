using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Mesh.Identity;
using Mesh.Model;

namespace Mesh.Telemetry;

/// <summary>
/// Who this workload is, for Istio's standard metrics: the <c>source_*</c> labels of the requests it sends
/// (<c>reporter="source"</c>) and the <c>destination_*</c> labels of the requests it serves (<c>reporter="destination"</c>,
/// with <c>UseMeshIstioMetrics()</c> of Mesh.AspNetCore).
/// </summary>
public sealed class IstioMetricsOptions
{
    /// <summary>The workload (Deployment) name; defaults to <c>ISTIO_META_WORKLOAD_NAME</c>, else "unknown".</summary>
    public string SourceWorkload { get; set; } = FromEnvironment("ISTIO_META_WORKLOAD_NAME");

    /// <summary>The workload's namespace; defaults to <c>POD_NAMESPACE</c>, else "unknown".</summary>
    public string SourceWorkloadNamespace { get; set; } = FromEnvironment("POD_NAMESPACE");

    /// <summary>The <c>app</c> label of the workload; defaults to <c>ISTIO_META_APP</c> or <c>APP</c>, else "unknown".</summary>
    public string SourceApp { get; set; } = FromEnvironment("ISTIO_META_APP", "APP");

    /// <summary>The <c>version</c> label of the workload; defaults to <c>ISTIO_META_VERSION</c> or <c>VERSION</c>, else "unknown".</summary>
    public string SourceVersion { get; set; } = FromEnvironment("ISTIO_META_VERSION", "VERSION");

    /// <summary>
    /// The workload's SPIFFE identity. "unknown" by default: then the SPIFFE ID of the workload certificate the mesh
    /// holds (<see cref="Mesh.Identity.IWorkloadIdentityProvider"/>) when there is one, as Istio reports its own.
    /// </summary>
    public string SourcePrincipal { get; set; } = IstioMetrics.Unknown;

    /// <summary>The workload's canonical service (Istio's <c>service.istio.io/canonical-name</c>); defaults to <see cref="SourceApp"/>, else <see cref="SourceWorkload"/>.</summary>
    public string? SourceCanonicalService { get; set; }

    /// <summary>The workload's canonical revision (Istio's <c>service.istio.io/canonical-revision</c>); defaults to <see cref="SourceVersion"/>, else "latest".</summary>
    public string? SourceCanonicalRevision { get; set; }

    /// <summary>The cluster this workload runs in; defaults to <c>ISTIO_META_CLUSTER_ID</c>, else "unknown".</summary>
    public string SourceCluster { get; set; } = FromEnvironment("ISTIO_META_CLUSTER_ID");

    /// <summary>
    /// Whether requests carry Istio's metadata exchange headers (<c>x-envoy-peer-metadata</c>: this workload's name,
    /// namespace, app, version and cluster) so servers can name the caller in their reports. Default true; turn it off
    /// when mesh services include endpoints outside the mesh that should not learn the workload's names.
    /// </summary>
    public bool SendPeerMetadata { get; set; } = true;

    /// <summary>The destination cluster for endpoints whose workload does not name one (Istio's <c>istio.workload</c> endpoint metadata does).</summary>
    public string DestinationCluster { get; set; } = IstioMetrics.Unknown;

    private static string FromEnvironment(params string[] names)
    {
        foreach (var name in names)
        {
            var value = Environment.GetEnvironmentVariable(name);
            if (!string.IsNullOrEmpty(value))
            {
                return value;
            }
        }

        return IstioMetrics.Unknown;
    }
}

/// <summary>
/// Istio's standard request metrics (the <c>Mesh.Istio</c> meter), recorded as Envoy's client sidecar would with
/// <c>reporter="source"</c> (and, with Mesh.AspNetCore's <c>UseMeshIstioMetrics()</c>, as its server sidecar would with
/// <c>reporter="destination"</c>), so Istio's dashboards and Kiali's graph see proxyless workloads: <c>istio_requests_total</c>,
/// <c>istio_request_duration_milliseconds</c>, <c>istio_request_bytes</c>, <c>istio_response_bytes</c> and, for gRPC
/// streams the client sends, <c>istio_request_messages_total</c> / <c>istio_response_messages_total</c>. The <c>destination_*</c> workload
/// labels come from what the server said in its answer (Istio's metadata exchange), else the answering endpoint's
/// <see cref="EndpointWorkload"/>, <c>destination_principal</c> from the
/// identity its last verified TLS handshake proved. Registered only by <c>AddIstioMetrics</c>; transports record nothing
/// when it is absent.
/// </summary>
public sealed class IstioMetrics
{
    /// <summary>The meter's name, matched by <c>AddMeshInstrumentation</c>'s <c>Mesh.*</c>.</summary>
    public const string Name = "Mesh.Istio";

    /// <summary>The value Istio uses for a label it cannot determine.</summary>
    public const string Unknown = "unknown";

    // Tags: the destination service's (per host and protocol), the destination workload's (per endpoint workload), then per request.
    private const int ServiceTagCount = 12;
    private const int WorkloadTagCount = 7;
    private const int RequestTagCount = 6;
    private const int TagCount = ServiceTagCount + WorkloadTagCount + RequestTagCount;

    // Distinct callers (identity and metadata) whose labels are kept; more are labelled per request.
    private const int MaxCachedPeers = 1024;

    [ThreadStatic]
    private static KeyValuePair<string, object?>[]? t_buffer;

    private readonly ConcurrentDictionary<(string Host, string Protocol), ServiceTags> _services = new();
    // By reference, so old snapshots' workloads leave with them; a look-up costs no hashing of the five strings.
    private readonly ConditionalWeakTable<EndpointWorkload, KeyValuePair<string, object?>[]> _workloads = new();
    private readonly ConcurrentDictionary<(string Host, string Protocol), KeyValuePair<string, object?>[]> _inbound = new();
    private readonly ConcurrentDictionary<(string SpiffeId, string Metadata), KeyValuePair<string, object?>[]> _peers = new();
    private readonly ConcurrentDictionary<string, EndpointWorkload?> _answered = new(StringComparer.Ordinal);
    private readonly IstioMetricsOptions _options;
    private readonly IWorkloadIdentityProvider? _identity;

    internal IstioMetrics(IMeterFactory meterFactory, IstioMetricsOptions options, IWorkloadIdentityProvider? identity = null)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _options = options;
        _identity = identity;
        Meter = meterFactory.Create(Name);
        Requests = Meter.CreateCounter<long>("istio_requests_total", description: "Requests, as Istio's sidecar counts them.");
        Duration = Meter.CreateHistogram(
            "istio_request_duration_milliseconds",
            unit: "ms",
            description: "Request duration, as Istio's sidecar measures it.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000] });
        InstrumentAdvice<long> sizes = new() { HistogramBucketBoundaries = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000] };
        RequestBytes = Meter.CreateHistogram("istio_request_bytes", unit: "By", description: "Request body sizes, as Istio's sidecar measures them.", advice: sizes);
        ResponseBytes = Meter.CreateHistogram("istio_response_bytes", unit: "By", description: "Response body sizes, as Istio's sidecar measures them.", advice: sizes);
        RequestMessages = Meter.CreateCounter<long>("istio_request_messages_total", description: "gRPC messages the client sent, as Istio's sidecar counts them.");
        ResponseMessages = Meter.CreateCounter<long>("istio_response_messages_total", description: "gRPC messages the server sent, as Istio's sidecar counts them.");
        (PeerMetadataId, PeerMetadata) = IstioPeerMetadata.Encode(options, CanonicalService, CanonicalRevision);
    }

    /// <summary>This workload's <c>x-envoy-peer-metadata</c> value (Istio's metadata exchange): sent with requests unless turned off, and with the answer to a request that carried one.</summary>
    internal string PeerMetadata { get; }

    /// <summary>Whether clients add the metadata exchange headers to their requests (<see cref="IstioMetricsOptions.SendPeerMetadata"/>).</summary>
    internal bool SendsPeerMetadata => _options.SendPeerMetadata;

    /// <summary>This workload's <c>x-envoy-peer-metadata-id</c> value.</summary>
    internal string PeerMetadataId { get; }

    /// <summary>The meter.</summary>
    public Meter Meter { get; }

    /// <summary>Whether any instrument has a listener; callers skip their per-request work (counting, sizing) when not.</summary>
    internal bool IsEnabled => Requests.Enabled || Duration.Enabled || RequestBytes.Enabled || ResponseBytes.Enabled || RequestMessages.Enabled || ResponseMessages.Enabled;

    internal Counter<long> Requests { get; }

    internal Histogram<double> Duration { get; }

    internal Histogram<long> RequestBytes { get; }

    internal Histogram<long> ResponseBytes { get; }

    internal Counter<long> RequestMessages { get; }

    internal Counter<long> ResponseMessages { get; }

    /// <summary>
    /// Records one logical request. <paramref name="host"/> is the host the caller addressed, <paramref name="protocol"/>
    /// "http" or "grpc", <paramref name="endpoint"/> the endpoint that answered (null when none did),
    /// <paramref name="grpcStatus"/> null for HTTP, <paramref name="responseFlags"/> "-" or Envoy's flags. A size or
    /// message count below 0 in <paramref name="sizes"/> is not known and not recorded; with
    /// <paramref name="responsePending"/> an unknown response size is recorded when the body ends, through the returned
    /// <see cref="PendingResponse"/>.
    /// </summary>
    internal PendingResponse? Record(string host, string protocol, EndpointModel? endpoint, int responseCode, string? grpcStatus, string responseFlags, TimeSpan elapsed, in IstioSizes sizes, bool responsePending = false, EndpointWorkload? answered = null)
    {
        if (!IsEnabled)
        {
            return null;
        }

        // One buffer per thread: the instruments copy tags before returning, so it is free again after recording.
        var buffer = t_buffer ??= new KeyValuePair<string, object?>[TagCount];
        Fill(buffer, host, protocol, answered ?? endpoint?.Workload, endpoint, responseCode, grpcStatus, responseFlags);
        RecordAll(buffer, elapsed, sizes);
        return sizes.ResponseBytes < 0 && responsePending && ResponseBytes.Enabled ? new PendingResponse(this, [.. buffer]) : null;
    }

    /// <summary>
    /// Records one request this workload served, as Envoy's server sidecar would with <c>reporter="destination"</c>:
    /// the <c>destination_*</c> labels are this workload's, the <c>source_*</c> ones what the caller said of itself in
    /// Istio's metadata exchange (<paramref name="peerMetadata"/>) with the namespace of its SPIFFE ID when it has one
    /// (<see langword="null"/> for a caller without a certificate), <c>connection_security_policy</c>
    /// <c>mutual_tls</c> or <c>none</c>. <paramref name="host"/> is the authority the caller addressed.
    /// </summary>
    internal void RecordInbound(string host, string protocol, SpiffeId? peer, string? peerMetadata, int responseCode, string? grpcStatus, TimeSpan elapsed, in IstioSizes sizes)
    {
        if (!IsEnabled)
        {
            return;
        }

        var buffer = t_buffer ??= new KeyValuePair<string, object?>[TagCount];
        var service = _inbound.TryGetValue((host, protocol), out var cached) ? cached : _inbound.GetOrAdd((host, protocol), BuildInbound);
        service.CopyTo(buffer, 0);
        SourceTags(peer, peerMetadata).CopyTo(buffer, ServiceTagCount);
        var i = ServiceTagCount + WorkloadTagCount;
        buffer[i++] = new("response_code", MeshTelemetry.StatusCode(responseCode));
        buffer[i++] = new("grpc_response_status", grpcStatus ?? string.Empty);
        buffer[i++] = new("response_flags", "-");
        buffer[i++] = new("connection_security_policy", peer is null ? "none" : "mutual_tls");
        buffer[i++] = new("source_principal", peer?.Value ?? Unknown);
        buffer[i] = new("destination_principal", SourcePrincipal());
        RecordAll(buffer, elapsed, sizes);
    }

    private void RecordAll(KeyValuePair<string, object?>[] buffer, TimeSpan elapsed, in IstioSizes sizes)
    {
        ReadOnlySpan<KeyValuePair<string, object?>> tags = buffer;
        Requests.Add(1, tags);
        Duration.Record(elapsed.TotalMilliseconds, tags);
        if (sizes.RequestBytes >= 0)
        {
            RequestBytes.Record(sizes.RequestBytes, tags);
        }

        if (sizes.ResponseBytes >= 0)
        {
            ResponseBytes.Record(sizes.ResponseBytes, tags);
        }

        if (sizes.RequestMessages >= 0)
        {
            RequestMessages.Add(sizes.RequestMessages, tags);
        }

        if (sizes.ResponseMessages >= 0)
        {
            ResponseMessages.Add(sizes.ResponseMessages, tags);
        }
    }

    private KeyValuePair<string, object?>[] BuildInbound((string Host, string Protocol) key)
    {
        var (name, ns) = ServiceName(key.Host);
        return
        [
            new("reporter", "destination"),
            new("destination_workload", _options.SourceWorkload),
            new("destination_workload_namespace", _options.SourceWorkloadNamespace),
            new("destination_app", _options.SourceApp),
            new("destination_version", _options.SourceVersion),
            new("destination_canonical_service", CanonicalService),
            new("destination_canonical_revision", CanonicalRevision),
            new("destination_cluster", _options.SourceCluster),
            new("destination_service", key.Host),
            new("destination_service_name", name),
            new("destination_service_namespace", ns),
            new("request_protocol", key.Protocol),
        ];
    }

    /// <summary>
    /// The caller's labels: its namespace from its SPIFFE ID (a certificate outranks what it says), the rest from the
    /// metadata it sent (Istio's exchange). Cached per pair; callers can send anything, so the cache is bounded.
    /// </summary>
    private KeyValuePair<string, object?>[] SourceTags(SpiffeId? peer, string? peerMetadata)
    {
        var key = (peer?.Value ?? string.Empty, peerMetadata ?? string.Empty);
        if (_peers.TryGetValue(key, out var known))
        {
            return known;
        }

        var tags = PeerTags(peer?.Namespace, peerMetadata is null ? null : IstioPeerMetadata.Decode(peerMetadata));
        if (_peers.Count < MaxCachedPeers)
        {
            _peers.TryAdd(key, tags);
        }

        return tags;
    }

    private static KeyValuePair<string, object?>[] PeerTags(string? certifiedNamespace, IstioPeer? said)
    {
        var ns = certifiedNamespace ?? said?.Namespace;
        var workload = said?.Workload;
        return
        [
            new("source_workload", workload ?? Unknown),
            new("source_workload_namespace", ns ?? Unknown),
            new("source_app", said?.App ?? Unknown),
            new("source_version", said?.Version ?? Unknown),
            new("source_canonical_service", said?.CanonicalService ?? said?.App ?? workload ?? Unknown),
            new("source_canonical_revision", said?.CanonicalRevision ?? said?.Version ?? (workload is null ? Unknown : "latest")),
            new("source_cluster", said?.Cluster ?? Unknown),
        ];
    }

    /// <summary>
    /// The workload a server named in its answer (Istio's metadata exchange header), or <see langword="null"/> when the
    /// value is not valid metadata. Cached per value, up to a bound (servers can send anything).
    /// </summary>
    internal EndpointWorkload? AnsweredWorkload(string value)
    {
        if (_answered.TryGetValue(value, out var known))
        {
            return known;
        }

        var workload = IstioPeerMetadata.Decode(value) is { } peer
            ? new EndpointWorkload { Name = peer.Workload, Namespace = peer.Namespace, App = peer.App ?? peer.CanonicalService, Version = peer.Version ?? peer.CanonicalRevision, Cluster = peer.Cluster }
            : null;
        if (_answered.Count < MaxCachedPeers)
        {
            _answered.TryAdd(value, workload);
        }

        return workload;
    }

    private void Fill(KeyValuePair<string, object?>[] buffer, string host, string protocol, EndpointWorkload? destination, EndpointModel? endpoint, int responseCode, string? grpcStatus, string responseFlags)
    {
        var service = _services.TryGetValue((host, protocol), out var cached) ? cached : _services.GetOrAdd((host, protocol), BuildService);
        service.Tags.CopyTo(buffer, 0);
        var workload = destination is { } w
            ? _workloads.TryGetValue(w, out var known) ? known : _workloads.GetValue(w, BuildWorkload)
            : service.UnknownWorkload;
        workload.CopyTo(buffer, ServiceTagCount);
        var i = ServiceTagCount + WorkloadTagCount;
        buffer[i++] = new("response_code", MeshTelemetry.StatusCode(responseCode));
        buffer[i++] = new("grpc_response_status", grpcStatus ?? string.Empty);
        buffer[i++] = new("response_flags", responseFlags);
        // Istio: "unknown" when the report is from the source, which cannot see the server's authentication policy.
        buffer[i++] = new("connection_security_policy", Unknown);
        buffer[i++] = new("source_principal", SourcePrincipal());
        buffer[i] = new("destination_principal", endpoint?.State.PeerPrincipal ?? Unknown);
    }

    private string SourcePrincipal() =>
        _options.SourcePrincipal is not Unknown ? _options.SourcePrincipal : _identity?.Current?.SpiffeId?.Value ?? Unknown;

    private string CanonicalService => _options.SourceCanonicalService ?? (_options.SourceApp is not Unknown ? _options.SourceApp : _options.SourceWorkload);

    private string CanonicalRevision => _options.SourceCanonicalRevision ?? (_options.SourceVersion is not Unknown ? _options.SourceVersion : "latest");

    /// <summary>Istio's service name and namespace of a host: <c>name.namespace.svc.cluster.local</c>, else the host and "unknown".</summary>
    private static (string Name, string Namespace) ServiceName(string host)
    {
        const string Suffix = ".svc.cluster.local";
        if (host.EndsWith(Suffix, StringComparison.OrdinalIgnoreCase) && host[..^Suffix.Length].Split('.') is [var name, var ns])
        {
            return (name, ns);
        }

        return (host, Unknown);
    }

    private ServiceTags BuildService((string Host, string Protocol) key)
    {
        var host = key.Host;
        var (name, ns) = ServiceName(host);

        KeyValuePair<string, object?>[] tags =
        [
            new("reporter", "source"),
            new("source_workload", _options.SourceWorkload),
            new("source_workload_namespace", _options.SourceWorkloadNamespace),
            new("source_app", _options.SourceApp),
            new("source_version", _options.SourceVersion),
            new("source_canonical_service", CanonicalService),
            new("source_canonical_revision", CanonicalRevision),
            new("source_cluster", _options.SourceCluster),
            new("destination_service", host),
            new("destination_service_name", name),
            new("destination_service_namespace", ns),
            new("request_protocol", key.Protocol),
        ];

        // Without workload metadata the namespace is the service's, as far as the host tells.
        return new ServiceTags(tags, WorkloadTags(null, ns, null, null, null, _options.DestinationCluster));
    }

    private KeyValuePair<string, object?>[] BuildWorkload(EndpointWorkload workload) =>
        WorkloadTags(workload.Name, workload.Namespace ?? Unknown, workload.App, workload.Version, workload.Version, workload.Cluster ?? _options.DestinationCluster);

    private static KeyValuePair<string, object?>[] WorkloadTags(string? name, string ns, string? app, string? version, string? revision, string cluster) =>
    [
        new("destination_workload", name ?? Unknown),
        new("destination_workload_namespace", ns),
        new("destination_app", app ?? Unknown),
        new("destination_version", version ?? Unknown),
        new("destination_canonical_service", app ?? name ?? Unknown),
        new("destination_canonical_revision", revision ?? (name is null ? Unknown : "latest")),
        new("destination_cluster", cluster),
    ];

    private sealed record ServiceTags(KeyValuePair<string, object?>[] Tags, KeyValuePair<string, object?>[] UnknownWorkload);

    /// <summary>A response whose body is still streaming: its size is recorded once, with the request's labels, when it ends.</summary>
    internal sealed class PendingResponse(IstioMetrics metrics, KeyValuePair<string, object?>[] tags)
    {
        private int _done;

        /// <summary>Records the body's size; later calls do nothing.</summary>
        public void Complete(long bytes)
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                metrics.ResponseBytes.Record(bytes, tags);
            }
        }
    }
}

/// <summary>Sizes of one request for Istio's metrics; a value below 0 is not known.</summary>
internal readonly record struct IstioSizes(long RequestBytes, long ResponseBytes, long RequestMessages = -1, long ResponseMessages = -1)
{
    /// <summary>No size known.</summary>
    public static IstioSizes None => new(-1, -1);
}
