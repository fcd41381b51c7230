using System.Collections.Immutable;
using System.Numerics;
using Mesh.Configuration;
using Mesh.LoadBalancing;

namespace Mesh.Xds.Resources;

/// <summary>What the translation knows of one target: its listener and route configuration, or why it has none.</summary>
/// <param name="Target">The target.</param>
/// <param name="Listener">Its listener, or <see langword="null"/> when it does not exist or never arrived valid.</param>
/// <param name="RouteConfiguration">Its route configuration (RDS or inline), or <see langword="null"/>.</param>
/// <param name="Error">Why the target cannot be routed (the listener or route configuration does not exist or is invalid).</param>
internal sealed record XdsTargetConfig(XdsTarget Target, XdsListener? Listener, XdsRouteConfiguration? RouteConfiguration, string? Error);

/// <summary>What the translation knows of one cluster: the resource and, for EDS, its endpoints; or why it has none.</summary>
/// <param name="Cluster">The cluster, or <see langword="null"/> when it does not exist or never arrived valid.</param>
/// <param name="Endpoints">For EDS clusters: the assignment, or <see langword="null"/> when it does not exist.</param>
/// <param name="Error">Why the cluster or its endpoints are missing, for the warning.</param>
internal sealed record XdsClusterConfig(XdsCluster? Cluster, XdsEndpoints? Endpoints, string? Error);

/// <summary>The result of a translation: options for <see cref="MeshState"/> and what could not be translated exactly.</summary>
internal sealed record XdsTranslation(MeshOptions Options, IReadOnlyList<string> Warnings);

/// <summary>
/// Turns a complete xDS configuration (per target: listener → route configuration → virtual host → clusters →
/// endpoints) into <see cref="MeshOptions"/>: one service per target, keyed by the target's host; one named cluster
/// per referenced xDS cluster.
/// </summary>
/// <remarks>
/// Decisions where xDS and the model differ:
/// <list type="bullet">
/// <item>A target without a usable listener, route configuration or matching virtual host, a route whose action is
/// not forwarding, and a virtual host without routes, all send to <see cref="UnavailableCluster"/>, an empty cluster:
/// requests fail (as gRPC fails RPCs) instead of bypassing the mesh. A cluster that does not exist is an empty
/// cluster of its own name, so only the routes to it fail (gRFC A74).</item>
/// <item>Timeouts: the smallest of <c>RouteAction.timeout</c> and the stream limit (<c>grpc_timeout_header_max</c>
/// when present, else the route's <c>max_stream_duration</c>, else the listener's), zeros meaning none. Envoy's
/// default <c>timeout</c> of 15 s is not applied: a proxyless client has no proxy-side request timer, and gRPC
/// applies none either; the caller's own timeout still holds.</item>
/// <item>Priorities: the first priority with an endpoint is used (failover at translation; gRPC fails over when a
/// priority cannot connect, which the model cannot express).</item>
/// <item>Weights: an endpoint's weight is its share of its locality times the locality's share (what wrr_locality
/// does: pick a locality by weight, then an endpoint within it), scaled to integers. Round robin and random become
/// their weighted variants only when the weights differ.</item>
/// <item>Hashing: the model keeps the hash key on the cluster, xDS on the route. A ring-hash or Maglev cluster takes
/// the first supported hash policy of the first route that sends to it; another key asked by another route is ignored
/// with a warning. Without any key, gRPC hashes a random value, so the cluster becomes (weighted) random.</item>
/// </list>
/// </remarks>
internal static class XdsMeshTranslator
{
    /// <summary>The empty cluster that failing routes send to.</summary>
    public const string UnavailableCluster = "xds:unavailable";

    /// <summary>The largest weight after scaling; keeps sums of thousands of endpoints within 32 bits.</summary>
    private const double WeightScale = 1_000_000;

    /// <summary>
    /// The virtual host whose domains match <paramref name="authority"/> most specifically (gRFC A28, Envoy): an exact
    /// domain, else the longest suffix wildcard (<c>*.example.com</c>), else the longest prefix wildcard
    /// (<c>example.*</c>), else <c>*</c>; the first virtual host wins a tie. Wildcards match at least one character.
    /// </summary>
    public static XdsVirtualHost? SelectVirtualHost(XdsRouteConfiguration configuration, string authority)
    {
        var host = authority.ToLowerInvariant();
        if (configuration.IgnorePortInHostMatching)
        {
            host = StripPort(host);
        }

        XdsVirtualHost? best = null;
        var bestRank = -1;
        var bestLength = -1;
        foreach (var virtualHost in configuration.VirtualHosts)
        {
            foreach (var domain in virtualHost.Domains)
            {
                int rank;
                if (domain == "*")
                {
                    rank = 0;
                }
                else if (domain[0] == '*')
                {
                    rank = host.Length > domain.Length - 1 && host.EndsWith(domain.AsSpan(1), StringComparison.Ordinal) ? 2 : -1;
                }
                else if (domain[^1] == '*')
                {
                    rank = host.Length > domain.Length - 1 && host.StartsWith(domain.AsSpan(0, domain.Length - 1), StringComparison.Ordinal) ? 1 : -1;
                }
                else
                {
                    rank = domain == host ? 3 : -1;
                }

                if (rank > bestRank || (rank == bestRank && rank >= 0 && domain.Length > bestLength))
                {
                    if (rank == 3)
                    {
                        return virtualHost;
                    }

                    (best, bestRank, bestLength) = (virtualHost, rank, domain.Length);
                }
            }
        }

        return best;
    }

    /// <summary>The clusters the routes of a virtual host send to, in order of first use.</summary>
    public static IReadOnlyList<string> ReferencedClusters(XdsVirtualHost host)
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var route in host.Routes)
        {
            if (route.Action is null)
            {
                continue;
            }

            foreach (var cluster in route.Action.Clusters)
            {
                if (seen.Add(cluster.Name))
                {
                    result.Add(cluster.Name);
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Translates a complete configuration. Every cluster that a selected virtual host references must be in
    /// <paramref name="clusters"/> (with a <see langword="null"/> cluster when it does not exist).
    /// </summary>
    public static XdsTranslation Translate(IReadOnlyList<XdsTargetConfig> targets, IReadOnlyDictionary<string, XdsClusterConfig> clusters)
    {
        var options = new MeshOptions();
        var warnings = new List<string>();
        var hashKeys = new Dictionary<string, (XdsHashPolicy Policy, string Route)>(StringComparer.Ordinal);
        var usedClusters = new List<string>();
        var claimedHosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var target in targets)
        {
            claimedHosts.Add(target.Target.Host);
        }

        foreach (var target in targets)
        {
            if (options.Services.ContainsKey(target.Target.Host))
            {
                warnings.Add($"Target '{target.Target}': another target has the host '{target.Target.Host}'; only the first is used (the mesh keys services by host)");
                continue;
            }

            var service = new ServiceOptions();
            options.Services[target.Target.Host] = service;
            var virtualHost = target.RouteConfiguration is { } configuration ? SelectVirtualHost(configuration, target.Target.Authority) : null;
            if (target.Listener is null || target.RouteConfiguration is null || virtualHost is null)
            {
                var reason = target.Error
                    ?? (target.Listener is null ? "the listener is missing"
                        : target.RouteConfiguration is null ? "the route configuration is missing"
                        : $"no virtual host of route configuration '{target.RouteConfiguration.Name}' matches the authority '{target.Target.Authority}'");
                warnings.Add($"Target '{target.Target}': {reason}; its requests fail until the xDS server provides a valid configuration");
                service.Routes.Add(FailingRoute());
                usedClusters.Add(UnavailableCluster);
                continue;
            }

            AddAliases(service, target.Target.Host, virtualHost, claimedHosts);
            for (var i = 0; i < virtualHost.Routes.Length; i++)
            {
                var route = virtualHost.Routes[i];
                if (route.Match.NeverMatches)
                {
                    continue;
                }

                var routeName = route.Name ?? $"routes[{i}]";
                service.Routes.Add(TranslateRoute(route, routeName, virtualHost, target, usedClusters));
                if (route.Action is { } action)
                {
                    AssignHashKey(action, $"route '{routeName}' of target '{target.Target}'", clusters, hashKeys, warnings);
                }

                if (route.Match.IsCatchAll)
                {
                    // Later routes can never match; the model rejects routes after a catch-all.
                    break;
                }
            }

            if (service.Routes.Count == 0)
            {
                warnings.Add($"Target '{target.Target}': virtual host '{virtualHost.Name}' has no route the mesh can use; its requests fail");
                service.Routes.Add(FailingRoute());
                usedClusters.Add(UnavailableCluster);
            }
        }

        foreach (var name in usedClusters)
        {
            if (options.Clusters.ContainsKey(name))
            {
                continue;
            }

            if (name == UnavailableCluster && !clusters.ContainsKey(name))
            {
                options.Clusters[name] = new ClusterOptions();
                continue;
            }

            options.Clusters[name] = TranslateCluster(name, clusters.GetValueOrDefault(name), hashKeys.TryGetValue(name, out var key) ? key.Policy : null, warnings);
        }

        return new XdsTranslation(options, warnings);
    }

    private static RouteOptions FailingRoute() => new() { Name = "unavailable", Destinations = { new DestinationOptions { Cluster = UnavailableCluster } } };

    /// <summary>The virtual host's exact domains, without ports, become the service's host aliases when nothing else claims them.</summary>
    private static void AddAliases(ServiceOptions service, string key, XdsVirtualHost host, HashSet<string> claimed)
    {
        foreach (var domain in host.Domains)
        {
            if (domain.Contains('*', StringComparison.Ordinal))
            {
                continue;
            }

            var alias = StripPort(domain);
            if (alias.StartsWith('[') || string.Equals(alias, key, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (Uri.CheckHostName(alias) is UriHostNameType.Dns or UriHostNameType.IPv4 && claimed.Add(alias))
            {
                service.Hosts.Add(alias);
            }
        }
    }

    private static string StripPort(string authority)
    {
        var colon = authority.LastIndexOf(':');
        if (colon < 0 || (authority.StartsWith('[') && authority.LastIndexOf(']') > colon))
        {
            return authority;
        }

        var port = authority.AsSpan(colon + 1);
        foreach (var c in port)
        {
            if (!char.IsAsciiDigit(c))
            {
                return authority;
            }
        }

        return authority[..colon];
    }

    private static RouteOptions TranslateRoute(XdsRoute route, string name, XdsVirtualHost host, XdsTargetConfig target, List<string> usedClusters)
    {
        var options = new RouteOptions { Name = name };
        if (!route.Match.IsCatchAll)
        {
            options.Match.Add(TranslateMatch(route.Match));
        }

        if (route.Action is not { } action)
        {
            options.Destinations.Add(new DestinationOptions { Cluster = UnavailableCluster });
            usedClusters.Add(UnavailableCluster);
            return options;
        }

        var weights = ScaleWeights(action.Clusters);
        for (var i = 0; i < action.Clusters.Length; i++)
        {
            var cluster = action.Clusters[i];
            options.Destinations.Add(new DestinationOptions { Cluster = cluster.Name, Weight = action.IsWeighted ? weights[i] : null });
            usedClusters.Add(cluster.Name);
        }

        options.Timeout = Timeout(action, target.Listener!);
        if ((action.RetryPolicy ?? host.RetryPolicy) is { } retry)
        {
            var retries = new RetryOptions
            {
                Attempts = retry.NumRetries,
                PerTryTimeout = retry.PerTryTimeout,
                RetryOn = retry.RetryOn,
                BackoffBaseInterval = retry.BackoffBase,
                BackoffMaxInterval = retry.BackoffMax,
            };
            retries.RetriableStatusCodes.AddRange(retry.RetriableStatusCodes);
            options.Retries = retries;
        }

        options.Fault = Fault(target.Listener!, target.RouteConfiguration!, host, route);
        return options;
    }

    private static RouteMatchOptions TranslateMatch(XdsRouteMatch match)
    {
        var options = new RouteMatchOptions { Method = match.Method };
        switch (match.Path?.Kind)
        {
            case XdsStringMatchKind.Exact:
                options.Path = match.Path.Value;
                break;
            case XdsStringMatchKind.Prefix:
                options.PathPrefix = match.Path.Value;
                break;
            case XdsStringMatchKind.Regex:
                options.PathRegex = match.Path.Value;
                break;
        }

        foreach (var (name, condition) in match.Headers)
        {
            options.Headers[name] = ToStringMatch(condition);
        }

        foreach (var (name, condition) in match.QueryParameters)
        {
            options.QueryParams[name] = ToStringMatch(condition);
        }

        return options;
    }

    /// <summary>
    /// gRFC A29: mutual TLS when the cluster names a certificate, else TLS. Every provider instance stands for the
    /// application's workload identity (<see cref="XdsCertificateProviderNames"/>), so only the mode, names and SNI remain.
    /// </summary>
    private static TlsOptions? Tls(XdsClusterTls? tls)
    {
        if (tls is null)
        {
            return null;
        }

        var options = new TlsOptions { Mode = tls.Mutual ? TlsMode.Mutual : TlsMode.Simple, Sni = tls.Sni };
        foreach (var name in tls.SubjectAltNames)
        {
            options.SubjectAltNames.Add(ToStringMatch(name));
        }

        return options;
    }

    private static StringMatchOptions ToStringMatch(XdsStringMatch match) => match.Kind switch
    {
        XdsStringMatchKind.Exact => new() { Exact = match.Value, IgnoreCase = match.IgnoreCase },
        XdsStringMatchKind.Prefix => new() { Prefix = match.Value, IgnoreCase = match.IgnoreCase },
        XdsStringMatchKind.Suffix => new() { Suffix = match.Value, IgnoreCase = match.IgnoreCase },
        XdsStringMatchKind.Regex => new() { Regex = match.Value, IgnoreCase = match.IgnoreCase },
        XdsStringMatchKind.Present => new() { Present = true },
        _ => new() { Absent = true },
    };

    /// <summary>Cluster weights as the model's <see cref="int"/> weights (their sum fits 32 bits; halved until each fits 31).</summary>
    private static int[] ScaleWeights(ImmutableArray<XdsClusterWeight> clusters)
    {
        var weights = new int[clusters.Length];
        var shift = 0;
        foreach (var cluster in clusters)
        {
            while ((cluster.Weight >> shift) > int.MaxValue)
            {
                shift++;
            }
        }

        for (var i = 0; i < clusters.Length; i++)
        {
            var weight = clusters[i].Weight;
            weights[i] = weight == 0 ? 0 : Math.Max(1, (int)(weight >> shift));
        }

        return weights;
    }

    private static TimeSpan? Timeout(XdsRouteAction action, XdsListener listener)
    {
        // gRFC A31: grpc_timeout_header_max, when present, replaces max_stream_duration; the route's replaces the listener's.
        var stream = action.GrpcTimeoutHeaderMax ?? action.MaxStreamDuration ?? listener.MaxStreamDuration;
        TimeSpan? result = null;
        foreach (var limit in (ReadOnlySpan<TimeSpan?>)[action.Timeout, stream])
        {
            if (limit is { } value && value > TimeSpan.Zero && (result is null || value < result))
            {
                result = value;
            }
        }

        return result;
    }

    /// <summary>gRFC A39: the most specific override of the fault filter (route, virtual host, route configuration), else its own config.</summary>
    private static FaultOptions? Fault(XdsListener listener, XdsRouteConfiguration configuration, XdsVirtualHost host, XdsRoute route)
    {
        if (listener.FaultFilter is not { } filter)
        {
            return null;
        }

        var config = filter.Disabled ? null : filter.Fault;
        if (route.FilterOverrides.TryGetValue(filter.Name, out var o) || host.FilterOverrides.TryGetValue(filter.Name, out o) || configuration.FilterOverrides.TryGetValue(filter.Name, out o))
        {
            config = o.Disabled ? null : o.Fault;
        }

        if (config is not { IsActive: true })
        {
            return null;
        }

        var fault = new FaultOptions();
        if (config.Delay is { } delay && delay > TimeSpan.Zero && config.DelayPercentage > 0)
        {
            fault.Delay = new FaultDelayOptions { FixedDelay = delay, Percentage = config.DelayPercentage };
        }

        if (config.AbortHttpStatus is { } status && config.AbortPercentage > 0)
        {
            fault.Abort = new FaultAbortOptions { HttpStatus = status, GrpcStatus = config.AbortGrpcStatus, Percentage = config.AbortPercentage };
        }

        return fault;
    }

    private static void AssignHashKey(
        XdsRouteAction action,
        string route,
        IReadOnlyDictionary<string, XdsClusterConfig> clusters,
        Dictionary<string, (XdsHashPolicy Policy, string Route)> keys,
        List<string> warnings)
    {
        if (action.HashPolicies.IsEmpty)
        {
            return;
        }

        // The model hashes one value: the first policy (later ones only matter when it yields nothing).
        var policy = action.HashPolicies[0];
        foreach (var weighted in action.Clusters)
        {
            if (clusters.GetValueOrDefault(weighted.Name)?.Cluster?.LoadBalancing.Policy is not (XdsLbPolicy.RingHash or XdsLbPolicy.Maglev))
            {
                continue;
            }

            if (!keys.TryGetValue(weighted.Name, out var existing))
            {
                keys[weighted.Name] = (policy, route);
            }
            else if (existing.Policy.Kind != policy.Kind || !string.Equals(existing.Policy.Name, policy.Name, StringComparison.OrdinalIgnoreCase))
            {
                warnings.Add($"Cluster '{weighted.Name}': {route} hashes on {Describe(policy)}, but {existing.Route} already chose {Describe(existing.Policy)}; the mesh keeps one hash key per cluster, so the first is used");
            }
        }

        static string Describe(XdsHashPolicy p) => $"{p.Kind.ToString().ToLowerInvariant()} '{p.Name}'";
    }

    private static ClusterOptions TranslateCluster(string name, XdsClusterConfig? config, XdsHashPolicy? hashKey, List<string> warnings)
    {
        var options = new ClusterOptions();
        if (config?.Cluster is not { } cluster)
        {
            warnings.Add($"Cluster '{name}': {config?.Error ?? "does not exist"}; requests routed to it fail");
            return options;
        }

        var endpoints = cluster.Discovery == XdsClusterDiscovery.Eds ? config.Endpoints : cluster.Endpoints;
        if (endpoints is null)
        {
            warnings.Add($"Cluster '{name}': its endpoints ('{cluster.EdsServiceName}') {config.Error ?? "do not exist"}; requests routed to it fail");
        }

        var equalWeights = AddEndpoints(options, endpoints);
        options.LoadBalancer = LoadBalancer(cluster.LoadBalancing, hashKey, equalWeights);
        options.Tls = Tls(cluster.Tls);
        if (cluster.CircuitBreakers is { } breakers)
        {
            // Unset thresholds keep the mesh's defaults (Envoy's, except max_retries: unlimited, bounded by the retry budget).
            var pool = new ConnectionPoolOptions();
            pool.MaxRequests = breakers.MaxRequests ?? pool.MaxRequests;
            pool.MaxPendingRequests = breakers.MaxPendingRequests ?? pool.MaxPendingRequests;
            pool.MaxRetries = breakers.MaxRetries ?? pool.MaxRetries;
            pool.RetryBudgetPercent = breakers.RetryBudgetPercent ?? pool.RetryBudgetPercent;
            pool.MinRetryConcurrency = breakers.MinRetryConcurrency ?? pool.MinRetryConcurrency;
            options.ConnectionPool = pool;
        }

        if (cluster.OutlierDetection is { } o)
        {
            options.OutlierDetection = new OutlierDetectionOptions
            {
                Consecutive5xxErrors = o.Consecutive5xx,
                EnforcingConsecutive5xx = o.EnforcingConsecutive5xx,
                ConsecutiveGatewayErrors = o.ConsecutiveGatewayFailure,
                EnforcingConsecutiveGatewayErrors = o.EnforcingConsecutiveGatewayFailure,
                Interval = o.Interval,
                BaseEjectionTime = o.BaseEjectionTime,
                MaxEjectionTime = o.MaxEjectionTime,
                MaxEjectionPercent = o.MaxEjectionPercent,
                EnforcingSuccessRate = o.EnforcingSuccessRate,
                SuccessRateMinimumHosts = o.SuccessRateMinimumHosts,
                SuccessRateRequestVolume = o.SuccessRateRequestVolume,
                SuccessRateStdevFactor = o.SuccessRateStdevFactor,
                EnforcingFailurePercentage = o.EnforcingFailurePercentage,
                FailurePercentageThreshold = o.FailurePercentageThreshold,
                FailurePercentageMinimumHosts = o.FailurePercentageMinimumHosts,
                FailurePercentageRequestVolume = o.FailurePercentageRequestVolume,
                PanicThresholdPercent = o.HealthyPanicThreshold ?? 50,
            };
        }

        return options;
    }

    private static LoadBalancerOptions LoadBalancer(XdsLoadBalancing loadBalancing, XdsHashPolicy? hashKey, bool equalWeights)
    {
        var random = equalWeights ? LoadBalancingDefaults.Random : LoadBalancingDefaults.WeightedRandom;
        switch (loadBalancing.Policy)
        {
            case XdsLbPolicy.RoundRobin:
                return new LoadBalancerOptions { Policy = equalWeights ? LoadBalancingDefaults.RoundRobin : LoadBalancingDefaults.WeightedRoundRobin };
            case XdsLbPolicy.Random:
                return new LoadBalancerOptions { Policy = random };
            case XdsLbPolicy.LeastRequest:
                return new LoadBalancerOptions { Policy = LoadBalancingDefaults.LeastRequest };
            default:
                if (hashKey is null)
                {
                    // gRFC A42: without a hash, each request hashes a random value: a pick in proportion to weight.
                    return new LoadBalancerOptions { Policy = random };
                }

                var hash = new ConsistentHashOptions
                {
                    MinimumRingSize = loadBalancing.MinimumRingSize,
                    MaximumRingSize = loadBalancing.MaximumRingSize,
                    TableSize = loadBalancing.MaglevTableSize,
                };
                switch (hashKey.Kind)
                {
                    case XdsHashPolicyKind.Header:
                        hash.HttpHeaderName = hashKey.Name;
                        break;
                    case XdsHashPolicyKind.Cookie:
                        hash.HttpCookieName = hashKey.Name;
                        break;
                    default:
                        hash.HttpQueryParameterName = hashKey.Name;
                        break;
                }

                var policy = loadBalancing.Policy == XdsLbPolicy.Maglev ? LoadBalancingDefaults.Maglev : LoadBalancingDefaults.RingHash;
                return new LoadBalancerOptions { Policy = policy, ConsistentHash = hash };
        }
    }

    /// <summary>Adds the endpoints of the first priority that has any, weighted; returns whether all weights are equal.</summary>
    private static bool AddEndpoints(ClusterOptions options, XdsEndpoints? endpoints)
    {
        var priority = endpoints?.Priorities.FirstOrDefault(p => p.HasEndpoints);
        if (priority is null)
        {
            return true;
        }

        var members = new List<(XdsLocality Locality, XdsEndpoint Endpoint)>();
        foreach (var locality in priority.Localities)
        {
            foreach (var endpoint in locality.Endpoints)
            {
                members.Add((locality, endpoint));
            }
        }

        var weights = ExactWeights(priority) ?? ApproximateWeights(priority, members.Count);
        var equal = true;
        for (var i = 0; i < members.Count; i++)
        {
            var (locality, endpoint) = members[i];
            equal &= weights[i] == weights[0];
            options.Endpoints.Add(new EndpointOptions
            {
                Address = endpoint.Address,
                Weight = weights[i],
                Locality = locality.Name.Length == 0 ? null : locality.Name,
                Health = endpoint.Health,
                Workload = endpoint.Workload,
            });
        }

        return equal;
    }

    /// <summary>
    /// Integer weights with exactly the shares wrr_locality gives: locality weight / total × endpoint weight / the
    /// locality's endpoint total, brought to a common denominator and reduced; <see langword="null"/> when they do not
    /// fit the model (each an <see cref="int"/>, their sum 32 bits).
    /// </summary>
    private static int[]? ExactWeights(XdsPriority priority)
    {
        BigInteger common = 1;
        foreach (var locality in priority.Localities)
        {
            var total = LocalityTotal(locality);
            if (total > 0)
            {
                common = common / BigInteger.GreatestCommonDivisor(common, total) * total;
            }
        }

        var exact = new List<BigInteger>();
        BigInteger gcd = 0;
        foreach (var locality in priority.Localities)
        {
            var total = LocalityTotal(locality);
            foreach (var endpoint in locality.Endpoints)
            {
                var weight = locality.Weight * (BigInteger)endpoint.Weight * (common / total);
                exact.Add(weight);
                gcd = BigInteger.GreatestCommonDivisor(gcd, weight);
            }
        }

        var result = new int[exact.Count];
        BigInteger sum = 0;
        for (var i = 0; i < exact.Count; i++)
        {
            var weight = exact[i] / gcd;
            sum += weight;
            if (weight > int.MaxValue || sum > uint.MaxValue)
            {
                return null;
            }

            result[i] = (int)weight;
        }

        return result;

        static BigInteger LocalityTotal(XdsLocality locality)
        {
            BigInteger total = 0;
            foreach (var endpoint in locality.Endpoints)
            {
                total += endpoint.Weight;
            }

            return total;
        }
    }

    /// <summary>The same shares in floating point, the largest scaled to at most <see cref="WeightScale"/> (when exact weights do not fit).</summary>
    private static int[] ApproximateWeights(XdsPriority priority, int count)
    {
        double totalLocality = 0;
        foreach (var locality in priority.Localities)
        {
            if (!locality.Endpoints.IsEmpty)
            {
                totalLocality += locality.Weight;
            }
        }

        var shares = new List<double>(count);
        foreach (var locality in priority.Localities)
        {
            double localityTotal = 0;
            foreach (var endpoint in locality.Endpoints)
            {
                localityTotal += endpoint.Weight;
            }

            foreach (var endpoint in locality.Endpoints)
            {
                shares.Add(locality.Weight / totalLocality * endpoint.Weight / localityTotal);
            }
        }

        var scale = Math.Min(WeightScale, Math.Floor(uint.MaxValue / (double)count)) / shares.Max();
        var weights = new int[count];
        for (var i = 0; i < count; i++)
        {
            weights[i] = Math.Max(1, (int)Math.Round(shares[i] * scale));
        }

        return weights;
    }
}
