using System.Collections.Immutable;

namespace Mesh.ControlPlane.Model;

/// <summary>How a string is matched (Istio's <c>StringMatch</c>): exactly one of exact, prefix or regex (RE2).</summary>
internal sealed record StringMatchModel(string? Exact, string? Prefix, string? Regex);

/// <summary>One <c>spec.http[].match[]</c> entry; every given condition must hold.</summary>
internal sealed record HttpMatchModel(
    string? Name,
    StringMatchModel? Uri,
    ImmutableArray<KeyValuePair<string, StringMatchModel>> Headers,
    ImmutableArray<KeyValuePair<string, StringMatchModel>> QueryParams,
    StringMatchModel? Method);

/// <summary>A route destination: host (a Service name, short or fully qualified), optional subset and port.</summary>
internal sealed record DestinationModel(string Host, string? Subset, int? Port);

/// <summary>A weighted destination; <see cref="Weight"/> is null when the route has a single destination.</summary>
internal sealed record RouteDestinationModel(DestinationModel Destination, int? Weight);

/// <summary>Retries: attempts, per-try timeout and the conditions (Envoy <c>retry_on</c> names).</summary>
internal sealed record RetriesModel(int Attempts, TimeSpan? PerTryTimeout, string? RetryOn);

/// <summary>A fault delay: a fixed delay for a percentage (0-100) of requests.</summary>
internal sealed record FaultDelayModel(TimeSpan FixedDelay, double Percentage);

/// <summary>A fault abort: an HTTP status or a gRPC status for a percentage (0-100) of requests.</summary>
internal sealed record FaultAbortModel(int? HttpStatus, int? GrpcStatus, double Percentage);

/// <summary>Fault injection of one route.</summary>
internal sealed record FaultModel(FaultDelayModel? Delay, FaultAbortModel? Abort);

/// <summary>One <c>spec.http[]</c> route.</summary>
internal sealed record HttpRouteModel(
    string? Name,
    ImmutableArray<HttpMatchModel> Match,
    ImmutableArray<RouteDestinationModel> Route,
    TimeSpan? Timeout,
    RetriesModel? Retries,
    FaultModel? Fault);

/// <summary>A <c>networking.istio.io</c> VirtualService (the HTTP part).</summary>
internal sealed record VirtualServiceModel(string Namespace, string Name, string Origin, ImmutableArray<string> Hosts, ImmutableArray<HttpRouteModel> Http);

/// <summary><c>loadBalancer.simple</c>.</summary>
internal enum SimpleLoadBalancer
{
    /// <summary>ROUND_ROBIN (and UNSPECIFIED).</summary>
    RoundRobin,

    /// <summary>LEAST_REQUEST (and LEAST_CONN, its old name).</summary>
    LeastRequest,

    /// <summary>RANDOM.</summary>
    Random,
}

/// <summary><c>loadBalancer.consistentHash</c>: one hash key, and ring-hash or Maglev sizing.</summary>
internal sealed record ConsistentHashModel(
    string? HttpHeaderName,
    string? HttpCookieName,
    string? HttpQueryParameterName,
    bool Maglev,
    int? MinimumRingSize,
    int? MaglevTableSize);

/// <summary><c>trafficPolicy.loadBalancer</c>: simple or consistent hash.</summary>
internal sealed record LoadBalancerModel(SimpleLoadBalancer? Simple, ConsistentHashModel? ConsistentHash);

/// <summary><c>trafficPolicy.connectionPool</c>: the limits that become circuit-breaker thresholds.</summary>
internal sealed record ConnectionPoolModel(int? MaxRequests, int? MaxPendingRequests, int? MaxRetries, TimeSpan? ConnectTimeout);

/// <summary><c>trafficPolicy.outlierDetection</c>.</summary>
internal sealed record OutlierDetectionModel(
    int? Consecutive5xxErrors,
    int? ConsecutiveGatewayErrors,
    TimeSpan? Interval,
    TimeSpan? BaseEjectionTime,
    int? MaxEjectionPercent,
    int? MinHealthPercent);

/// <summary>A traffic policy (top level, per subset, or per port); a null section means "inherit".</summary>
internal sealed record TrafficPolicyModel(
    LoadBalancerModel? LoadBalancer,
    ConnectionPoolModel? ConnectionPool,
    OutlierDetectionModel? OutlierDetection,
    ImmutableArray<PortTrafficPolicyModel> PortLevelSettings,
    ClientTlsModel? Tls = null)
{
    /// <summary>The policy for <paramref name="port"/>: a port-level section replaces the same section of this policy (Istio).</summary>
    public TrafficPolicyModel ForPort(int port)
    {
        foreach (var portLevel in PortLevelSettings)
        {
            if (portLevel.Port == port)
            {
                var p = portLevel.Policy;
                return new TrafficPolicyModel(p.LoadBalancer ?? LoadBalancer, p.ConnectionPool ?? ConnectionPool, p.OutlierDetection ?? OutlierDetection, [], p.Tls ?? Tls);
            }
        }

        return this;
    }

    /// <summary>This policy with <paramref name="overrides"/>' sections replacing this one's (a subset's policy over the rule's).</summary>
    public TrafficPolicyModel Override(TrafficPolicyModel? overrides) => overrides is null
        ? this
        : new TrafficPolicyModel(
            overrides.LoadBalancer ?? LoadBalancer,
            overrides.ConnectionPool ?? ConnectionPool,
            overrides.OutlierDetection ?? OutlierDetection,
            overrides.PortLevelSettings.IsDefaultOrEmpty ? PortLevelSettings : overrides.PortLevelSettings,
            overrides.Tls ?? Tls);

    /// <summary>No policy: every section inherited / default.</summary>
    public static TrafficPolicyModel Empty { get; } = new(null, null, null, []);
}

/// <summary>One <c>portLevelSettings[]</c> entry.</summary>
internal sealed record PortTrafficPolicyModel(int Port, TrafficPolicyModel Policy);

/// <summary>A DestinationRule subset: its labels and its own policy.</summary>
internal sealed record SubsetModel(string Name, ImmutableDictionary<string, string> Labels, TrafficPolicyModel? TrafficPolicy);

/// <summary>A <c>networking.istio.io</c> DestinationRule.</summary>
internal sealed record DestinationRuleModel(string Namespace, string Name, string Origin, string Host, ImmutableArray<SubsetModel> Subsets, TrafficPolicyModel TrafficPolicy);

/// <summary>A <c>networking.istio.io</c> WorkloadEntry: an endpoint outside Kubernetes.</summary>
internal sealed record WorkloadEntryModel(
    string Namespace,
    string Name,
    string Origin,
    string Address,
    ImmutableDictionary<string, int> Ports,
    ImmutableDictionary<string, string> Labels,
    int Weight,
    string? Locality)
{
    /// <summary><c>spec.serviceAccount</c>: the workload's identity (<c>spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/ACCOUNT</c>), or <see langword="null"/>.</summary>
    public string? ServiceAccount { get; init; }
}
