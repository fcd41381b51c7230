using Mesh.Model;

namespace Mesh.Configuration;

/// <summary>
/// The mesh as the user writes it: the <c>Mesh</c> section of <c>IConfiguration</c> (appsettings.json)
/// or code passed to <c>AddMesh(Action&lt;MeshOptions&gt;)</c>. Field names mirror Istio's
/// VirtualService and DestinationRule. Validated and turned into an immutable <see cref="MeshSnapshot"/>.
/// </summary>
/// <example>
/// <code>
/// services.AddMesh(o => o.Services["backend"] = new ServiceOptions
/// {
///     Endpoints = { new() { Address = "http://127.0.0.1:5001", Labels = { ["version"] = "v1" } } },
/// });
/// </code>
/// </example>
public sealed class MeshOptions
{
    /// <summary>Services keyed by the logical host name clients use in URIs (<c>http://backend/...</c>).</summary>
    public Dictionary<string, ServiceOptions> Services { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Named clusters that belong to no service (Envoy's and xDS's unit of load balancing), keyed by any
    /// name, e.g. <c>outbound|8080|v1|backend.shop.svc.cluster.local</c>. Routes send to them with
    /// <see cref="DestinationOptions.Cluster"/>; a client never addresses them by host.
    /// </summary>
    public Dictionary<string, ClusterOptions> Clusters { get; } = new(StringComparer.Ordinal);

    /// <summary>Problems found while reading the configuration section; reported with the validation errors.</summary>
    internal List<string> ReadErrors { get; } = [];
}

/// <summary>One logical service: its endpoints, subsets, routes and load-balancing policy.</summary>
public sealed class ServiceOptions
{
    /// <summary>Further host names (aliases) that resolve to this service, e.g. <c>backend.shop.svc.cluster.local</c>.</summary>
    public List<string> Hosts { get; } = [];

    /// <summary>The endpoints (instances) of the service.</summary>
    public List<EndpointOptions> Endpoints { get; } = [];

    /// <summary>Named subsets, each a label selector over <see cref="Endpoints"/> (Istio DestinationRule subsets).</summary>
    public Dictionary<string, Dictionary<string, string>> Subsets { get; } = new(StringComparer.Ordinal);

    /// <summary>Routes, tried in order; the first that matches wins. Without routes all traffic goes to all endpoints.</summary>
    public List<RouteOptions> Routes { get; } = [];

    /// <summary>The load-balancing policy of the service's endpoints and of each of its subsets.</summary>
    public LoadBalancerOptions? LoadBalancer { get; set; }

    /// <summary>Circuit-breaking thresholds of the service's cluster and of each subset (Envoy; Istio <c>connectionPool</c>). Envoy's defaults apply when omitted.</summary>
    public ConnectionPoolOptions? ConnectionPool { get; set; }

    /// <summary>Passive health checking of the service's endpoints. Off when omitted.</summary>
    public OutlierDetectionOptions? OutlierDetection { get; set; }

    /// <summary>An error-rate circuit breaker per cluster (the service's and each subset's). Off when omitted.</summary>
    public CircuitBreakerOptions? CircuitBreaker { get; set; }

    /// <summary>A slow-call-rate circuit breaker per cluster. Off when omitted.</summary>
    public SlowCallBreakerOptions? SlowCallBreaker { get; set; }

    /// <summary>A local rate limit on all requests to the service. Off when omitted.</summary>
    public RateLimitOptions? RateLimit { get; set; }

    /// <summary>TLS to the service's endpoints (Istio DestinationRule <c>trafficPolicy.tls</c>). Plaintext when omitted.</summary>
    public TlsOptions? Tls { get; set; }
}

/// <summary>
/// A named cluster: endpoints with their load-balancing and resilience settings, without host names,
/// subsets or routes. An empty cluster is valid (requests to it fail as having no usable endpoint).
/// </summary>
public sealed class ClusterOptions
{
    /// <summary>The endpoints of the cluster.</summary>
    public List<EndpointOptions> Endpoints { get; } = [];

    /// <summary>The load-balancing policy. Round robin when omitted.</summary>
    public LoadBalancerOptions? LoadBalancer { get; set; }

    /// <summary>Circuit-breaking thresholds. Envoy's defaults apply when omitted.</summary>
    public ConnectionPoolOptions? ConnectionPool { get; set; }

    /// <summary>Passive health checking. Off when omitted.</summary>
    public OutlierDetectionOptions? OutlierDetection { get; set; }

    /// <summary>An error-rate circuit breaker. Off when omitted.</summary>
    public CircuitBreakerOptions? CircuitBreaker { get; set; }

    /// <summary>A slow-call-rate circuit breaker. Off when omitted.</summary>
    public SlowCallBreakerOptions? SlowCallBreaker { get; set; }

    /// <summary>TLS to the cluster's endpoints. Plaintext when omitted.</summary>
    public TlsOptions? Tls { get; set; }
}

/// <summary>One endpoint of a service.</summary>
public sealed class EndpointOptions
{
    /// <summary>An absolute http or https URI without path, e.g. <c>http://127.0.0.1:5001</c>.</summary>
    public string? Address { get; set; }

    /// <summary>Labels that subsets select on, e.g. <c>version: v1</c>.</summary>
    public Dictionary<string, string> Labels { get; } = new(StringComparer.Ordinal);

    /// <summary>Relative weight for weighted policies; at least 1. Defaults to 1.</summary>
    public int Weight { get; set; } = 1;

    /// <summary>Where the endpoint runs: <c>region/zone/subzone</c> or any prefix of it.</summary>
    public string? Locality { get; set; }

    /// <summary>Health as known to the source; only <see cref="EndpointHealth.Healthy"/> and <see cref="EndpointHealth.Unknown"/> endpoints take traffic.</summary>
    public EndpointHealth Health { get; set; } = EndpointHealth.Healthy;

    /// <summary>The workload that serves the endpoint, for the <c>destination_*</c> labels of Istio's metrics. Unknown when omitted.</summary>
    public EndpointWorkload? Workload { get; set; }
}

/// <summary>A route: match conditions and weighted destinations (Istio HTTPRoute).</summary>
public sealed class RouteOptions
{
    /// <summary>A name for telemetry and errors; defaults to <c>routes[i]</c>.</summary>
    public string? Name { get; set; }

    /// <summary>Alternative conditions (OR); a route without any matches everything.</summary>
    public List<RouteMatchOptions> Match { get; } = [];

    /// <summary>Where matching requests go. Weights are relative; omit them all for an equal split.</summary>
    public List<DestinationOptions> Destinations { get; } = [];

    /// <summary>The total time for the request, all tries and backoffs included (Istio <c>timeout</c>). None when omitted.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Retries (Istio <c>retries</c>). None when omitted.</summary>
    public RetryOptions? Retries { get; set; }

    /// <summary>Hedging for idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE). None when omitted.</summary>
    public HedgingOptions? Hedging { get; set; }

    /// <summary>Fault injection (Istio <c>fault</c>). None when omitted.</summary>
    public FaultOptions? Fault { get; set; }

    /// <summary>A local rate limit on the requests this route takes. None when omitted.</summary>
    public RateLimitOptions? RateLimit { get; set; }
}

/// <summary>Conditions that must all hold (AND) for a request to match.</summary>
public sealed class RouteMatchOptions
{
    /// <summary>The exact path, e.g. <c>/api/orders</c>.</summary>
    public string? Path { get; set; }

    /// <summary>A path prefix (string prefix, as Istio's <c>uri.prefix</c>), e.g. <c>/api</c>.</summary>
    public string? PathPrefix { get; set; }

    /// <summary>A regular expression (.NET syntax, non-backtracking engine) the whole path must match.</summary>
    public string? PathRegex { get; set; }

    /// <summary>The HTTP method, e.g. <c>GET</c>.</summary>
    public string? Method { get; set; }

    /// <summary>Header conditions keyed by header name (case-insensitive).</summary>
    public Dictionary<string, StringMatchOptions> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Query parameter conditions keyed by parameter name (case-sensitive).</summary>
    public Dictionary<string, StringMatchOptions> QueryParams { get; } = new(StringComparer.Ordinal);
}

/// <summary>A condition on a string value; exactly one of the kinds is set.</summary>
public sealed class StringMatchOptions
{
    /// <summary>The value equals this.</summary>
    public string? Exact { get; set; }

    /// <summary>The value starts with this.</summary>
    public string? Prefix { get; set; }

    /// <summary>The value ends with this.</summary>
    public string? Suffix { get; set; }

    /// <summary>The whole value matches this regular expression.</summary>
    public string? Regex { get; set; }

    /// <summary><see langword="true"/>: the value is present, whatever it is.</summary>
    public bool? Present { get; set; }

    /// <summary><see langword="true"/>: the value is absent.</summary>
    public bool? Absent { get; set; }

    /// <summary>Compare <see cref="Exact"/>, <see cref="Prefix"/>, <see cref="Suffix"/> and <see cref="Regex"/> ignoring case.</summary>
    public bool IgnoreCase { get; set; }
}

/// <summary>A weighted destination: a subset of this service, another service, a subset of another service, or a named cluster.</summary>
public sealed class DestinationOptions
{
    /// <summary>A cluster of <see cref="MeshOptions.Clusters"/>; excludes <see cref="Host"/> and <see cref="Subset"/>.</summary>
    public string? Cluster { get; set; }

    /// <summary>The service to send to; defaults to the service that owns the route.</summary>
    public string? Host { get; set; }

    /// <summary>A subset of <see cref="Host"/>; omitted means all its endpoints.</summary>
    public string? Subset { get; set; }

    /// <summary>Relative weight; omit on every destination of a route for an equal split.</summary>
    public int? Weight { get; set; }
}

/// <summary>Load-balancing settings (Istio DestinationRule <c>trafficPolicy.loadBalancer</c>).</summary>
public sealed class LoadBalancerOptions
{
    /// <summary>The policy name: RoundRobin (default), Random, WeightedRoundRobin, WeightedRandom, LeastRequest, RingHash, Maglev, or a custom registered one.</summary>
    public string? Policy { get; set; }

    /// <summary>The hash key for RingHash and Maglev.</summary>
    public ConsistentHashOptions? ConsistentHash { get; set; }
}

/// <summary>What a consistent-hash policy hashes, and its table sizes.</summary>
public sealed class ConsistentHashOptions
{
    /// <summary>Hash the value of this request header.</summary>
    public string? HttpHeaderName { get; set; }

    /// <summary>Hash the value of this cookie.</summary>
    public string? HttpCookieName { get; set; }

    /// <summary>Hash the value of this query parameter.</summary>
    public string? HttpQueryParameterName { get; set; }

    /// <summary>RingHash: the minimum number of ring entries (Envoy default 1024).</summary>
    public int MinimumRingSize { get; set; } = LoadBalancing.LoadBalancingDefaults.MinimumRingSize;

    /// <summary>RingHash: the maximum number of ring entries (Envoy default 8M).</summary>
    public int MaximumRingSize { get; set; } = LoadBalancing.LoadBalancingDefaults.MaximumRingSize;

    /// <summary>Maglev: the lookup table size, a prime (Envoy default 65537).</summary>
    public int TableSize { get; set; } = LoadBalancing.LoadBalancingDefaults.MaglevTableSize;
}

/// <summary>
/// How a client secures connections to a cluster's endpoints (Istio DestinationRule <c>trafficPolicy.tls</c>;
/// xDS <c>UpstreamTlsContext</c>). The server's certificate must be an X509-SVID that chains to the workload's
/// trust bundle; with <see cref="TlsMode.Mutual"/> the client presents its workload certificate too. A cluster
/// with TLS never falls back to plaintext.
/// </summary>
public sealed class TlsOptions
{
    /// <summary>Plaintext, TLS, or mutual TLS. Default <see cref="TlsMode.Disable"/>.</summary>
    public TlsMode Mode { get; set; } = TlsMode.Disable;

    /// <summary>
    /// The server must have a subject alternative name (SPIFFE ID, DNS name or IP address) that matches one of these,
    /// e.g. <c>{ "Exact": "spiffe://cluster.local/ns/shop/sa/backend" }</c>. Any server of the trust bundle when empty.
    /// </summary>
    public List<StringMatchOptions> SubjectAltNames { get; } = [];

    /// <summary>The server name sent in the TLS handshake (SNI). The endpoint's host when omitted.</summary>
    public string? Sni { get; set; }
}

/// <summary>The TLS modes of a client (Istio's <c>DISABLE</c>, <c>SIMPLE</c> and <c>ISTIO_MUTUAL</c>).</summary>
public enum TlsMode
{
    /// <summary>Plaintext.</summary>
    Disable,

    /// <summary>TLS: the server is authenticated, the client is not.</summary>
    Simple,

    /// <summary>Mutual TLS with the workload's certificate: both sides are authenticated.</summary>
    Mutual,
}
