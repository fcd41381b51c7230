using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Service.Discovery.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Server;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>xDS resources and snapshots for the server tests: a service is a listener → route → EDS cluster → endpoints chain.</summary>
internal static class ServerTestResources
{
    /// <summary>A type no test is about, whose one resource lets a client prove nothing else was pushed (see <see cref="ServerSotwTestClient.ExpectNothingPendingAsync"/>).</summary>
    public const string ProbeTypeUrl = "type.googleapis.com/google.protobuf.StringValue";

    public const string ProbeName = "probe";

    public const string Lds = XdsResourceSnapshot.ListenerTypeUrl;
    public const string Rds = XdsResourceSnapshot.RouteConfigurationTypeUrl;
    public const string Cds = XdsResourceSnapshot.ClusterTypeUrl;
    public const string Eds = XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl;

    public static string ListenerName(string service) => $"{service}.test:80";

    public static string RouteName(string service) => $"{service}-route";

    public static string ClusterName(string service) => $"{service}-cluster";

    public static Listener Listener(string name, string routeName) => new()
    {
        Name = name,
        ApiListener = new ApiListener
        {
            ApiListener_ = Any.Pack(new HttpConnectionManager
            {
                StatPrefix = name,
                Rds = new Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.Rds { RouteConfigName = routeName, ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource() } },
                HttpFilters = { new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) } },
            }),
        },
    };

    public static RouteConfiguration Route(string name, string cluster, string prefix = "/") => new()
    {
        Name = name,
        VirtualHosts =
        {
            new VirtualHost
            {
                Name = name,
                Domains = { "*" },
                Routes = { new Route { Match = new RouteMatch { Prefix = prefix }, Route_ = new RouteAction { Cluster = cluster } } },
            },
        },
    };

    public static Cluster Cluster(string name, string? serviceName = null) => new()
    {
        Name = name,
        Type = Envoy.Config.Cluster.V3.Cluster.Types.DiscoveryType.Eds,
        EdsClusterConfig = new Cluster.Types.EdsClusterConfig { EdsConfig = new ConfigSource { Ads = new AggregatedConfigSource() }, ServiceName = serviceName ?? "" },
    };

    public static ClusterLoadAssignment Endpoints(string clusterName, int port) => new()
    {
        ClusterName = clusterName,
        Endpoints =
        {
            new LocalityLbEndpoints
            {
                LbEndpoints =
                {
                    new LbEndpoint { Endpoint = new Endpoint { Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = (uint)port } } } },
                },
            },
        },
    };

    /// <summary>A snapshot builder that already holds the probe resource.</summary>
    public static XdsResourceSnapshotBuilder Builder(string version) =>
        XdsResourceSnapshot.CreateBuilder(version)
            .AddType(Lds).AddType(Rds).AddType(Cds).AddType(Eds)
            .Add(ProbeName, new StringValue { Value = ProbeName });

    /// <summary>Adds the chain of <paramref name="service"/>, its endpoint on <paramref name="port"/> (vary it to change only the EDS resource).</summary>
    public static XdsResourceSnapshotBuilder AddService(this XdsResourceSnapshotBuilder builder, string service, int port, string routePrefix = "/") =>
        builder
            .Add(Listener(ListenerName(service), RouteName(service)))
            .Add(Route(RouteName(service), ClusterName(service), routePrefix))
            .Add(Cluster(ClusterName(service)))
            .Add(Endpoints(ClusterName(service), port));

    /// <summary>A consistent snapshot of the given services (plus the probe).</summary>
    public static XdsResourceSnapshot Snapshot(string version, params (string Service, int Port)[] services)
    {
        var builder = Builder(version);
        foreach (var (service, port) in services)
        {
            builder.AddService(service, port);
        }

        return builder.Build();
    }

    /// <summary>The names of the resources in a SotW response, in order.</summary>
    public static string[] Names(DiscoveryResponse response) => [.. response.Resources.Select(NameOf)];

    public static string NameOf(Any resource) => resource.TypeUrl switch
    {
        Lds => resource.Unpack<Listener>().Name,
        Rds => resource.Unpack<RouteConfiguration>().Name,
        Cds => resource.Unpack<Cluster>().Name,
        Eds => resource.Unpack<ClusterLoadAssignment>().ClusterName,
        ProbeTypeUrl => resource.Unpack<StringValue>().Value,
        _ => throw new ArgumentException($"No name for type {resource.TypeUrl}."),
    };
}
