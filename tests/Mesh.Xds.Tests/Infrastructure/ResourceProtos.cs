using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Resources;
using Duration = Google.Protobuf.WellKnownTypes.Duration;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>
/// Envoy resources shaped as istiod sends them to proxyless clients (listener "host:port" → RDS → EDS clusters
/// named outbound|port|subset|host), and helpers to decode them through the resource types.
/// </summary>
internal static class ResourceProtos
{
    public const string Target = "backend.shop.svc.cluster.local:8080";
    public const string Host = "backend.shop.svc.cluster.local";
    public const string V1 = "outbound|8080|v1|backend.shop.svc.cluster.local";
    public const string V2 = "outbound|8080|v2|backend.shop.svc.cluster.local";

    public static HttpFilter RouterFilter(string name = "envoy.filters.http.router") =>
        new() { Name = name, TypedConfig = Any.Pack(new Router()) };

    public static HttpFilter FaultFilter(HTTPFault? config = null, string name = "envoy.filters.http.fault") =>
        new() { Name = name, TypedConfig = Any.Pack(config ?? new HTTPFault()) };

    /// <summary>An HTTP connection manager using RDS over ADS (route configuration named like the listener) with <paramref name="filters"/>, or just the router.</summary>
    public static HttpConnectionManager RdsManager(string routeName = Target, params HttpFilter[] filters)
    {
        var hcm = new HttpConnectionManager
        {
            Rds = new Rds { RouteConfigName = routeName, ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource() } },
        };
        hcm.HttpFilters.AddRange(filters.Length == 0 ? [RouterFilter()] : filters);
        return hcm;
    }

    public static Listener NewListener(string name = Target, HttpConnectionManager? hcm = null) =>
        new() { Name = name, ApiListener = new ApiListener { ApiListener_ = Any.Pack(hcm ?? RdsManager()) } };

    public static RouteConfiguration NewRouteConfig(string name = Target, params VirtualHost[] hosts)
    {
        var config = new RouteConfiguration { Name = name };
        config.VirtualHosts.AddRange(hosts.Length == 0 ? [NewVirtualHost(NewRoute(Prefix(), ToCluster(V1)))] : hosts);
        return config;
    }

    /// <summary>A virtual host with istiod's domains for the backend service.</summary>
    public static VirtualHost NewVirtualHost(params Route[] routes)
    {
        var host = new VirtualHost { Name = Target };
        host.Domains.AddRange([Host, Target, "backend", "backend:8080", "backend.shop", "backend.shop:8080", "backend.shop.svc", "backend.shop.svc:8080", "10.96.0.12", "10.96.0.12:8080"]);
        host.Routes.AddRange(routes);
        return host;
    }

    public static VirtualHost VirtualHostFor(string name, IEnumerable<string> domains, params Route[] routes)
    {
        var host = new VirtualHost { Name = name };
        host.Domains.AddRange(domains);
        host.Routes.AddRange(routes);
        return host;
    }

    public static Route NewRoute(RouteMatch match, RouteAction action, string? name = null)
    {
        var route = new Route { Match = match, Route_ = action };
        if (name is not null)
        {
            route.Name = name;
        }

        return route;
    }

    public static RouteMatch Prefix(string prefix = "") => new() { Prefix = prefix };

    public static RouteMatch WithHeader(this RouteMatch match, HeaderMatcher header)
    {
        match.Headers.Add(header);
        return match;
    }

    public static RouteAction ToCluster(string cluster) => new() { Cluster = cluster };

    public static RouteAction Split(params (string Cluster, uint Weight)[] clusters)
    {
        var weighted = new WeightedCluster();
        foreach (var (cluster, weight) in clusters)
        {
            weighted.Clusters.Add(new WeightedCluster.Types.ClusterWeight { Name = cluster, Weight = weight });
        }

        return new RouteAction { WeightedClusters = weighted };
    }

    public static Cluster EdsCluster(string name, string? serviceName = null)
    {
        var cluster = new Cluster
        {
            Name = name,
            Type = Cluster.Types.DiscoveryType.Eds,
            EdsClusterConfig = new Cluster.Types.EdsClusterConfig { EdsConfig = new ConfigSource { Ads = new AggregatedConfigSource() } },
            LbPolicy = Cluster.Types.LbPolicy.RoundRobin,
        };
        if (serviceName is not null)
        {
            cluster.EdsClusterConfig.ServiceName = serviceName;
        }

        return cluster;
    }

    /// <summary>An assignment with one locality (zone-a, weight = number of endpoints, as istiod does) of healthy endpoints "ip:port".</summary>
    public static ClusterLoadAssignment Assignment(string name, params string[] addresses)
    {
        var endpoints = addresses.Select(a =>
        {
            var colon = a.LastIndexOf(':');
            return NewEndpoint(a[..colon], uint.Parse(a[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        }).ToArray();
        return Assignment(name, NewLocality("zone-a", (uint)Math.Max(1, endpoints.Length), 0, endpoints));
    }

    public static ClusterLoadAssignment Assignment(string name, params LocalityLbEndpoints[] localities)
    {
        var assignment = new ClusterLoadAssignment { ClusterName = name };
        assignment.Endpoints.AddRange(localities);
        return assignment;
    }

    public static LocalityLbEndpoints NewLocality(string zone, uint weight, uint priority, params LbEndpoint[] endpoints)
    {
        var locality = new LocalityLbEndpoints
        {
            Locality = new Locality { Region = "region-1", Zone = zone },
            LoadBalancingWeight = weight,
            Priority = priority,
        };
        locality.LbEndpoints.AddRange(endpoints);
        return locality;
    }

    public static LbEndpoint NewEndpoint(string ip, uint port, HealthStatus health = HealthStatus.Healthy, uint? weight = null)
    {
        var endpoint = new LbEndpoint
        {
            HealthStatus = health,
            Endpoint = new Envoy.Config.Endpoint.V3.Endpoint
            {
                Address = new Address { SocketAddress = new SocketAddress { Address = ip, PortValue = port } },
            },
        };
        if (weight is not null)
        {
            endpoint.LoadBalancingWeight = weight;
        }

        return endpoint;
    }

    public static Duration Seconds(double seconds) => Duration.FromTimeSpan(TimeSpan.FromSeconds(seconds));

    /// <summary>Decodes a message that must be valid; the failure message shows the decoder's error.</summary>
    public static T Valid<T>(XdsResourceType type, IMessage message)
    {
        var result = type.Decode(Any.Pack(message));
        Assert.That(result.Error, Is.Null, "the resource should be valid");
        Assert.That(result.Resource, Is.InstanceOf<T>());
        return (T)result.Resource!;
    }

    /// <summary>Decodes a message that must be rejected, and returns the error (which must name the resource).</summary>
    public static string Invalid(XdsResourceType type, IMessage message)
    {
        var result = type.Decode(Any.Pack(message));
        Assert.That(result.Error, Is.Not.Null.And.Not.Empty, "the resource should be rejected");
        Assert.That(result.Resource, Is.Null);
        if (result.Name is not null)
        {
            Assert.That(result.Error, Does.StartWith($"{type.Name} '{result.Name}': "));
        }

        return result.Error!;
    }
}
