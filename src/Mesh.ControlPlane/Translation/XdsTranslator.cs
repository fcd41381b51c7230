using System.Globalization;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Common.Fault.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Type.Matcher.V3;
using Envoy.Type.V3;
using Google.Protobuf.WellKnownTypes;
using k8s.Models;
using Mesh.ControlPlane.Model;
using Mesh.Xds.Server;
using Endpoint = Envoy.Config.Endpoint.V3.Endpoint;
using LeastRequestConfig = Envoy.Extensions.LoadBalancingPolicies.LeastRequest.V3.LeastRequest;
using RandomConfig = Envoy.Extensions.LoadBalancingPolicies.Random.V3.Random;
using RoundRobinConfig = Envoy.Extensions.LoadBalancingPolicies.RoundRobin.V3.RoundRobin;
using Route = Envoy.Config.Route.V3.Route;

namespace Mesh.ControlPlane.Translation;

/// <summary>The xDS snapshot made from the typed configuration, and what could not be translated exactly.</summary>
/// <param name="Snapshot">The resources: one listener and route configuration per Service port, clusters and assignments.</param>
/// <param name="Errors">Problems that left something out (the object is named); the rest of the snapshot is valid.</param>
/// <param name="Warnings">What was translated differently from Istio, or ignored.</param>
internal sealed record XdsTranslatorResult(XdsResourceSnapshot Snapshot, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings);

/// <summary>
/// Turns Services, EndpointSlices, Pods, WorkloadEntries, VirtualServices and DestinationRules into the xDS resources a
/// proxyless client asks for (DESIGN 4.3): per Service port, the listener <c>NAME.NS.svc.cluster.local:PORT</c> with an
/// RDS route configuration of the same name; clusters <c>outbound|PORT|SUBSET|HOST</c> (EDS over ADS) and their
/// <c>ClusterLoadAssignment</c>s, endpoints grouped by locality. Clusters get an <c>UpstreamTlsContext</c> from their
/// DestinationRule's <c>tls</c> or from auto mTLS (PeerAuthentications), naming the certificate provider instance
/// <see cref="CertificateProviderInstance"/>.
/// </summary>
internal static partial class XdsTranslator
{
    /// <summary>The cluster domain of the fully qualified Service names.</summary>
    public const string ClusterDomain = "svc.cluster.local";

    private const string RouterFilterName = "envoy.filters.http.router";
    private const string FaultFilterName = "envoy.filters.http.fault";

    /// <summary>Istio's default connect timeout.</summary>
    private static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The fully qualified name of a Service.</summary>
    public static string Fqdn(string name, string ns) => $"{name}.{ns}.{ClusterDomain}";

    /// <summary>The cluster name of a Service port and subset (empty for all endpoints).</summary>
    public static string ClusterName(int port, string? subset, string fqdn) =>
        $"outbound|{port.ToString(CultureInfo.InvariantCulture)}|{subset}|{fqdn}";

    /// <summary>
    /// Resolves a host as Istio does: a short name (<c>backend</c>) in <paramref name="ns"/>, <c>backend.demo</c> and
    /// <c>backend.demo.svc</c> completed with the cluster domain, anything longer taken as is.
    /// </summary>
    public static string ResolveHost(string host, string ns)
    {
        var dots = host.Count(static c => c == '.');
        return dots switch
        {
            0 => Fqdn(host, ns),
            1 => $"{host}.{ClusterDomain}",
            2 when host.EndsWith(".svc", StringComparison.Ordinal) => $"{host}.cluster.local",
            _ => host,
        };
    }

    /// <summary>Translates <paramref name="config"/> into a snapshot labelled <paramref name="version"/>.</summary>
    /// <param name="config">The typed configuration.</param>
    /// <param name="version">The snapshot's version.</param>
    /// <param name="trustDomain">The trust domain of the workloads' SPIFFE IDs (the expected server names of auto mTLS).</param>
    /// <param name="rootNamespace">The namespace whose selector-less PeerAuthentication applies to the whole mesh.</param>
    /// <param name="clusterId">The cluster the workloads run in, for the endpoints' telemetry metadata.</param>
    public static XdsTranslatorResult Translate(MeshConfigReadResult config, string version, string trustDomain = DefaultTrustDomain, string rootNamespace = DefaultRootNamespace, string clusterId = DefaultClusterId)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(trustDomain);
        ArgumentException.ThrowIfNullOrEmpty(rootNamespace);
        var context = new XdsTranslationContext(config, trustDomain, rootNamespace, clusterId);
        var listeners = new List<Listener>();
        var routes = new List<RouteConfiguration>();
        var clusters = new List<Cluster>();
        var assignments = new List<ClusterLoadAssignment>();
        foreach (var service in config.Services.OrderBy(static s => s.Namespace, StringComparer.Ordinal).ThenBy(static s => s.Name, StringComparer.Ordinal))
        {
            var fqdn = Fqdn(service.Name, service.Namespace);
            var rule = context.RuleFor(fqdn);
            foreach (var port in service.Value.Spec?.Ports ?? [])
            {
                if (port.Protocol is { } protocol && protocol != "TCP")
                {
                    continue;
                }

                var target = $"{fqdn}:{port.Port.ToString(CultureInfo.InvariantCulture)}";
                var routeConfiguration = BuildRouteConfiguration(context, service, port.Port, fqdn, target);
                routes.Add(routeConfiguration);
                listeners.Add(BuildListener(target, fqdn, HasFault(routeConfiguration)));
                var portPolicy = (rule?.TrafficPolicy ?? TrafficPolicyModel.Empty).ForPort(port.Port);
                var all = context.Endpoints(service, port);
                var allName = ClusterName(port.Port, null, fqdn);
                AddCluster(allName, portPolicy, all, BuildTransportSocket(context, allName, service.Namespace, portPolicy.Tls, all), clusters, assignments);
                foreach (var subset in rule?.Subsets ?? [])
                {
                    var policy = portPolicy.Override(subset.TrafficPolicy?.ForPort(port.Port));
                    var selected = all.Where(e => subset.Labels.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
                    var subsetName = ClusterName(port.Port, subset.Name, fqdn);
                    AddCluster(subsetName, policy, selected, BuildTransportSocket(context, subsetName, service.Namespace, policy.Tls, selected), clusters, assignments);
                }
            }
        }

        foreach (var rule in config.DestinationRules)
        {
            if (!context.ServicesByFqdn.ContainsKey(ResolveHost(rule.Host, rule.Namespace)))
            {
                context.Warnings.Add($"{rule.Origin}: DestinationRule {rule.Namespace}/{rule.Name}: spec.host = {rule.Host}: no Service {ResolveHost(rule.Host, rule.Namespace)}; the rule applies once the Service exists");
            }
        }

        listeners.AddRange(BuildServerListeners(context, config));
        var snapshot = XdsResourceSnapshot.Create(version, listeners, routes, clusters, assignments);
        return new XdsTranslatorResult(snapshot, context.Errors, context.Warnings);
    }

    private static bool HasFault(RouteConfiguration configuration) =>
        configuration.VirtualHosts.Any(static h => h.Routes.Any(static r => r.TypedPerFilterConfig.ContainsKey(FaultFilterName)));

    private static Listener BuildListener(string target, string fqdn, bool fault)
    {
        var manager = new HttpConnectionManager
        {
            StatPrefix = fqdn,
            Rds = new Rds { RouteConfigName = target, ConfigSource = Ads() },
        };
        if (fault)
        {
            // The fault filter must run before the router; its per-route configuration carries each route's fault.
            manager.HttpFilters.Add(new HttpFilter { Name = FaultFilterName, TypedConfig = Any.Pack(new HTTPFault()) });
        }

        manager.HttpFilters.Add(new HttpFilter { Name = RouterFilterName, TypedConfig = Any.Pack(new Router()) });
        return new Listener { Name = target, ApiListener = new ApiListener { ApiListener_ = Any.Pack(manager) } };
    }

    private static ConfigSource Ads() => new() { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 };

    private static RouteConfiguration BuildRouteConfiguration(XdsTranslationContext context, TypedObject<V1Service> service, int port, string fqdn, string target)
    {
        var portText = port.ToString(CultureInfo.InvariantCulture);
        var shortName = $"{service.Name}.{service.Namespace}";
        var host = new VirtualHost
        {
            Name = target,

            // The exact target first: gRPC clients match the target authority, port included.
            Domains = { target, fqdn, $"{shortName}:{portText}", shortName, $"{service.Name}:{portText}", service.Name },
        };
        var virtualService = context.VirtualServiceFor(fqdn);
        if (virtualService is null)
        {
            var action = new RouteAction { Cluster = ClusterName(port, null, fqdn) };
            if (context.HashPolicyFor(new DestinationModel(fqdn, null, port), service.Namespace, fqdn, port) is { } hashPolicy)
            {
                action.HashPolicy.Add(hashPolicy);
            }

            host.Routes.Add(new Route { Name = "default", Match = new RouteMatch { Prefix = string.Empty }, Route_ = action });
        }
        else
        {
            for (var i = 0; i < virtualService.Http.Length; i++)
            {
                AddRoutes(context, virtualService, i, port, fqdn, host);
            }

            if (host.Routes.Count == 0)
            {
                context.Warnings.Add($"{virtualService.Origin}: VirtualService {virtualService.Namespace}/{virtualService.Name}: spec.http: no HTTP route for {target}; requests to it fail (as in Istio)");
            }
        }

        return new RouteConfiguration { Name = target, VirtualHosts = { host } };
    }

    private static void AddRoutes(XdsTranslationContext context, VirtualServiceModel vs, int index, int port, string fqdn, VirtualHost host)
    {
        var http = vs.Http[index];
        var where = $"{vs.Origin}: VirtualService {vs.Namespace}/{vs.Name}: spec.http[{index.ToString(CultureInfo.InvariantCulture)}]";
        var action = new RouteAction();
        var destinations = http.Route.Where(static d => d.Weight is not 0).ToList();
        if (destinations.Count == 0)
        {
            return;
        }

        var clusterNames = new List<string>();
        foreach (var destination in destinations)
        {
            var destinationFqdn = ResolveHost(destination.Destination.Host, vs.Namespace);
            int destinationPort;
            if (destination.Destination.Port is { } given)
            {
                destinationPort = given;
            }
            else if (destinationFqdn == fqdn)
            {
                destinationPort = port;
            }
            else if (context.ServicesByFqdn.TryGetValue(destinationFqdn, out var other) && other.Value.Spec?.Ports is [var only])
            {
                destinationPort = only.Port;
            }
            else
            {
                context.Errors.Add($"{where}.route: destination {destination.Destination.Host} has no port.number and is not a single-port Service: give destination.port.number; this route is left out");
                return;
            }

            if (!context.ServicesByFqdn.ContainsKey(destinationFqdn))
            {
                context.Warnings.Add($"{where}.route: destination host {destination.Destination.Host} ({destinationFqdn}) is not a known Service: requests on this route fail until it exists");
            }
            else if (destination.Destination.Subset is { } subset && context.RuleFor(destinationFqdn)?.Subsets.Any(s => s.Name == subset) != true)
            {
                context.Warnings.Add($"{where}.route: subset {subset} of {destinationFqdn} is not defined by any DestinationRule: requests on this route fail until it is (as in Istio)");
            }

            clusterNames.Add(ClusterName(destinationPort, destination.Destination.Subset, destinationFqdn));
        }

        if (clusterNames.Count == 1)
        {
            action.Cluster = clusterNames[0];
        }
        else
        {
            var weighted = new WeightedCluster();
            for (var i = 0; i < clusterNames.Count; i++)
            {
                weighted.Clusters.Add(new WeightedCluster.Types.ClusterWeight { Name = clusterNames[i], Weight = (uint)(destinations[i].Weight ?? 0) });
            }

            action.WeightedClusters = weighted;
        }

        if (http.Timeout is { } timeout)
        {
            action.Timeout = Duration.FromTimeSpan(timeout);
        }

        if (http.Retries is { Attempts: > 0 } retries)
        {
            action.RetryPolicy = BuildRetryPolicy(retries);
        }

        if (context.HashPolicyFor(destinations[0].Destination, vs.Namespace, fqdn, port) is { } hashPolicy)
        {
            action.HashPolicy.Add(hashPolicy);
        }

        var fault = http.Fault is { } f ? Any.Pack(BuildFault(f)) : null;
        var matches = http.Match.IsDefaultOrEmpty ? [null] : http.Match.Select(static m => (HttpMatchModel?)m).ToList();
        for (var i = 0; i < matches.Count; i++)
        {
            // Istio turns each match of an HTTP route into its own Envoy route with the same action.
            var route = new Route
            {
                Name = http.Name ?? $"{vs.Namespace}/{vs.Name}.http[{index.ToString(CultureInfo.InvariantCulture)}]",
                Match = BuildMatch(matches[i]),
                Route_ = action.Clone(),
            };
            if (fault is not null)
            {
                route.TypedPerFilterConfig[FaultFilterName] = fault;
            }

            host.Routes.Add(route);
        }
    }

    private static RetryPolicy BuildRetryPolicy(RetriesModel retries)
    {
        var policy = new RetryPolicy { NumRetries = (uint)retries.Attempts };
        if (retries.PerTryTimeout is { } perTry)
        {
            policy.PerTryTimeout = Duration.FromTimeSpan(perTry);
        }

        // Istio's default conditions; numbers become retriable status codes.
        var conditions = new List<string>();
        foreach (var part in (retries.RetryOn ?? "connect-failure,refused-stream,unavailable,cancelled,503").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (uint.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            {
                policy.RetriableStatusCodes.Add(code);
                if (!conditions.Contains("retriable-status-codes"))
                {
                    conditions.Add("retriable-status-codes");
                }
            }
            else if (!conditions.Contains(part))
            {
                conditions.Add(part);
            }
        }

        policy.RetryOn = string.Join(',', conditions);
        return policy;
    }

    private static HTTPFault BuildFault(FaultModel fault)
    {
        var result = new HTTPFault();
        if (fault.Delay is { } delay)
        {
            result.Delay = new FaultDelay { FixedDelay = Duration.FromTimeSpan(delay.FixedDelay), Percentage = Percent(delay.Percentage) };
        }

        if (fault.Abort is { } abort)
        {
            result.Abort = new FaultAbort { Percentage = Percent(abort.Percentage) };
            if (abort.GrpcStatus is { } grpc)
            {
                result.Abort.GrpcStatus = (uint)grpc;
            }
            else
            {
                result.Abort.HttpStatus = (uint)(abort.HttpStatus ?? 503);
            }
        }

        return result;
    }

    private static FractionalPercent Percent(double value) =>
        new() { Numerator = (uint)Math.Round(value * 10_000), Denominator = FractionalPercent.Types.DenominatorType.Million };

    private static RouteMatch BuildMatch(HttpMatchModel? match)
    {
        var result = new RouteMatch();
        switch (match?.Uri)
        {
            case { Exact: { } exact }: result.Path = exact; break;
            case { Prefix: { } prefix }: result.Prefix = prefix; break;
            case { Regex: { } regex }: result.SafeRegex = new RegexMatcher { Regex = regex }; break;
            default: result.Prefix = string.Empty; break;
        }

        if (match is null)
        {
            return result;
        }

        foreach (var (name, value) in match.Headers)
        {
            result.Headers.Add(new HeaderMatcher { Name = name, StringMatch = StringMatch(value) });
        }

        if (match.Method is { } method)
        {
            result.Headers.Add(new HeaderMatcher { Name = ":method", StringMatch = StringMatch(method) });
        }

        foreach (var (name, value) in match.QueryParams)
        {
            result.QueryParameters.Add(new QueryParameterMatcher { Name = name, StringMatch = StringMatch(value) });
        }

        return result;
    }

    private static StringMatcher StringMatch(StringMatchModel match) => match switch
    {
        { Exact: { } exact } => new StringMatcher { Exact = exact },
        { Prefix: { } prefix } => new StringMatcher { Prefix = prefix },
        _ => new StringMatcher { SafeRegex = new RegexMatcher { Regex = match.Regex ?? string.Empty } },
    };

    private static void AddCluster(string name, TrafficPolicyModel policy, IReadOnlyList<EndpointInfo> endpoints, TransportSocket? transportSocket, List<Cluster> clusters, List<ClusterLoadAssignment> assignments)
    {
        var cluster = new Cluster
        {
            Name = name,
            Type = Cluster.Types.DiscoveryType.Eds,
            EdsClusterConfig = new Cluster.Types.EdsClusterConfig { EdsConfig = Ads(), ServiceName = name },
            ConnectTimeout = Duration.FromTimeSpan(policy.ConnectionPool?.ConnectTimeout ?? DefaultConnectTimeout),
            TransportSocket = transportSocket,
        };
        ApplyLoadBalancer(cluster, policy.LoadBalancer);
        if (policy.ConnectionPool is { } pool && (pool.MaxRequests ?? pool.MaxPendingRequests ?? pool.MaxRetries) is not null)
        {
            var thresholds = new CircuitBreakers.Types.Thresholds { Priority = RoutingPriority.Default };
            if (pool.MaxRequests is { } maxRequests)
            {
                thresholds.MaxRequests = (uint)maxRequests;
            }

            if (pool.MaxPendingRequests is { } maxPending)
            {
                thresholds.MaxPendingRequests = (uint)maxPending;
            }

            if (pool.MaxRetries is { } maxRetries)
            {
                thresholds.MaxRetries = (uint)maxRetries;
            }

            cluster.CircuitBreakers = new CircuitBreakers { Thresholds = { thresholds } };
        }

        if (policy.OutlierDetection is { } od)
        {
            // As Istio: consecutive 5xx and gateway errors only; success-rate ejection is off.
            var outlier = new OutlierDetection { EnforcingSuccessRate = 0 };
            if (od.Consecutive5xxErrors is { } c5xx)
            {
                outlier.Consecutive5Xx = (uint)c5xx;
                outlier.EnforcingConsecutive5Xx = c5xx > 0 ? 100u : 0u;
            }

            if (od.ConsecutiveGatewayErrors is { } gateway)
            {
                outlier.ConsecutiveGatewayFailure = (uint)gateway;
                outlier.EnforcingConsecutiveGatewayFailure = gateway > 0 ? 100u : 0u;
            }

            if (od.Interval is { } interval)
            {
                outlier.Interval = Duration.FromTimeSpan(interval);
            }

            if (od.BaseEjectionTime is { } baseEjection)
            {
                outlier.BaseEjectionTime = Duration.FromTimeSpan(baseEjection);
            }

            if (od.MaxEjectionPercent is { } maxEjection)
            {
                outlier.MaxEjectionPercent = (uint)maxEjection;
            }

            cluster.OutlierDetection = outlier;
            if (od.MinHealthPercent is { } minHealth)
            {
                cluster.CommonLbConfig = new Cluster.Types.CommonLbConfig { HealthyPanicThreshold = new Percent { Value = minHealth } };
            }
        }

        clusters.Add(cluster);
        assignments.Add(BuildAssignment(name, endpoints));
    }

    private static void ApplyLoadBalancer(Cluster cluster, LoadBalancerModel? lb)
    {
        if (lb?.ConsistentHash is { } hash)
        {
            if (hash.Maglev)
            {
                cluster.LbPolicy = Cluster.Types.LbPolicy.Maglev;
                if (hash.MaglevTableSize is { } size)
                {
                    cluster.MaglevLbConfig = new Cluster.Types.MaglevLbConfig { TableSize = (ulong)size };
                }
            }
            else
            {
                cluster.LbPolicy = Cluster.Types.LbPolicy.RingHash;
                cluster.RingHashLbConfig = new Cluster.Types.RingHashLbConfig { HashFunction = Cluster.Types.RingHashLbConfig.Types.HashFunction.XxHash };
                if (hash.MinimumRingSize is { } ring)
                {
                    cluster.RingHashLbConfig.MinimumRingSize = (ulong)ring;
                }
            }

            return;
        }

        switch (lb?.Simple)
        {
            case SimpleLoadBalancer.LeastRequest:
                // gRPC clients NACK the plain LEAST_REQUEST enum; the typed policy list is the portable form, with round
                // robin as the fallback for a client without least request (the first supported entry wins, gRFC A52).
                cluster.LoadBalancingPolicy = PolicyList(("envoy.load_balancing_policies.least_request", Any.Pack(new LeastRequestConfig())));
                break;
            case SimpleLoadBalancer.Random:
                cluster.LoadBalancingPolicy = PolicyList(("envoy.load_balancing_policies.random", Any.Pack(new RandomConfig())));
                break;
            default:
                cluster.LbPolicy = Cluster.Types.LbPolicy.RoundRobin;
                break;
        }
    }

    private static LoadBalancingPolicy PolicyList((string Name, Any Config) preferred) => new()
    {
        Policies =
        {
            new LoadBalancingPolicy.Types.Policy { TypedExtensionConfig = new TypedExtensionConfig { Name = preferred.Name, TypedConfig = preferred.Config } },
            new LoadBalancingPolicy.Types.Policy { TypedExtensionConfig = new TypedExtensionConfig { Name = "envoy.load_balancing_policies.round_robin", TypedConfig = Any.Pack(new RoundRobinConfig()) } },
        },
    };

    private static ClusterLoadAssignment BuildAssignment(string name, IReadOnlyList<EndpointInfo> endpoints)
    {
        var assignment = new ClusterLoadAssignment { ClusterName = name };
        foreach (var group in endpoints.GroupBy(static e => e.Locality ?? string.Empty, StringComparer.Ordinal).OrderBy(static g => g.Key, StringComparer.Ordinal))
        {
            var parts = group.Key.Split('/');
            var locality = new LocalityLbEndpoints
            {
                Locality = new Locality { Region = parts[0], Zone = parts.Length > 1 ? parts[1] : string.Empty, SubZone = parts.Length > 2 ? parts[2] : string.Empty },
                Priority = 0,
            };
            uint total = 0;
            foreach (var endpoint in group)
            {
                var lbEndpoint = new LbEndpoint
                {
                    Endpoint = new Endpoint { Address = new Address { SocketAddress = new SocketAddress { Address = endpoint.Address, PortValue = (uint)endpoint.Port } } },
                    HealthStatus = HealthStatus.Healthy,
                    LoadBalancingWeight = (uint)endpoint.Weight,
                };
                if (endpoint.Workload is { } workload)
                {
                    // Istio's telemetry metadata: clients label their metrics with the destination workload.
                    lbEndpoint.Metadata = new Metadata { FilterMetadata = { ["istio"] = new Struct { Fields = { ["workload"] = Value.ForString(workload) } } } };
                }

                locality.LbEndpoints.Add(lbEndpoint);
                total += (uint)endpoint.Weight;
            }

            // gRPC clients require a locality weight (gRFC A27 drops localities without one).
            locality.LoadBalancingWeight = total;
            assignment.Endpoints.Add(locality);
        }

        return assignment;
    }
}
