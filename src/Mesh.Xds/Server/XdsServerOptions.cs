using Envoy.Config.Core.V3;

namespace Mesh.Xds.Server;

/// <summary>Options of the xDS server engine (<see cref="XdsSnapshotCache"/> and <see cref="XdsAdsService"/>).</summary>
public sealed class XdsServerOptions
{
    /// <summary>
    /// Maps a client's <see cref="Node"/> (from the first request of its stream) to the key of the snapshot it is served,
    /// as go-control-plane's <c>NodeHash</c>. Default: <see cref="XdsNodeHash.NodeId"/>. Use
    /// <see cref="XdsNodeHash.Constant"/> to serve one snapshot to every node.
    /// </summary>
    public Func<Node, string> NodeHash { get; set; } = XdsNodeHash.NodeId;

    /// <summary>
    /// When set, responses carry it as <c>control_plane.identifier</c>, so clients (and their CSDS dumps) show which
    /// server they were configured by.
    /// </summary>
    public string? ControlPlaneIdentifier { get; set; }
}

/// <summary>Ready-made <see cref="XdsServerOptions.NodeHash"/> functions.</summary>
public static class XdsNodeHash
{
    /// <summary>One snapshot per <c>node.id</c> (the default).</summary>
    public static readonly Func<Node, string> NodeId = static node => node.Id;

    /// <summary>One snapshot per <c>node.cluster</c> (e.g. per workload, shared by its replicas).</summary>
    public static readonly Func<Node, string> NodeCluster = static node => node.Cluster;

    /// <summary>One snapshot for every node: set it with <c>SetSnapshot(key, ...)</c>.</summary>
    /// <example><code>services.AddXdsServer(o => o.NodeHash = XdsNodeHash.Constant("all"));</code></example>
    public static Func<Node, string> Constant(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _ => key;
    }
}
