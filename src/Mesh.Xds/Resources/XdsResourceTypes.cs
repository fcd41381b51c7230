namespace Mesh.Xds.Resources;

/// <summary>The resource types of a client that routes HTTP and gRPC requests: LDS, RDS, CDS and EDS.</summary>
internal static class XdsResourceTypes
{
    /// <summary>Listeners (<see cref="XdsListener"/>).</summary>
    public static XdsListenerResourceType Listener => XdsListenerResourceType.Instance;

    /// <summary>Route configurations (<see cref="XdsRouteConfiguration"/>).</summary>
    public static XdsRouteConfigurationResourceType RouteConfiguration => XdsRouteConfigurationResourceType.Instance;

    /// <summary>Clusters (<see cref="XdsCluster"/>).</summary>
    public static XdsClusterResourceType Cluster => XdsClusterResourceType.Instance;

    /// <summary>Cluster load assignments (<see cref="XdsEndpoints"/>).</summary>
    public static XdsEndpointsResourceType Endpoints => XdsEndpointsResourceType.Instance;

    /// <summary>All four, in dependency order.</summary>
    public static IReadOnlyList<XdsResourceType> All { get; } = [Listener, RouteConfiguration, Cluster, Endpoints];
}
