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

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>
/// xDS resources for a proxyless client of <c>xds:///HOST:PORT</c>, named as DESIGN 4.3 says: the
/// listener (and its RDS route configuration) is the target authority, clusters follow Istio's
/// <c>outbound|PORT|SUBSET|HOST</c>, each an EDS cluster of endpoints on 127.0.0.1.
/// </summary>
internal sealed class ProxylessResources(string host, int port)
{
    public string Host { get; } = host;

    public string Target { get; } = $"{host}:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    public string ClusterName(string subset) => $"outbound|{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}|{subset}|{Host}";

    /// <summary>A snapshot: listener → RDS route configuration → one EDS cluster per subset, with its endpoint ports.</summary>
    public XdsResourceSnapshot Snapshot(string version, IEnumerable<(string Subset, int[] Ports)> subsets, params Route[] routes) =>
        XdsResourceSnapshot.Create(
            version,
            listeners: [Listener()],
            routes: [RouteConfiguration(routes)],
            clusters: subsets.Select(s => Cluster(ClusterName(s.Subset))),
            endpoints: subsets.Select(s => Endpoints(ClusterName(s.Subset), s.Ports)));

    public Listener Listener() => new()
    {
        Name = Target,
        ApiListener = new ApiListener
        {
            ApiListener_ = Any.Pack(new HttpConnectionManager
            {
                StatPrefix = Host,
                Rds = new Rds { RouteConfigName = Target, ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 } },
                HttpFilters = { new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) } },
            }),
        },
    };

    public RouteConfiguration RouteConfiguration(params Route[] routes) => new()
    {
        Name = Target,
        VirtualHosts =
        {
            new VirtualHost { Name = Host, Domains = { Target, Host }, Routes = { routes } },
        },
    };

    /// <summary>A catch-all route splitting by weight between subsets' clusters.</summary>
    public Route Split(params (string Subset, uint Weight)[] subsets)
    {
        var weighted = new WeightedCluster();
        foreach (var (subset, weight) in subsets)
        {
            weighted.Clusters.Add(new WeightedCluster.Types.ClusterWeight { Name = ClusterName(subset), Weight = weight });
        }

        return new Route { Name = "split", Match = new RouteMatch { Prefix = "" }, Route_ = new RouteAction { WeightedClusters = weighted } };
    }

    /// <summary>A catch-all route to one subset's cluster.</summary>
    public Route To(string subset) =>
        new() { Name = "default", Match = new RouteMatch { Prefix = "" }, Route_ = new RouteAction { Cluster = ClusterName(subset) } };

    /// <summary>A route taken when the header has exactly the value.</summary>
    public Route WhenHeader(string header, string value, string subset) => new()
    {
        Name = $"{header}={value}",
        Match = new RouteMatch { Prefix = "", Headers = { new HeaderMatcher { Name = header, StringMatch = new StringMatcher { Exact = value } } } },
        Route_ = new RouteAction { Cluster = ClusterName(subset) },
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
        foreach (var endpointPort in ports)
        {
            locality.LbEndpoints.Add(new LbEndpoint
            {
                Endpoint = new Endpoint { Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = (uint)endpointPort } } },
                HealthStatus = HealthStatus.Healthy,
                LoadBalancingWeight = 1,
            });
        }

        return new ClusterLoadAssignment { ClusterName = cluster, Endpoints = { locality } };
    }
}
