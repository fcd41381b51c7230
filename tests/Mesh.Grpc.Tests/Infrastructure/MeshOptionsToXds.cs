using System.Globalization;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Type.Matcher.V3;
using Envoy.Type.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Xds.Server;
using Mesh.Xds.Tests.Infrastructure;
using EnvoyCluster = Envoy.Config.Cluster.V3.Cluster;
using EnvoyOutlierDetection = Envoy.Config.Cluster.V3.OutlierDetection;
using EnvoyRetryPolicy = Envoy.Config.Route.V3.RetryPolicy;
using EnvoyRoute = Envoy.Config.Route.V3.Route;
using EnvoyRouteMatch = Envoy.Config.Route.V3.RouteMatch;
using EnvoyStringMatcher = Envoy.Type.Matcher.V3.StringMatcher;
using FaultDelay = Envoy.Extensions.Filters.Common.Fault.V3.FaultDelay;

namespace Mesh.Grpc.Tests.Infrastructure;

/// <summary>
/// Turns the <see cref="MeshOptions"/> of a test (the service of one target host, its routes and the clusters they
/// use) into the xDS resources an xDS server gives a proxyless client of <c>xds:///HOST:PORT</c>, such that the
/// client's translation (xDS → MeshOptions) gives back an equivalent mesh:
/// <list type="bullet">
/// <item>LDS: an <c>api_listener</c> named after the target, whose HttpConnectionManager names an RDS route
/// configuration of the same name (or carries it inline), with the fault filter before the router.</item>
/// <item>RDS: one virtual host for the target and the service's aliases; each route's match, its cluster or
/// <c>weighted_clusters</c>, <c>max_stream_duration</c> (the route's total timeout), <c>retry_policy</c>, hash policy
/// (for ring hash and Maglev clusters) and the fault as the fault filter's per-route override.</item>
/// <item>CDS: an EDS cluster per named cluster with the same name, its <c>lb_policy</c>, <c>circuit_breakers</c> and
/// <c>outlier_detection</c>; EDS: its endpoints, one locality per distinct <c>Locality</c> weighing the sum of its
/// endpoints' weights (so each endpoint keeps its share), all weights 1 under plain round robin and random, which
/// ignore them.</item>
/// </list>
/// A destination on the service's own endpoints (or a subset of them, or another service) becomes a cluster named as
/// Istio names it (<c>outbound|PORT|SUBSET|HOST</c>), since xDS routes only to clusters; <see cref="Normalize"/> gives
/// the options in that form, which is what the client ends up with. What xDS cannot express (hedging, rate limits,
/// error-rate and slow-call breakers, absent query parameters, TLS endpoints) throws <see cref="NotSupportedException"/>.
/// </summary>
internal static class MeshOptionsToXds
{
    /// <summary>The name of the fault filter in the listener's chain, the key of its per-route overrides.</summary>
    public const string FaultFilterName = "envoy.filters.http.fault";

    private static readonly ConfigSource Ads = new() { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 };

    /// <summary>
    /// The options as the client will see them after the xDS round trip: only the target's service, every destination
    /// a named cluster, a route per match alternative (an xDS route has one match), every route named.
    /// </summary>
    public static MeshOptions Normalize(MeshOptions options, string target)
    {
        var (host, port) = SplitTarget(target);
        if (!options.Services.TryGetValue(host, out var service))
        {
            throw new NotSupportedException($"The options have no service '{host}' for the target '{target}'.");
        }

        Unsupported(service.RateLimit is not null, $"Services['{host}'].RateLimit: xDS has no client-side local rate limit");
        Unsupported(service.CircuitBreaker is not null, $"Services['{host}'].CircuitBreaker: xDS has no error-rate circuit breaker (only circuit_breakers thresholds)");
        Unsupported(service.SlowCallBreaker is not null, $"Services['{host}'].SlowCallBreaker: xDS has no slow-call circuit breaker");
        var result = new MeshOptions();
        var normalized = new ServiceOptions();
        normalized.Hosts.AddRange(service.Hosts);
        result.Services[host] = normalized;
        var routes = service.Routes.Count > 0
            ? service.Routes
            : [new RouteOptions { Destinations = { new DestinationOptions() } }];
        for (var i = 0; i < routes.Count; i++)
        {
            var route = routes[i];
            var path = $"Services['{host}'].Routes[{i.ToString(CultureInfo.InvariantCulture)}]";
            Unsupported(route.Hedging is not null, $"{path}.Hedging: gRPC's xDS has no hedging policy");
            Unsupported(route.RateLimit is not null, $"{path}.RateLimit: xDS has no client-side local rate limit");
            var name = route.Name ?? $"routes[{i.ToString(CultureInfo.InvariantCulture)}]";
            var destinations = route.Destinations.Select(d => new DestinationOptions
            {
                Cluster = ClusterFor(options, result, d, host, port, path),
                Weight = d.Weight,
            }).ToList();
            var alternatives = route.Match.Count <= 1 ? [route.Match.FirstOrDefault()] : route.Match.Cast<RouteMatchOptions?>().ToList();
            for (var j = 0; j < alternatives.Count; j++)
            {
                var copy = new RouteOptions
                {
                    Name = alternatives.Count == 1 ? name : $"{name}/match[{j.ToString(CultureInfo.InvariantCulture)}]",
                    Timeout = route.Timeout,
                    Retries = route.Retries,
                    Fault = route.Fault,
                };
                if (alternatives[j] is { } match)
                {
                    copy.Match.Add(match);
                }

                copy.Destinations.AddRange(destinations.Select(d => new DestinationOptions { Cluster = d.Cluster, Weight = d.Weight }));
                normalized.Routes.Add(copy);
            }
        }

        return result;
    }

    /// <summary>
    /// The xDS snapshot of <paramref name="options"/> for <paramref name="target"/> (<c>host:port</c>), labelled
    /// <paramref name="version"/>; route configuration inline in the listener when <paramref name="inlineRoutes"/>.
    /// </summary>
    public static XdsResourceSnapshot ToSnapshot(MeshOptions options, string target, string version, bool inlineRoutes = false)
    {
        var (host, _) = SplitTarget(target);
        var normalized = Normalize(options, target);
        var routeConfiguration = RouteConfiguration(normalized, target, host);
        var builder = XdsResourceSnapshot.CreateBuilder(version).Add(Listener(target, host, inlineRoutes ? routeConfiguration : null));
        if (!inlineRoutes)
        {
            builder.Add(routeConfiguration);
        }

        // Empty sets still count as this version's state of the world for their types.
        builder.AddType(XdsResourceSnapshot.RouteConfigurationTypeUrl).AddType(XdsResourceSnapshot.ClusterTypeUrl).AddType(XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl);
        foreach (var (name, cluster) in normalized.Clusters)
        {
            builder.Add(Cluster(name, cluster));
            builder.Add(Endpoints(name, cluster));
        }

        return builder.Build();
    }

    public static Listener Listener(string target, string host, RouteConfiguration? inline)
    {
        var manager = new HttpConnectionManager
        {
            StatPrefix = host,
            HttpFilters =
            {
                // Without overrides the fault filter does nothing; routes with a fault override it.
                new HttpFilter { Name = FaultFilterName, TypedConfig = Any.Pack(new HTTPFault()) },
                new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) },
            },
        };
        if (inline is null)
        {
            manager.Rds = new Rds { RouteConfigName = target, ConfigSource = Ads };
        }
        else
        {
            manager.RouteConfig = inline;
        }

        return new Listener { Name = target, ApiListener = new ApiListener { ApiListener_ = Any.Pack(manager) } };
    }

    private static RouteConfiguration RouteConfiguration(MeshOptions normalized, string target, string host)
    {
        var service = normalized.Services[host];
        var virtualHost = new VirtualHost { Name = host, Domains = { target, host } };
        foreach (var alias in service.Hosts)
        {
            if (!virtualHost.Domains.Contains(alias, StringComparer.OrdinalIgnoreCase))
            {
                virtualHost.Domains.Add(alias);
            }
        }

        foreach (var route in service.Routes)
        {
            virtualHost.Routes.Add(Route(route, normalized));
        }

        return new RouteConfiguration { Name = target, VirtualHosts = { virtualHost } };
    }

    private static EnvoyRoute Route(RouteOptions route, MeshOptions normalized)
    {
        var action = new RouteAction();
        if (route.Destinations.Count == 1 && route.Destinations[0].Weight is null)
        {
            action.Cluster = route.Destinations[0].Cluster;
        }
        else
        {
            var weighted = new WeightedCluster();
            foreach (var destination in route.Destinations)
            {
                weighted.Clusters.Add(new WeightedCluster.Types.ClusterWeight { Name = destination.Cluster, Weight = (uint)(destination.Weight ?? 1) });
            }

            action.WeightedClusters = weighted;
        }

        if (route.Timeout is { } timeout)
        {
            // gRPC's per-route deadline (gRFC A31); the client takes the smaller of it and RouteAction.timeout.
            action.MaxStreamDuration = new RouteAction.Types.MaxStreamDuration { MaxStreamDuration_ = Duration.FromTimeSpan(timeout) };
        }

        if (route.Retries is { Attempts: > 0 } retries)
        {
            action.RetryPolicy = RetryPolicy(retries);
        }

        foreach (var destination in route.Destinations)
        {
            if (normalized.Clusters[destination.Cluster!].LoadBalancer?.ConsistentHash is { } hash
                && normalized.Clusters[destination.Cluster!].LoadBalancer?.Policy is { } policy
                && (IsPolicy(policy, LoadBalancingDefaults.RingHash) || IsPolicy(policy, LoadBalancingDefaults.Maglev)))
            {
                // xDS keeps the hash key on the route; the client moves it back to the cluster.
                action.HashPolicy.Add(HashPolicy(hash));
                break;
            }
        }

        var result = new EnvoyRoute { Name = route.Name, Match = Match(route.Match.FirstOrDefault()), Route_ = action };
        if (route.Fault is { } fault && (fault.Abort is not null || fault.Delay is not null))
        {
            result.TypedPerFilterConfig[FaultFilterName] = Any.Pack(Fault(fault));
        }

        return result;
    }

    private static EnvoyRouteMatch Match(RouteMatchOptions? match)
    {
        var result = new EnvoyRouteMatch();
        if (match is null)
        {
            result.Prefix = string.Empty;
            return result;
        }

        if (match.Path is { } exact)
        {
            result.Path = exact;
        }
        else if (match.PathPrefix is { } prefix)
        {
            result.Prefix = prefix;
        }
        else if (match.PathRegex is { } regex)
        {
            result.SafeRegex = new RegexMatcher { Regex = regex };
        }
        else
        {
            result.Prefix = string.Empty;
        }

        if (match.Method is { } method)
        {
            result.Headers.Add(new HeaderMatcher { Name = ":method", StringMatch = new EnvoyStringMatcher { Exact = method } });
        }

        foreach (var (name, condition) in match.Headers)
        {
            var header = new HeaderMatcher { Name = name };
            if (condition.Present is { } present)
            {
                header.PresentMatch = present;
            }
            else if (condition.Absent is { } absent)
            {
                header.PresentMatch = !absent;
            }
            else
            {
                header.StringMatch = StringMatch(condition, $"header '{name}'");
            }

            result.Headers.Add(header);
        }

        foreach (var (name, condition) in match.QueryParams)
        {
            var parameter = new QueryParameterMatcher { Name = name };
            if (condition.Present is true || condition.Absent is false)
            {
                parameter.PresentMatch = true;
            }
            else if (condition.Present is false || condition.Absent is true)
            {
                throw new NotSupportedException($"query parameter '{name}': xDS cannot match an absent query parameter (a missing parameter never matches)");
            }
            else
            {
                parameter.StringMatch = StringMatch(condition, $"query parameter '{name}'");
            }

            result.QueryParameters.Add(parameter);
        }

        return result;
    }

    private static EnvoyStringMatcher StringMatch(StringMatchOptions condition, string what)
    {
        var result = new EnvoyStringMatcher { IgnoreCase = condition.IgnoreCase };
        if (condition.Exact is { } exact)
        {
            result.Exact = exact;
        }
        else if (condition.Prefix is { } prefix)
        {
            result.Prefix = prefix;
        }
        else if (condition.Suffix is { } suffix)
        {
            result.Suffix = suffix;
        }
        else if (condition.Regex is { } regex)
        {
            // ignore_case does not apply to safe_regex: the regex carries it.
            result.IgnoreCase = false;
            result.SafeRegex = new RegexMatcher { Regex = condition.IgnoreCase ? $"(?i:{regex})" : regex };
        }
        else
        {
            throw new NotSupportedException($"{what}: the condition has no value to match");
        }

        return result;
    }

    private static EnvoyRetryPolicy RetryPolicy(RetryOptions retries)
    {
        var policy = new EnvoyRetryPolicy
        {
            RetryOn = retries.RetryOn ?? ResilienceDefaults.RetryOn,
            NumRetries = (uint)retries.Attempts,
        };
        policy.RetriableStatusCodes.AddRange(retries.RetriableStatusCodes.Select(c => (uint)c));
        if (retries.PerTryTimeout is { } perTry)
        {
            policy.PerTryTimeout = Duration.FromTimeSpan(perTry);
        }

        if (retries.BackoffBaseInterval is not null || retries.BackoffMaxInterval is not null)
        {
            // base_interval is required once retry_back_off is set (gRFC A44).
            var backoff = new EnvoyRetryPolicy.Types.RetryBackOff { BaseInterval = Duration.FromTimeSpan(retries.BackoffBaseInterval ?? ResilienceDefaults.BackoffBaseInterval) };
            if (retries.BackoffMaxInterval is { } max)
            {
                backoff.MaxInterval = Duration.FromTimeSpan(max);
            }

            policy.RetryBackOff = backoff;
        }

        return policy;
    }

    private static RouteAction.Types.HashPolicy HashPolicy(ConsistentHashOptions hash)
    {
        if (hash.HttpHeaderName is { } header)
        {
            return new RouteAction.Types.HashPolicy { Header = new RouteAction.Types.HashPolicy.Types.Header { HeaderName = header } };
        }

        if (hash.HttpCookieName is { } cookie)
        {
            return new RouteAction.Types.HashPolicy { Cookie = new RouteAction.Types.HashPolicy.Types.Cookie { Name = cookie } };
        }

        if (hash.HttpQueryParameterName is { } query)
        {
            return new RouteAction.Types.HashPolicy { QueryParameter = new RouteAction.Types.HashPolicy.Types.QueryParameter { Name = query } };
        }

        throw new NotSupportedException("ConsistentHash: names no header, cookie or query parameter to hash");
    }

    private static HTTPFault Fault(FaultOptions fault)
    {
        var result = new HTTPFault();
        if (fault.Delay is { } delay)
        {
            result.Delay = new FaultDelay { FixedDelay = Duration.FromTimeSpan(delay.FixedDelay), Percentage = Percentage(delay.Percentage) };
        }

        if (fault.Abort is { } abort)
        {
            result.Abort = new FaultAbort { Percentage = Percentage(abort.Percentage) };
            if (abort.GrpcStatus is { } grpcStatus)
            {
                result.Abort.GrpcStatus = (uint)grpcStatus;
            }
            else
            {
                result.Abort.HttpStatus = (uint)abort.HttpStatus;
            }
        }

        return result;
    }

    /// <summary>A percentage in millionths, which keeps up to four decimals of the model's double.</summary>
    private static FractionalPercent Percentage(double percent) =>
        new() { Numerator = (uint)Math.Round(Math.Clamp(percent, 0, 100) * 10_000), Denominator = FractionalPercent.Types.DenominatorType.Million };

    private static EnvoyCluster Cluster(string name, ClusterOptions options)
    {
        Unsupported(options.CircuitBreaker is not null, $"Clusters['{name}'].CircuitBreaker: xDS has no error-rate circuit breaker (only circuit_breakers thresholds)");
        Unsupported(options.SlowCallBreaker is not null, $"Clusters['{name}'].SlowCallBreaker: xDS has no slow-call circuit breaker");
        var cluster = ProxylessResources.Cluster(name);
        var policy = options.LoadBalancer?.Policy ?? LoadBalancingDefaults.RoundRobin;
        if (IsPolicy(policy, LoadBalancingDefaults.RoundRobin) || IsPolicy(policy, LoadBalancingDefaults.WeightedRoundRobin))
        {
            // The client picks the weighted variant itself when the endpoints' weights differ.
            cluster.LbPolicy = EnvoyCluster.Types.LbPolicy.RoundRobin;
        }
        else if (IsPolicy(policy, LoadBalancingDefaults.Random) || IsPolicy(policy, LoadBalancingDefaults.WeightedRandom))
        {
            cluster.LbPolicy = EnvoyCluster.Types.LbPolicy.Random;
        }
        else if (IsPolicy(policy, LoadBalancingDefaults.LeastRequest))
        {
            cluster.LbPolicy = EnvoyCluster.Types.LbPolicy.LeastRequest;
        }
        else if (IsPolicy(policy, LoadBalancingDefaults.RingHash))
        {
            var hash = options.LoadBalancer?.ConsistentHash ?? new ConsistentHashOptions();
            cluster.LbPolicy = EnvoyCluster.Types.LbPolicy.RingHash;
            cluster.RingHashLbConfig = new EnvoyCluster.Types.RingHashLbConfig
            {
                MinimumRingSize = (ulong)hash.MinimumRingSize,
                MaximumRingSize = (ulong)hash.MaximumRingSize,
                HashFunction = EnvoyCluster.Types.RingHashLbConfig.Types.HashFunction.XxHash,
            };
        }
        else if (IsPolicy(policy, LoadBalancingDefaults.Maglev))
        {
            var hash = options.LoadBalancer?.ConsistentHash ?? new ConsistentHashOptions();
            cluster.LbPolicy = EnvoyCluster.Types.LbPolicy.Maglev;
            cluster.MaglevLbConfig = new EnvoyCluster.Types.MaglevLbConfig { TableSize = (ulong)hash.TableSize };
        }
        else
        {
            throw new NotSupportedException($"Clusters['{name}'].LoadBalancer.Policy = '{policy}': no xDS lb_policy stands for it");
        }

        if (options.ConnectionPool is { } pool)
        {
            cluster.CircuitBreakers = new CircuitBreakers
            {
                Thresholds =
                {
                    new CircuitBreakers.Types.Thresholds
                    {
                        Priority = RoutingPriority.Default,
                        MaxRequests = (uint)pool.MaxRequests,
                        MaxPendingRequests = (uint)pool.MaxPendingRequests,
                        MaxRetries = (uint)pool.MaxRetries,
                        RetryBudget = new CircuitBreakers.Types.Thresholds.Types.RetryBudget
                        {
                            BudgetPercent = new Percent { Value = pool.RetryBudgetPercent },
                            MinRetryConcurrency = (uint)pool.MinRetryConcurrency,
                        },
                    },
                },
            };
        }

        if (options.OutlierDetection is { } o)
        {
            var detection = new EnvoyOutlierDetection
            {
                Consecutive5Xx = (uint)o.Consecutive5xxErrors,
                EnforcingConsecutive5Xx = (uint)o.EnforcingConsecutive5xx,
                Interval = Duration.FromTimeSpan(o.Interval),
                BaseEjectionTime = Duration.FromTimeSpan(o.BaseEjectionTime),
                MaxEjectionTime = Duration.FromTimeSpan(o.MaxEjectionTime),
                MaxEjectionPercent = (uint)o.MaxEjectionPercent,
                EnforcingSuccessRate = (uint)o.EnforcingSuccessRate,
                SuccessRateMinimumHosts = (uint)o.SuccessRateMinimumHosts,
                SuccessRateRequestVolume = (uint)o.SuccessRateRequestVolume,
                SuccessRateStdevFactor = (uint)Math.Round(o.SuccessRateStdevFactor * 1000),
                EnforcingFailurePercentage = (uint)o.EnforcingFailurePercentage,
                FailurePercentageThreshold = (uint)o.FailurePercentageThreshold,
                FailurePercentageMinimumHosts = (uint)o.FailurePercentageMinimumHosts,
                FailurePercentageRequestVolume = (uint)o.FailurePercentageRequestVolume,
            };
            if (o.ConsecutiveGatewayErrors is { } gateway)
            {
                // The model enforces gateway errors once they are set (Istio); Envoy's enforcing default is 0.
                detection.ConsecutiveGatewayFailure = (uint)gateway;
                detection.EnforcingConsecutiveGatewayFailure = (uint)(o.EnforcingConsecutiveGatewayErrors ?? 100);
            }
            else
            {
                detection.EnforcingConsecutiveGatewayFailure = (uint)(o.EnforcingConsecutiveGatewayErrors ?? 0);
            }

            cluster.OutlierDetection = detection;
            cluster.CommonLbConfig = new EnvoyCluster.Types.CommonLbConfig { HealthyPanicThreshold = new Percent { Value = o.PanicThresholdPercent } };
        }

        return cluster;
    }

    private static ClusterLoadAssignment Endpoints(string name, ClusterOptions options)
    {
        // The model's plain round robin and random ignore endpoint weights, while the client turns weights that differ
        // into their weighted variants (Envoy's ROUND_ROBIN and RANDOM are weighted): equal weights keep them plain.
        var policy = options.LoadBalancer?.Policy ?? LoadBalancingDefaults.RoundRobin;
        var ignoresWeights = IsPolicy(policy, LoadBalancingDefaults.RoundRobin) || IsPolicy(policy, LoadBalancingDefaults.Random);
        int Weight(EndpointOptions endpoint) => ignoresWeights ? 1 : endpoint.Weight;
        var assignment = new ClusterLoadAssignment { ClusterName = name };
        foreach (var group in options.Endpoints.GroupBy(e => e.Locality ?? string.Empty, StringComparer.Ordinal))
        {
            var parts = group.Key.Split('/');
            var locality = new LocalityLbEndpoints
            {
                Locality = new Locality { Region = parts[0], Zone = parts.ElementAtOrDefault(1) ?? string.Empty, SubZone = parts.ElementAtOrDefault(2) ?? string.Empty },

                // The locality's share times the endpoint's share within it is then the endpoint's share of the cluster.
                LoadBalancingWeight = (uint)group.Sum(e => (long)Weight(e)),
                Priority = 0,
            };
            foreach (var endpoint in group)
            {
                var address = new Uri(endpoint.Address ?? throw new NotSupportedException($"Clusters['{name}']: an endpoint has no address"));
                Unsupported(address.Scheme != Uri.UriSchemeHttp, $"Clusters['{name}']: endpoint '{endpoint.Address}' is not plain http (the xDS client rejects TLS clusters)");
                locality.LbEndpoints.Add(new LbEndpoint
                {
                    Endpoint = new Endpoint { Address = new Address { SocketAddress = new SocketAddress { Address = address.Host.Trim('[', ']'), PortValue = (uint)address.Port } } },
                    HealthStatus = endpoint.Health switch
                    {
                        EndpointHealth.Healthy => HealthStatus.Healthy,
                        EndpointHealth.Unknown => HealthStatus.Unknown,
                        EndpointHealth.Draining => HealthStatus.Draining,
                        _ => HealthStatus.Unhealthy,
                    },
                    LoadBalancingWeight = (uint)Weight(endpoint),
                });
            }

            assignment.Endpoints.Add(locality);
        }

        return assignment;
    }

    /// <summary>The named cluster a destination sends to; a service's endpoints (or a subset of them) become one.</summary>
    private static string ClusterFor(MeshOptions source, MeshOptions result, DestinationOptions destination, string host, int port, string path)
    {
        if (destination.Cluster is { } named)
        {
            if (!result.Clusters.ContainsKey(named))
            {
                result.Clusters[named] = source.Clusters.TryGetValue(named, out var cluster)
                    ? cluster
                    : throw new NotSupportedException($"{path}: sends to the cluster '{named}', which the options do not define");
            }

            return named;
        }

        var serviceHost = destination.Host ?? host;
        if (!source.Services.TryGetValue(serviceHost, out var service))
        {
            throw new NotSupportedException($"{path}: sends to the service '{serviceHost}', which the options do not define");
        }

        var subset = destination.Subset ?? string.Empty;
        var name = $"outbound|{port.ToString(CultureInfo.InvariantCulture)}|{subset}|{serviceHost}";
        if (result.Clusters.ContainsKey(name))
        {
            return name;
        }

        Dictionary<string, string>? selector = null;
        if (destination.Subset is not null && !service.Subsets.TryGetValue(destination.Subset, out selector))
        {
            throw new NotSupportedException($"{path}: sends to the subset '{destination.Subset}' of '{serviceHost}', which it does not define");
        }

        var clusterOptions = new ClusterOptions
        {
            LoadBalancer = service.LoadBalancer,
            ConnectionPool = service.ConnectionPool,
            OutlierDetection = service.OutlierDetection,
            CircuitBreaker = service.CircuitBreaker,
            SlowCallBreaker = service.SlowCallBreaker,
        };
        clusterOptions.Endpoints.AddRange(service.Endpoints.Where(e => selector is null || selector.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value)));
        result.Clusters[name] = clusterOptions;
        return name;
    }

    private static (string Host, int Port) SplitTarget(string target)
    {
        var colon = target.LastIndexOf(':');
        return (target[..colon], int.Parse(target.AsSpan(colon + 1), CultureInfo.InvariantCulture));
    }

    private static bool IsPolicy(string policy, string name) => string.Equals(policy, name, StringComparison.OrdinalIgnoreCase);

    private static void Unsupported(bool condition, string message)
    {
        if (condition)
        {
            throw new NotSupportedException(message);
        }
    }
}
