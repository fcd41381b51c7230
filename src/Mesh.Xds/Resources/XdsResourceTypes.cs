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

    /// <summary>All four, in dependency order; clusters may name any certificate provider instance.</summary>
    public static IReadOnlyList<XdsResourceType> All { get; } = [Listener, RouteConfiguration, Cluster, Endpoints];

    /// <summary>
    /// All four, in dependency order, with clusters restricted to the certificate provider instances of the bootstrap
    /// and the ones the application registers (gRFC A29 NACKs other names).
    /// </summary>
    /// <example><code>new XdsClient(bootstrap, XdsResourceTypes.Create(bootstrap, options.CertificateProviderInstances), ...)</code></example>
    public static IReadOnlyList<XdsResourceType> Create(Client.XdsBootstrap bootstrap, IEnumerable<string>? registeredInstances)
    {
        ArgumentNullException.ThrowIfNull(bootstrap);
        var cluster = new XdsClusterResourceType(XdsCertificateProviderNames.Create(bootstrap, registeredInstances));
        return [Listener, RouteConfiguration, cluster, Endpoints];
    }
}
