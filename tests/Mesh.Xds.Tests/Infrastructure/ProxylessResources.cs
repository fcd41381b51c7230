using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Type.Matcher.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Server;

namespace Mesh.Xds.Tests.Interop;

/// <summary>
/// xDS resources for a proxyless client of <c>xds:///greeter.test:50051</c>, named as DESIGN 4.3 says:
/// the listener is the target authority, clusters follow Istio's <c>outbound|PORT|SUBSET|HOST</c>.
/// </summary>
internal static class GreeterResources
{
    public const string Target = "greeter.test:50051";
    public const string RouteName = "greeter.test:50051";

    public static string ClusterName(string subset) => $"outbound|50051|{subset}|greeter.test";

    /// <summary>A snapshot: listener → RDS route configuration → EDS clusters, one per backend (subset = backend name).</summary>
    public static XdsResourceSnapshot Snapshot(string version, IEnumerable<GreeterBackend> backends, params Route[] routes) =>
        XdsResourceSnapshot.Create(
            version,
            listeners: [Listener()],
            routes: [RouteConfiguration(routes)],
            clusters: backends.Select(b => Cluster(ClusterName(b.Name))),
            endpoints: backends.Select(b => Endpoints(ClusterName(b.Name), b.Port)));

    public static Listener Listener() => new()
    {
        Name = Target,
        ApiListener = new ApiListener
        {
            ApiListener_ = Any.Pack(new HttpConnectionManager
            {
                StatPrefix = "greeter",
                Rds = new Rds { RouteConfigName = RouteName, ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 } },
                HttpFilters = { new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) } },
            }),
        },
    };

    public static RouteConfiguration RouteConfiguration(params Route[] routes) => new()
    {
        Name = RouteName,
        VirtualHosts =
        {
            new VirtualHost { Name = "greeter", Domains = { Target, "greeter.test" }, Routes = { routes } },
        },
    };

    /// <summary>A catch-all route splitting by weight between clusters.</summary>
    public static Route Split(params (string Cluster, uint Weight)[] clusters)
    {
        var weighted = new WeightedCluster();
        foreach (var (cluster, weight) in clusters)
        {
            weighted.Clusters.Add(new WeightedCluster.Types.ClusterWeight { Name = cluster, Weight = weight });
        }

        return new Route { Name = "split", Match = new RouteMatch { Prefix = "" }, Route_ = new RouteAction { WeightedClusters = weighted } };
    }

    /// <summary>A catch-all route to one cluster.</summary>
    public static Route To(string cluster) =>
        new() { Name = "default", Match = new RouteMatch { Prefix = "" }, Route_ = new RouteAction { Cluster = cluster } };

    /// <summary>A route taken when the header has exactly the value.</summary>
    public static Route WhenHeader(string header, string value, string cluster) => new()
    {
        Name = $"{header}={value}",
        Match = new RouteMatch { Prefix = "", Headers = { new HeaderMatcher { Name = header, StringMatch = new StringMatcher { Exact = value } } } },
        Route_ = new RouteAction { Cluster = cluster },
    };

    public static Cluster Cluster(string name) => new()
    {
        Name = name,
        Type = Envoy.Config.Cluster.V3.Cluster.Types.DiscoveryType.Eds,
        EdsClusterConfig = new Envoy.Config.Cluster.V3.Cluster.Types.EdsClusterConfig
        {
            EdsConfig = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
            ServiceName = name,
        },
        LbPolicy = Envoy.Config.Cluster.V3.Cluster.Types.LbPolicy.RoundRobin,
        ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
    };

    public static ClusterLoadAssignment Endpoints(string cluster, params int[] ports)
    {
        var locality = new LocalityLbEndpoints { Locality = new Locality { Region = "local", Zone = "zone-a" }, LoadBalancingWeight = 1, Priority = 0 };
        foreach (var port in ports)
        {
            locality.LbEndpoints.Add(new LbEndpoint
            {
                Endpoint = new Endpoint { Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = (uint)port } } },
                HealthStatus = HealthStatus.Healthy,
                LoadBalancingWeight = 1,
            });
        }

        return new ClusterLoadAssignment { ClusterName = cluster, Endpoints = { locality } };
    }
}
