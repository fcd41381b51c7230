using System.Collections.Frozen;
using System.Diagnostics;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;

namespace Mesh.Xds.Server;

/// <summary>
/// An immutable, versioned set of xDS resources for one node (or group of nodes): for every type URL, the resources by
/// name, each with a content version. Publish it with <see cref="XdsSnapshotCache.SetSnapshot"/>, which first checks
/// that it is <see cref="CheckConsistency">consistent</see>.
/// </summary>
/// <example><code>
/// var snapshot = XdsResourceSnapshot.Create("v7", listeners: [listener], routes: [route], clusters: [cluster], endpoints: [assignment]);
/// cache.SetSnapshot("node-1", snapshot);
/// </code></example>
public sealed class XdsResourceSnapshot
{
    /// <summary>The type URL of <see cref="Listener"/> (LDS).</summary>
    public const string ListenerTypeUrl = TypeUrlPrefix + "envoy.config.listener.v3.Listener";

    /// <summary>The type URL of <see cref="RouteConfiguration"/> (RDS).</summary>
    public const string RouteConfigurationTypeUrl = TypeUrlPrefix + "envoy.config.route.v3.RouteConfiguration";

    /// <summary>The type URL of <see cref="Cluster"/> (CDS).</summary>
    public const string ClusterTypeUrl = TypeUrlPrefix + "envoy.config.cluster.v3.Cluster";

    /// <summary>The type URL of <see cref="ClusterLoadAssignment"/> (EDS).</summary>
    public const string ClusterLoadAssignmentTypeUrl = TypeUrlPrefix + "envoy.config.endpoint.v3.ClusterLoadAssignment";

    internal const string TypeUrlPrefix = "type.googleapis.com/";

    private readonly FrozenDictionary<string, XdsResourceSet> _sets;

    internal XdsResourceSnapshot(string version, FrozenDictionary<string, XdsResourceSet> sets)
    {
        Version = version;
        _sets = sets;
    }

    /// <summary>
    /// The snapshot's label, for logs and status pages. Clients see per-type content versions
    /// (<see cref="XdsResourceSet.Version"/>), so that only the types that changed are pushed.
    /// </summary>
    public string Version { get; }

    /// <summary>The span that published the snapshot, linked from the spans of its pushes (set when the cache takes it).</summary>
    internal ActivityContext Origin { get; set; }

    /// <summary>The resource sets by type URL (only the types that were added, possibly empty).</summary>
    public IReadOnlyDictionary<string, XdsResourceSet> ResourceSets => _sets;

    /// <summary>Creates a snapshot of the four xDS types of a proxyless mesh (each type present, possibly empty).</summary>
    /// <exception cref="ArgumentException">A resource has an empty name, or two resources of a type share a name.</exception>
    public static XdsResourceSnapshot Create(
        string version,
        IEnumerable<Listener>? listeners = null,
        IEnumerable<RouteConfiguration>? routes = null,
        IEnumerable<Cluster>? clusters = null,
        IEnumerable<ClusterLoadAssignment>? endpoints = null)
    {
        var builder = new XdsResourceSnapshotBuilder(version)
            .AddType(ListenerTypeUrl)
            .AddType(RouteConfigurationTypeUrl)
            .AddType(ClusterTypeUrl)
            .AddType(ClusterLoadAssignmentTypeUrl);
        foreach (var listener in listeners ?? [])
        {
            builder.Add(listener);
        }

        foreach (var route in routes ?? [])
        {
            builder.Add(route);
        }

        foreach (var cluster in clusters ?? [])
        {
            builder.Add(cluster);
        }

        foreach (var endpoint in endpoints ?? [])
        {
            builder.Add(endpoint);
        }

        return builder.Build();
    }

    /// <summary>Starts a snapshot of any resource types, added one by one.</summary>
    public static XdsResourceSnapshotBuilder CreateBuilder(string version) => new(version);

    /// <summary>The resources of <paramref name="typeUrl"/>; an empty set when the snapshot has none of that type.</summary>
    public XdsResourceSet GetResources(string typeUrl)
    {
        ArgumentNullException.ThrowIfNull(typeUrl);
        return _sets.TryGetValue(typeUrl, out var set) ? set : XdsResourceSet.Empty(typeUrl);
    }

    /// <summary>
    /// Checks that the snapshot is internally consistent, as go-control-plane's <c>Snapshot.Consistent()</c> does: every
    /// route configuration a listener names for RDS is in the snapshot, and so is every <c>ClusterLoadAssignment</c>
    /// an EDS cluster names. Clients receive types in any order; a dangling reference leaves them waiting for a resource
    /// that never comes. Resources nobody refers to are allowed (a snapshot may serve a group of nodes).
    /// </summary>
    /// <returns>Every problem found, each naming the resource, the field and the missing name; empty when consistent.</returns>
    public IReadOnlyList<string> CheckConsistency() => XdsSnapshotConsistency.Check(this);

    /// <inheritdoc />
    public override string ToString() =>
        $"snapshot {Version} ({string.Join(", ", _sets.Values.Select(static s => $"{XdsTypeNames.ShortName(s.TypeUrl)}: {s.Count}"))})";
}
