using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Google.Protobuf;
using LoadBalancingDefaults = Mesh.LoadBalancing.LoadBalancingDefaults;
using MaglevPolicy = Mesh.LoadBalancing.MaglevPolicy;
using LeastRequestConfig = Envoy.Extensions.LoadBalancingPolicies.LeastRequest.V3.LeastRequest;
using MaglevConfig = Envoy.Extensions.LoadBalancingPolicies.Maglev.V3.Maglev;
using RingHashConfig = Envoy.Extensions.LoadBalancingPolicies.RingHash.V3.RingHash;
using WrrLocalityConfig = Envoy.Extensions.LoadBalancingPolicies.WrrLocality.V3.WrrLocality;

namespace Mesh.Xds.Resources;

/// <summary>
/// CDS: <c>envoy.config.cluster.v3.Cluster</c>, validated as gRPC does (gRFCs A27, A32, A42, A48, A50, A52) where the
/// mesh can follow, Envoy's semantics elsewhere (outlier detection on 5xx, as the mesh sees HTTP statuses).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Discovery: <c>EDS</c> (over ADS or self) as in gRPC; also <c>STATIC</c> with a <c>load_assignment</c> and
/// <c>LOGICAL_DNS</c> with one host name (gRFC A37), since the model's endpoints are addresses. <c>STRICT_DNS</c>,
/// <c>ORIGINAL_DST</c> and custom types (aggregate clusters) are rejected.</item>
/// <item>Load balancing: <c>load_balancing_policy</c> when set (the first supported policy wins, wrr_locality is
/// unwrapped, at most 16 levels), else <c>lb_policy</c>. <c>client_side_weighted_round_robin</c> is taken as round
/// robin: its weights come from backend load reports (ORCA), which the client does not receive, and without them
/// gRPC's policy spreads requests evenly too.</item>
/// <item>Security (gRFC A29): a <c>transport_socket</c> with an <c>UpstreamTlsContext</c> makes the cluster TLS, or
/// mutual TLS when <c>tls_certificate_provider_instance</c> is set; <c>ca_certificate_provider_instance</c> is required,
/// <c>match_subject_alt_names</c> and <c>sni</c> are kept. Provider instance names must be known
/// (<see cref="XdsCertificateProviderNames"/>); inline certificates, SDS, CRLs, SPKI/hash pinning, signed certificate
/// timestamps and custom validators are rejected. Any transport socket that is neither TLS nor raw_buffer is
/// rejected, so that traffic meant to be encrypted never goes out in plaintext.</item>
/// </list>
/// </remarks>
internal sealed partial class XdsClusterResourceType : XdsResourceType<Cluster>
{
    /// <summary>The type URL of clusters.</summary>
    public const string ClusterTypeUrl = Server.XdsResourceSnapshot.ClusterTypeUrl;

    /// <summary>Envoy's and gRPC's bound on ring sizes (gRFC A42): 8M entries.</summary>
    public const int MaxRingSize = 8 * 1024 * 1024;

    /// <summary>Envoy's bound on the Maglev table size.</summary>
    public const int MaxMaglevTableSize = 5_000_011;

    /// <summary>gRFC A52: deeper load-balancing policy nesting is rejected.</summary>
    private const int MaxPolicyDepth = 16;

    private readonly XdsCertificateProviderNames? _providerNames;

    /// <summary>Creates the type; <paramref name="providerNames"/> are the certificate provider instances clusters may name.</summary>
    /// <param name="providerNames">The known instance names; <see langword="null"/> accepts any name (no bootstrap known).</param>
    public XdsClusterResourceType(XdsCertificateProviderNames? providerNames)
    {
        _providerNames = providerNames;
    }

    /// <summary>
    /// The instance that does not know the bootstrap: it validates everything but the provider instance names, which
    /// all stand for the application's one workload identity. <see cref="XdsResourceTypes.Create"/> checks them too.
    /// </summary>
    public static XdsClusterResourceType Instance { get; } = new(null);

    /// <inheritdoc />
    public override string TypeUrl => ClusterTypeUrl;

    /// <inheritdoc />
    public override string Name => "Cluster";

    /// <inheritdoc />
    public override bool AllResourcesRequiredInSotW => true;

    /// <inheritdoc />
    protected override MessageParser<Cluster> Parser => Cluster.Parser;

    /// <inheritdoc />
    protected override string GetName(Cluster message) => message.Name;

    /// <inheritdoc />
    protected override object? Validate(Cluster message, List<string> errors)
    {
        var (discovery, edsName, endpoints) = ParseDiscovery(message, errors);
        var loadBalancing = message.LoadBalancingPolicy is { Policies.Count: > 0 } policy
            ? ParsePolicyList(policy, "load_balancing_policy", 0, errors)
            : ParseLbPolicy(message, errors);
        var breakers = ParseCircuitBreakers(message.CircuitBreakers, errors);
        var outliers = ParseOutlierDetection(message, errors);
        var tls = ParseTransportSocket(message.TransportSocket, errors);

        if (message.TransportSocketMatches.Count > 0)
        {
            errors.Add("transport_socket_matches: is not supported (gRFC A29); set at most one transport_socket");
        }

        if (message.LrsServer is { } lrs && lrs.ConfigSourceSpecifierCase != ConfigSource.ConfigSourceSpecifierOneofCase.Self)
        {
            errors.Add("lrs_server: must be self (load reports go to the xDS server, gRFC A27); remove it or set lrs_server: { self: {} }");
        }

        return loadBalancing is null ? null : new XdsCluster(message.Name, discovery, edsName, endpoints, loadBalancing, breakers, outliers) { Tls = tls };
    }

    private static (XdsClusterDiscovery Discovery, string? EdsName, XdsEndpoints? Endpoints) ParseDiscovery(Cluster cluster, List<string> errors)
    {
        if (cluster.ClusterDiscoveryTypeCase == Cluster.ClusterDiscoveryTypeOneofCase.ClusterType)
        {
            errors.Add($"cluster_type {XdsFields.Quote(cluster.ClusterType.Name)}: custom cluster types (e.g. aggregate clusters) are not supported; use type: EDS");
            return (XdsClusterDiscovery.Eds, null, null);
        }

        // An unset type is STATIC, as in Envoy.
        var type = cluster.ClusterDiscoveryTypeCase == Cluster.ClusterDiscoveryTypeOneofCase.Type ? cluster.Type : Cluster.Types.DiscoveryType.Static;
        switch (type)
        {
            case Cluster.Types.DiscoveryType.Eds:
                var eds = cluster.EdsClusterConfig;
                if (eds?.EdsConfig is null)
                {
                    errors.Add("eds_cluster_config.eds_config: is not set; set eds_config: { ads: {} } so that endpoints come over ADS");
                }
                else if (eds.EdsConfig.ConfigSourceSpecifierCase is not (ConfigSource.ConfigSourceSpecifierOneofCase.Ads or ConfigSource.ConfigSourceSpecifierOneofCase.Self))
                {
                    errors.Add($"eds_cluster_config.eds_config: is '{eds.EdsConfig.ConfigSourceSpecifierCase}'; it must be ads or self, since the client fetches endpoints on its ADS stream only (gRFC A27)");
                }

                var serviceName = eds?.ServiceName;
                return (XdsClusterDiscovery.Eds, string.IsNullOrEmpty(serviceName) ? cluster.Name : serviceName, null);
            case Cluster.Types.DiscoveryType.Static:
                var assignment = cluster.LoadAssignment is null
                    ? new XdsEndpoints(cluster.Name, [])
                    : XdsEndpointsResourceType.ValidateAssignment(cluster.LoadAssignment, cluster.Name, "load_assignment.", errors);
                return (XdsClusterDiscovery.Static, null, assignment);
            case Cluster.Types.DiscoveryType.LogicalDns:
                return (XdsClusterDiscovery.LogicalDns, null, ParseLogicalDns(cluster, errors));
            default:
                errors.Add($"type = {type}: is not supported; use EDS, STATIC or LOGICAL_DNS");
                return (XdsClusterDiscovery.Eds, null, null);
        }
    }

    /// <summary>gRFC A37: a logical DNS cluster has exactly one locality with exactly one endpoint, a host name and a port.</summary>
    private static XdsEndpoints? ParseLogicalDns(Cluster cluster, List<string> errors)
    {
        var assignment = cluster.LoadAssignment;
        if (assignment is not { Endpoints.Count: 1 } || assignment.Endpoints[0].LbEndpoints.Count != 1)
        {
            errors.Add("load_assignment: a LOGICAL_DNS cluster needs exactly one locality with exactly one lb_endpoint (gRFC A37)");
            return null;
        }

        var endpoint = XdsEndpointsResourceType.ParseSocketAddress(assignment.Endpoints[0].LbEndpoints[0].Endpoint?.Address, "load_assignment.endpoints[0].lb_endpoints[0].endpoint.address", allowHostName: true, errors);
        if (endpoint is null)
        {
            return null;
        }

        var locality = new XdsLocality(string.Empty, string.Empty, string.Empty, 1, [new XdsEndpoint(endpoint.Value.Host, endpoint.Value.Port, 1, Model.EndpointHealth.Unknown)]);
        return new XdsEndpoints(cluster.Name, [new XdsPriority([locality])]);
    }

    private static XdsLoadBalancing? ParseLbPolicy(Cluster cluster, List<string> errors)
    {
        switch (cluster.LbPolicy)
        {
            case Cluster.Types.LbPolicy.RoundRobin:
                return XdsLoadBalancing.For(XdsLbPolicy.RoundRobin);
            case Cluster.Types.LbPolicy.Random:
                return XdsLoadBalancing.For(XdsLbPolicy.Random);
            case Cluster.Types.LbPolicy.LeastRequest:
                CheckChoiceCount(cluster.LeastRequestLbConfig?.ChoiceCount, "least_request_lb_config.choice_count", errors);
                return XdsLoadBalancing.For(XdsLbPolicy.LeastRequest);
            case Cluster.Types.LbPolicy.RingHash:
                var ring = cluster.RingHashLbConfig;
                if (ring is not null && ring.HashFunction != Cluster.Types.RingHashLbConfig.Types.HashFunction.XxHash)
                {
                    errors.Add($"ring_hash_lb_config.hash_function = {ring.HashFunction}: must be XX_HASH (gRFC A42)");
                }

                return RingSizes(ring?.MinimumRingSize, ring?.MaximumRingSize, "ring_hash_lb_config", errors);
            case Cluster.Types.LbPolicy.Maglev:
                return MaglevSize(cluster.MaglevLbConfig?.TableSize, "maglev_lb_config.table_size", errors);
            case Cluster.Types.LbPolicy.LoadBalancingPolicyConfig:
                errors.Add("lb_policy = LOAD_BALANCING_POLICY_CONFIG: load_balancing_policy is not set; set it or choose another lb_policy");
                return null;
            default:
                errors.Add($"lb_policy = {cluster.LbPolicy}: is not supported; use ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM or MAGLEV");
                return null;
        }
    }

    /// <summary>gRFC A52: the first policy of the list the client supports, descending into wrr_locality.</summary>
    private static XdsLoadBalancing? ParsePolicyList(LoadBalancingPolicy list, string path, int depth, List<string> errors)
    {
        if (depth > MaxPolicyDepth)
        {
            errors.Add($"{path}: policies are nested more than {XdsFields.Format(MaxPolicyDepth)} levels deep (gRFC A52)");
            return null;
        }

        for (var i = 0; i < list.Policies.Count; i++)
        {
            var policyPath = $"{path}.policies[{i}].typed_extension_config";
            var config = list.Policies[i].TypedExtensionConfig?.TypedConfig;
            if (config is null)
            {
                errors.Add($"{policyPath}: has no typed_config; set the policy's configuration, e.g. an envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin");
                return null;
            }

            var configPath = $"{policyPath}.typed_config";
            switch (XdsTypeUrls.MessageType(config.TypeUrl))
            {
                case XdsTypeUrls.RoundRobin:
                case XdsTypeUrls.ClientSideWeightedRoundRobin:
                    return XdsLoadBalancing.For(XdsLbPolicy.RoundRobin);
                case XdsTypeUrls.Random:
                    return XdsLoadBalancing.For(XdsLbPolicy.Random);
                case XdsTypeUrls.LeastRequest:
                    if (!XdsFields.TryParse(LeastRequestConfig.Parser, config.Value, configPath, errors, out var leastRequest))
                    {
                        return null;
                    }

                    CheckChoiceCount(leastRequest.ChoiceCount, $"{configPath}.choice_count", errors);
                    return XdsLoadBalancing.For(XdsLbPolicy.LeastRequest);
                case XdsTypeUrls.RingHash:
                    if (!XdsFields.TryParse(RingHashConfig.Parser, config.Value, configPath, errors, out var ringHash))
                    {
                        return null;
                    }

                    if (ringHash.HashFunction is not (RingHashConfig.Types.HashFunction.DefaultHash or RingHashConfig.Types.HashFunction.XxHash))
                    {
                        errors.Add($"{configPath}.hash_function = {ringHash.HashFunction}: must be XX_HASH or DEFAULT_HASH (gRFC A42)");
                    }

                    return RingSizes(ringHash.MinimumRingSize, ringHash.MaximumRingSize, configPath, errors);
                case XdsTypeUrls.Maglev:
                    return XdsFields.TryParse(MaglevConfig.Parser, config.Value, configPath, errors, out var maglev)
                        ? MaglevSize(maglev.TableSize, $"{configPath}.table_size", errors)
                        : null;
                case XdsTypeUrls.WrrLocality:
                    if (!XdsFields.TryParse(WrrLocalityConfig.Parser, config.Value, configPath, errors, out var wrrLocality))
                    {
                        return null;
                    }

                    if (wrrLocality.EndpointPickingPolicy is null)
                    {
                        errors.Add($"{configPath}.endpoint_picking_policy: is not set; set the policy used inside each locality, e.g. round_robin");
                        return null;
                    }

                    // Locality weights are folded into endpoint weights by the translation, which is what wrr_locality does.
                    return ParsePolicyList(wrrLocality.EndpointPickingPolicy, $"{configPath}.endpoint_picking_policy", depth + 1, errors);
                default:
                    // pick_first, custom (TypedStruct) and unknown policies: try the next one.
                    continue;
            }
        }

        errors.Add($"{path}: none of the {XdsFields.Format(list.Policies.Count)} policies is supported; the client supports round_robin, least_request, ring_hash, maglev, random, wrr_locality and client_side_weighted_round_robin");
        return null;
    }

    /// <summary>gRFC A48: choice_count below 2 is rejected. The model always compares two endpoints (larger counts are taken as 2).</summary>
    private static void CheckChoiceCount(uint? choiceCount, string path, List<string> errors)
    {
        if (choiceCount is < 2)
        {
            errors.Add($"{path} = {XdsFields.Format(choiceCount.Value)}: must be at least 2 (gRFC A48)");
        }
    }

    private static XdsLoadBalancing RingSizes(ulong? minimum, ulong? maximum, string path, List<string> errors)
    {
        var min = minimum ?? LoadBalancingDefaults.MinimumRingSize;
        var max = maximum ?? MaxRingSize;
        var valid = true;
        if (min is < 1 or > MaxRingSize)
        {
            errors.Add($"{path}.minimum_ring_size = {XdsFields.Format(min)}: must be between 1 and {XdsFields.Format(MaxRingSize)}");
            valid = false;
        }

        if (max is < 1 or > MaxRingSize)
        {
            errors.Add($"{path}.maximum_ring_size = {XdsFields.Format(max)}: must be between 1 and {XdsFields.Format(MaxRingSize)}");
            valid = false;
        }
        else if (valid && min > max)
        {
            errors.Add($"{path}.minimum_ring_size = {XdsFields.Format(min)}: must not exceed maximum_ring_size ({XdsFields.Format(max)})");
        }

        return new XdsLoadBalancing(XdsLbPolicy.RingHash, XdsFields.Clamp(min), XdsFields.Clamp(max), LoadBalancingDefaults.MaglevTableSize);
    }

    private static XdsLoadBalancing MaglevSize(ulong? tableSize, string path, List<string> errors)
    {
        var size = tableSize ?? LoadBalancingDefaults.MaglevTableSize;
        if (size > MaxMaglevTableSize || !MaglevPolicy.IsPrime((int)size))
        {
            errors.Add($"{path} = {XdsFields.Format(size)}: must be a prime no larger than {XdsFields.Format(MaxMaglevTableSize)}, e.g. 65537 (the default) or 131071");
            size = LoadBalancingDefaults.MaglevTableSize;
        }

        return new XdsLoadBalancing(XdsLbPolicy.Maglev, LoadBalancingDefaults.MinimumRingSize, MaxRingSize, (int)size);
    }

    /// <summary>gRFC A32: the thresholds of the DEFAULT priority; unset values keep the mesh's defaults.</summary>
    private static XdsCircuitBreakers? ParseCircuitBreakers(CircuitBreakers? breakers, List<string> errors)
    {
        if (breakers is null)
        {
            return null;
        }

        for (var i = 0; i < breakers.Thresholds.Count; i++)
        {
            var thresholds = breakers.Thresholds[i];
            if (thresholds.Priority != RoutingPriority.Default)
            {
                continue;
            }

            var path = $"circuit_breakers.thresholds[{i}]";
            if (thresholds.MaxRequests == 0)
            {
                errors.Add($"{path}.max_requests = 0: must be at least 1 (0 would fail every request); omit it for the default of 1024");
            }

            double? budget = null;
            int? minRetryConcurrency = null;
            if (thresholds.RetryBudget is { } retryBudget)
            {
                // Envoy: a retry budget without budget_percent is 20 %.
                budget = retryBudget.BudgetPercent?.Value ?? 20;
                if (budget is < 0 or > 100 || double.IsNaN(budget.Value))
                {
                    errors.Add($"{path}.retry_budget.budget_percent = {XdsFields.Format(budget.Value)}: must be a percentage from 0 to 100");
                }

                minRetryConcurrency = retryBudget.MinRetryConcurrency is { } min ? XdsFields.Clamp(min) : null;
            }

            return new XdsCircuitBreakers(
                thresholds.MaxRequests is { } maxRequests ? XdsFields.Clamp(maxRequests) : null,
                thresholds.MaxPendingRequests is { } maxPending ? XdsFields.Clamp(maxPending) : null,
                thresholds.MaxRetries is { } maxRetries ? XdsFields.Clamp(maxRetries) : null,
                budget,
                minRetryConcurrency);
        }

        return null;
    }

    /// <summary>gRFC A50's validation (valid non-negative durations, percentages at most 100) with Envoy's defaults and semantics.</summary>
    private static XdsOutlierDetection? ParseOutlierDetection(Cluster cluster, List<string> errors)
    {
        if (cluster.OutlierDetection is not { } o)
        {
            return null;
        }

        const string Path = "outlier_detection";
        var interval = Positive(o.Interval, "interval", TimeSpan.FromSeconds(10));
        var baseEjection = Positive(o.BaseEjectionTime, "base_ejection_time", TimeSpan.FromSeconds(30));
        var maxEjection = Positive(o.MaxEjectionTime, "max_ejection_time", TimeSpan.FromSeconds(300));
        var stdevFactor = o.SuccessRateStdevFactor ?? 1900;
        if (stdevFactor == 0)
        {
            errors.Add($"{Path}.success_rate_stdev_factor = 0: must be greater than 0 (it is the factor × 1000, e.g. 1900 for 1.9)");
        }

        int? panic = null;
        if (cluster.CommonLbConfig?.HealthyPanicThreshold is { } threshold)
        {
            if (threshold.Value is < 0 or > 100 || double.IsNaN(threshold.Value))
            {
                errors.Add($"common_lb_config.healthy_panic_threshold = {XdsFields.Format(threshold.Value)}: must be a percentage from 0 to 100");
            }
            else
            {
                panic = (int)Math.Round(threshold.Value);
            }
        }

        return new XdsOutlierDetection(
            Count(o.Consecutive5Xx, 5),
            Percent(o.EnforcingConsecutive5Xx, "enforcing_consecutive_5xx", 100),
            Count(o.ConsecutiveGatewayFailure, 5),
            Percent(o.EnforcingConsecutiveGatewayFailure, "enforcing_consecutive_gateway_failure", 0),
            interval,
            baseEjection,
            maxEjection,
            Percent(o.MaxEjectionPercent, "max_ejection_percent", 10),
            Percent(o.EnforcingSuccessRate, "enforcing_success_rate", 100),
            Count(o.SuccessRateMinimumHosts, 5),
            Count(o.SuccessRateRequestVolume, 100),
            stdevFactor / 1000.0,
            Percent(o.EnforcingFailurePercentage, "enforcing_failure_percentage", 0),
            Percent(o.FailurePercentageThreshold, "failure_percentage_threshold", 85),
            Count(o.FailurePercentageMinimumHosts, 5),
            Count(o.FailurePercentageRequestVolume, 50),
            panic);

        static int Count(uint? value, int fallback) => value is { } v ? XdsFields.Clamp(v) : fallback;

        int Percent(uint? value, string field, int fallback)
        {
            if (value is > 100)
            {
                errors.Add($"{Path}.{field} = {XdsFields.Format(value.Value)}: must be a percentage from 0 to 100 (gRFC A50)");
                return fallback;
            }

            return value is { } v ? (int)v : fallback;
        }

        TimeSpan Positive(Google.Protobuf.WellKnownTypes.Duration? value, string field, TimeSpan fallback)
        {
            var parsed = XdsFields.Duration(value, $"{Path}.{field}", errors);
            if (parsed == TimeSpan.Zero)
            {
                errors.Add($"{Path}.{field} = 0s: must be greater than 0; omit it for Envoy's default of {XdsFields.Format(fallback)}");
            }

            return parsed is { } p && p > TimeSpan.Zero ? p : fallback;
        }
    }
}
