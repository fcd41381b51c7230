using Envoy.Config.Cluster.V3;
using Envoy.Config.Listener.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Mesh.Xds.Server;

/// <summary>
/// The references between the types of a snapshot: listeners name route configurations (RDS) and EDS clusters name
/// cluster load assignments. A snapshot is consistent when every name referred to exists (go-control-plane's
/// <c>Snapshot.Consistent()</c>, without its demand that nothing unreferenced be present).
/// </summary>
internal static class XdsSnapshotConsistency
{
    public static IReadOnlyList<string> Check(XdsResourceSnapshot snapshot)
    {
        var problems = new List<string>();
        var routes = snapshot.GetResources(XdsResourceSnapshot.RouteConfigurationTypeUrl);
        foreach (var resource in snapshot.GetResources(XdsResourceSnapshot.ListenerTypeUrl).Resources.Values)
        {
            if (TryParse(resource, Listener.Parser, problems) is { } listener)
            {
                CheckName(resource, listener.Name, "name", problems);
                CheckListener(resource.Name, listener, routes, problems);
            }
        }

        var endpoints = snapshot.GetResources(XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl);
        foreach (var resource in snapshot.GetResources(XdsResourceSnapshot.ClusterTypeUrl).Resources.Values)
        {
            if (TryParse(resource, Cluster.Parser, problems) is { } cluster)
            {
                CheckName(resource, cluster.Name, "name", problems);
                CheckCluster(resource.Name, cluster, endpoints, problems);
            }
        }

        foreach (var resource in routes.Resources.Values)
        {
            if (TryParse(resource, Envoy.Config.Route.V3.RouteConfiguration.Parser, problems) is { } route)
            {
                CheckName(resource, route.Name, "name", problems);
            }
        }

        foreach (var resource in endpoints.Resources.Values)
        {
            if (TryParse(resource, Envoy.Config.Endpoint.V3.ClusterLoadAssignment.Parser, problems) is { } assignment)
            {
                CheckName(resource, assignment.ClusterName, "cluster_name", problems);
            }
        }

        return problems;
    }

    private static void CheckListener(string name, Listener listener, XdsResourceSet routes, List<string> problems)
    {
        if (listener.ApiListener?.ApiListener_ is { } api)
        {
            CheckHttpConnectionManager(name, "api_listener", api, routes, problems);
        }

        for (var i = 0; i < listener.FilterChains.Count; i++)
        {
            CheckFilterChain(name, $"filter_chains[{i}]", listener.FilterChains[i], routes, problems);
        }

        if (listener.DefaultFilterChain is { } defaultChain)
        {
            CheckFilterChain(name, "default_filter_chain", defaultChain, routes, problems);
        }
    }

    private static void CheckFilterChain(string listener, string path, FilterChain chain, XdsResourceSet routes, List<string> problems)
    {
        for (var i = 0; i < chain.Filters.Count; i++)
        {
            if (chain.Filters[i].TypedConfig is { } config)
            {
                CheckHttpConnectionManager(listener, $"{path}.filters[{i}]", config, routes, problems);
            }
        }
    }

    private static void CheckHttpConnectionManager(string listener, string path, Any config, XdsResourceSet routes, List<string> problems)
    {
        if (!config.Is(HttpConnectionManager.Descriptor))
        {
            return;
        }

        HttpConnectionManager manager;
        try
        {
            manager = config.Unpack<HttpConnectionManager>();
        }
        catch (InvalidProtocolBufferException e)
        {
            problems.Add($"Listener '{listener}' {path}: the HttpConnectionManager cannot be parsed ({e.Message}).");
            return;
        }

        if (manager.RouteSpecifierCase != HttpConnectionManager.RouteSpecifierOneofCase.Rds)
        {
            return;
        }

        var routeName = manager.Rds.RouteConfigName;
        if (routeName.Length == 0)
        {
            problems.Add($"Listener '{listener}' {path}: the HttpConnectionManager uses RDS with an empty rds.route_config_name; name a RouteConfiguration of the snapshot.");
        }
        else if (!routes.Contains(routeName))
        {
            problems.Add($"Listener '{listener}' {path}: the HttpConnectionManager refers to RouteConfiguration '{routeName}' (rds.route_config_name), which is not in the snapshot; add it, or fix the name.");
        }
    }

    private static void CheckCluster(string name, Cluster cluster, XdsResourceSet endpoints, List<string> problems)
    {
        if (cluster.ClusterDiscoveryTypeCase != Cluster.ClusterDiscoveryTypeOneofCase.Type || cluster.Type != Cluster.Types.DiscoveryType.Eds)
        {
            return;
        }

        var serviceName = cluster.EdsClusterConfig?.ServiceName;
        var (edsName, field) = string.IsNullOrEmpty(serviceName) ? (cluster.Name, "the cluster name, as eds_cluster_config.service_name is empty") : (serviceName, "eds_cluster_config.service_name");
        if (!endpoints.Contains(edsName))
        {
            problems.Add($"Cluster '{name}' is an EDS cluster whose endpoints are ClusterLoadAssignment '{edsName}' ({field}), which is not in the snapshot; add it, or fix the name.");
        }
    }

    private static void CheckName(XdsResource resource, string nameInMessage, string field, List<string> problems)
    {
        if (!string.Equals(resource.Name, nameInMessage, StringComparison.Ordinal))
        {
            problems.Add($"{XdsTypeNames.ShortName(resource.Resource.TypeUrl)} '{resource.Name}' has {field} '{nameInMessage}': a resource must be stored under its own name, or clients ignore it.");
        }
    }

    private static T? TryParse<T>(XdsResource resource, MessageParser<T> parser, List<string> problems)
        where T : class, IMessage<T>
    {
        try
        {
            return parser.ParseFrom(resource.Resource.Value);
        }
        catch (InvalidProtocolBufferException e)
        {
            problems.Add($"{XdsTypeNames.ShortName(resource.Resource.TypeUrl)} '{resource.Name}' cannot be parsed ({e.Message}).");
            return null;
        }
    }
}
