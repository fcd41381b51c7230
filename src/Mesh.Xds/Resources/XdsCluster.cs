namespace Mesh.Xds.Resources;

/// <summary>How a cluster's endpoints are found.</summary>
internal enum XdsClusterDiscovery
{
    /// <summary><c>EDS</c>: a <c>ClusterLoadAssignment</c> named <see cref="XdsCluster.EdsServiceName"/> is fetched over ADS.</summary>
    Eds,

    /// <summary><c>STATIC</c>: the endpoints are in the cluster's <c>load_assignment</c>.</summary>
    Static,

    /// <summary><c>LOGICAL_DNS</c> (gRFC A37): one host name, resolved when connecting.</summary>
    LogicalDns,
}

/// <summary>The load-balancing policies the mesh maps xDS policies to.</summary>
internal enum XdsLbPolicy
{
    /// <summary><c>ROUND_ROBIN</c>, <c>round_robin</c>, <c>client_side_weighted_round_robin</c> (without load reports).</summary>
    RoundRobin,

    /// <summary><c>LEAST_REQUEST</c>, <c>least_request</c>.</summary>
    LeastRequest,

    /// <summary><c>RANDOM</c>, <c>random</c>.</summary>
    Random,

    /// <summary><c>RING_HASH</c>, <c>ring_hash</c>.</summary>
    RingHash,

    /// <summary><c>MAGLEV</c>, <c>maglev</c>.</summary>
    Maglev,
}

/// <summary>A validated load-balancing configuration.</summary>
/// <param name="Policy">The policy.</param>
/// <param name="MinimumRingSize">Ring hash: the minimum ring size (1 to 8388608).</param>
/// <param name="MaximumRingSize">Ring hash: the maximum ring size (at least the minimum, at most 8388608).</param>
/// <param name="MaglevTableSize">Maglev: the table size, a prime no larger than 5000011.</param>
internal sealed record XdsLoadBalancing(XdsLbPolicy Policy, int MinimumRingSize, int MaximumRingSize, int MaglevTableSize)
{
    /// <summary>Envoy's defaults for each size.</summary>
    public static XdsLoadBalancing For(XdsLbPolicy policy) => new(policy, 1024, 8 * 1024 * 1024, 65537);
}

/// <summary>The circuit-breaking thresholds of the <c>DEFAULT</c> priority; unset fields keep the mesh's defaults.</summary>
internal sealed record XdsCircuitBreakers(int? MaxRequests, int? MaxPendingRequests, int? MaxRetries, double? RetryBudgetPercent, int? MinRetryConcurrency);

/// <summary>Validated outlier detection with Envoy's defaults filled in (Envoy's semantics: the mesh is an HTTP data plane).</summary>
internal sealed record XdsOutlierDetection(
    int Consecutive5xx,
    int EnforcingConsecutive5xx,
    int ConsecutiveGatewayFailure,
    int EnforcingConsecutiveGatewayFailure,
    TimeSpan Interval,
    TimeSpan BaseEjectionTime,
    TimeSpan MaxEjectionTime,
    int MaxEjectionPercent,
    int EnforcingSuccessRate,
    int SuccessRateMinimumHosts,
    int SuccessRateRequestVolume,
    double SuccessRateStdevFactor,
    int EnforcingFailurePercentage,
    int FailurePercentageThreshold,
    int FailurePercentageMinimumHosts,
    int FailurePercentageRequestVolume,
    int? HealthyPanicThreshold);

/// <summary>A validated <c>UpstreamTlsContext</c> (gRFC A29).</summary>
/// <param name="Mutual">Whether the client presents a certificate (<c>tls_certificate_provider_instance</c> is set).</param>
/// <param name="CertificateInstance">The certificate provider instance of the client's certificate, when mutual.</param>
/// <param name="CaInstance">The certificate provider instance whose CA certificates validate the server.</param>
/// <param name="SubjectAltNames">The server must have a subject alternative name matching one of these; empty accepts any.</param>
/// <param name="Sni">The SNI to send, or <see langword="null"/> for the endpoint's host.</param>
internal sealed record XdsClusterTls(bool Mutual, string? CertificateInstance, string CaInstance, System.Collections.Immutable.ImmutableArray<XdsStringMatch> SubjectAltNames, string? Sni)
{
    /// <inheritdoc />
    public bool Equals(XdsClusterTls? other)
        => other is not null && Mutual == other.Mutual && CertificateInstance == other.CertificateInstance && CaInstance == other.CaInstance
           && Sni == other.Sni && SubjectAltNames.SequenceEqual(other.SubjectAltNames);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Mutual, CertificateInstance, CaInstance, Sni, SubjectAltNames.Length);
}

/// <summary>A validated <c>Cluster</c>.</summary>
/// <param name="Name">The cluster name, e.g. <c>outbound|8080|v1|backend.shop.svc.cluster.local</c>.</param>
/// <param name="Discovery">How its endpoints are found.</param>
/// <param name="EdsServiceName">For EDS: the <c>ClusterLoadAssignment</c> to fetch (<c>service_name</c>, else the cluster name).</param>
/// <param name="Endpoints">For STATIC and LOGICAL_DNS: the endpoints of <c>load_assignment</c>.</param>
/// <param name="LoadBalancing">The load-balancing policy.</param>
/// <param name="CircuitBreakers">The circuit-breaking thresholds, or <see langword="null"/> for the mesh's defaults.</param>
/// <param name="OutlierDetection">Outlier detection, or <see langword="null"/> when off.</param>
internal sealed record XdsCluster(
    string Name,
    XdsClusterDiscovery Discovery,
    string? EdsServiceName,
    XdsEndpoints? Endpoints,
    XdsLoadBalancing LoadBalancing,
    XdsCircuitBreakers? CircuitBreakers,
    XdsOutlierDetection? OutlierDetection)
{
    /// <summary>TLS to the endpoints (gRFC A29), or <see langword="null"/> for plaintext.</summary>
    public XdsClusterTls? Tls { get; init; }
}
