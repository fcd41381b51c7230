using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Mesh.Telemetry;

/// <summary>Who this workload is, for the <c>source_*</c> labels of Istio's standard metrics.</summary>
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

    /// <summary>The workload's SPIFFE identity; "unknown" while the mesh has no mTLS.</summary>
    public string SourcePrincipal { get; set; } = IstioMetrics.Unknown;

    /// <summary>The cluster this workload runs in; defaults to <c>ISTIO_META_CLUSTER_ID</c>, else "unknown".</summary>
    public string SourceCluster { get; set; } = FromEnvironment("ISTIO_META_CLUSTER_ID");

    /// <summary>The destination cluster; the mesh does not know it per endpoint, so one value for all.</summary>
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
/// <c>reporter="source"</c>, so Istio's dashboards and Kiali's graph see proxyless workloads. Registered only by
/// <c>AddIstioMetrics</c>; transports record nothing when it is absent.
/// </summary>
public sealed class IstioMetrics
{
    /// <summary>The meter's name, matched by <c>AddMeshInstrumentation</c>'s <c>Mesh.*</c>.</summary>
    public const string Name = "Mesh.Istio";

    /// <summary>The value Istio uses for a label it cannot determine.</summary>
    public const string Unknown = "unknown";

    private const int ConstantCount = 17;
    private const int TagCount = 21;

    [ThreadStatic]
    private static KeyValuePair<string, object?>[]? t_buffer;

    private readonly ConcurrentDictionary<(string Host, string Protocol), KeyValuePair<string, object?>[]> _constants = new();
    private readonly IstioMetricsOptions _options;

    internal IstioMetrics(IMeterFactory meterFactory, IstioMetricsOptions options)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _options = options;
        Meter = meterFactory.Create(Name);
        Requests = Meter.CreateCounter<long>("istio_requests_total", description: "Requests, as Istio's sidecar counts them.");
        Duration = Meter.CreateHistogram(
            "istio_request_duration_milliseconds",
            unit: "ms",
            description: "Request duration, as Istio's sidecar measures it.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000] });
    }

    /// <summary>The meter.</summary>
    public Meter Meter { get; }

    internal Counter<long> Requests { get; }

    internal Histogram<double> Duration { get; }

    /// <summary>
    /// Records one logical request. <paramref name="host"/> is the host the caller addressed, <paramref name="protocol"/>
    /// "http" or "grpc", <paramref name="grpcStatus"/> null for HTTP, <paramref name="responseFlags"/> "-" or Envoy's flags.
    /// </summary>
    internal void Record(string host, string protocol, int responseCode, string? grpcStatus, string responseFlags, TimeSpan elapsed)
    {
        if (!Requests.Enabled && !Duration.Enabled)
        {
            return;
        }

        var constants = _constants.TryGetValue((host, protocol), out var cached) ? cached : _constants.GetOrAdd((host, protocol), Build);

        // One buffer per thread: the instruments copy tags before returning, so it is free again after Record.
        var buffer = t_buffer ??= new KeyValuePair<string, object?>[TagCount];
        constants.CopyTo(buffer, 0);
        buffer[ConstantCount] = new("response_code", MeshTelemetry.StatusCode(responseCode));
        buffer[ConstantCount + 1] = new("grpc_response_status", grpcStatus ?? string.Empty);
        buffer[ConstantCount + 2] = new("response_flags", responseFlags);
        // Istio: "unknown" when the report is from the source, which cannot see the server's authentication policy.
        buffer[ConstantCount + 3] = new("connection_security_policy", Unknown);
        ReadOnlySpan<KeyValuePair<string, object?>> tags = buffer;
        Requests.Add(1, tags);
        Duration.Record(elapsed.TotalMilliseconds, tags);
    }

    private KeyValuePair<string, object?>[] Build((string Host, string Protocol) key)
    {
        var host = key.Host;
        var name = host;
        var ns = Unknown;
        const string Suffix = ".svc.cluster.local";
        if (host.EndsWith(Suffix, StringComparison.OrdinalIgnoreCase))
        {
            var parts = host[..^Suffix.Length].Split('.');
            if (parts.Length == 2)
            {
                name = parts[0];
                ns = parts[1];
            }
        }

        return
        [
            new("reporter", "source"),
            new("source_workload", _options.SourceWorkload),
            new("source_workload_namespace", _options.SourceWorkloadNamespace),
            new("source_principal", _options.SourcePrincipal),
            new("source_app", _options.SourceApp),
            new("source_version", _options.SourceVersion),
            new("source_cluster", _options.SourceCluster),
            new("destination_workload", Unknown),
            new("destination_workload_namespace", ns),
            new("destination_principal", Unknown),
            new("destination_app", Unknown),
            new("destination_version", Unknown),
            new("destination_service", host),
            new("destination_service_name", name),
            new("destination_service_namespace", ns),
            new("destination_cluster", _options.DestinationCluster),
            new("request_protocol", key.Protocol),
        ];
    }
}
