using System.Collections.Frozen;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Mesh.Xds.Server;

/// <summary>
/// Builds an <see cref="XdsResourceSnapshot"/>: add resources of any type (the Envoy messages, or any message, or an
/// already packed <see cref="Any"/>), then <see cref="Build"/>. Resources are serialized when added, so changing a
/// message afterwards does not change the snapshot.
/// </summary>
/// <example><code>
/// var snapshot = XdsResourceSnapshot.CreateBuilder("v1")
///     .Add(listener)
///     .Add(routeConfiguration)
///     .Add("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "default", Any.Pack(secret))
///     .Build();
/// </code></example>
public sealed class XdsResourceSnapshotBuilder
{
    private readonly string _version;
    private readonly Dictionary<string, Dictionary<string, XdsResource>> _types = new(StringComparer.Ordinal);

    /// <summary>Starts a snapshot labelled <paramref name="version"/>.</summary>
    public XdsResourceSnapshotBuilder(string version)
    {
        ArgumentNullException.ThrowIfNull(version);
        _version = version;
    }

    /// <summary>Adds a listener (LDS), named by <see cref="Listener.Name"/>.</summary>
    public XdsResourceSnapshotBuilder Add(Listener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        return Add(listener.Name, listener);
    }

    /// <summary>Adds a route configuration (RDS), named by <see cref="RouteConfiguration.Name"/>.</summary>
    public XdsResourceSnapshotBuilder Add(RouteConfiguration route)
    {
        ArgumentNullException.ThrowIfNull(route);
        return Add(route.Name, route);
    }

    /// <summary>Adds a cluster (CDS), named by <see cref="Cluster.Name"/>.</summary>
    public XdsResourceSnapshotBuilder Add(Cluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return Add(cluster.Name, cluster);
    }

    /// <summary>Adds endpoints (EDS), named by <see cref="ClusterLoadAssignment.ClusterName"/>.</summary>
    public XdsResourceSnapshotBuilder Add(ClusterLoadAssignment endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return Add(endpoints.ClusterName, endpoints);
    }

    /// <summary>Adds a resource of any type; its type URL is <c>type.googleapis.com/</c> + the message's full name.</summary>
    public XdsResourceSnapshotBuilder Add(string name, IMessage resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return Add(XdsResourceSnapshot.TypeUrlPrefix + resource.Descriptor.FullName, name, Any.Pack(resource));
    }

    /// <summary>Adds a packed resource; <paramref name="resource"/>'s type URL must be <paramref name="typeUrl"/>.</summary>
    /// <exception cref="ArgumentException">The name is empty, is already used by a resource of the type, or the type URLs differ.</exception>
    public XdsResourceSnapshotBuilder Add(string typeUrl, string name, Any resource)
    {
        ArgumentException.ThrowIfNullOrEmpty(typeUrl);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(resource);
        var shortName = XdsTypeNames.ShortName(typeUrl);
        if (name.Length == 0)
        {
            throw new ArgumentException($"A {shortName} added to snapshot '{_version}' has an empty name: every xDS resource needs a name (for a ClusterLoadAssignment, its cluster_name).", nameof(name));
        }

        if (!string.Equals(resource.TypeUrl, typeUrl, StringComparison.Ordinal))
        {
            throw new ArgumentException($"{shortName} '{name}' added to snapshot '{_version}' is packed as '{resource.TypeUrl}', not as '{typeUrl}': clients accept only resources of the type they asked for.", nameof(resource));
        }

        var resources = GetOrAddType(typeUrl);
        if (resources.ContainsKey(name))
        {
            throw new ArgumentException($"Snapshot '{_version}' already has a {shortName} named '{name}': resource names must be unique within a type.", nameof(name));
        }

        // Cloned so that later changes to the caller's Any cannot change the snapshot (the payload bytes are immutable).
        var packed = resource.Clone();
        resources.Add(name, new XdsResource(name, packed, XdsResourceVersions.ForResource(packed.Value)));
        return this;
    }

    /// <summary>
    /// Declares a type with no resources yet, so that it appears in <see cref="XdsResourceSnapshot.ResourceSets"/>
    /// (requests for any type are answered whether or not it was declared).
    /// </summary>
    public XdsResourceSnapshotBuilder AddType(string typeUrl)
    {
        ArgumentException.ThrowIfNullOrEmpty(typeUrl);
        GetOrAddType(typeUrl);
        return this;
    }

    /// <summary>Creates the immutable snapshot. The builder can go on being used for another one.</summary>
    public XdsResourceSnapshot Build()
    {
        var sets = new Dictionary<string, XdsResourceSet>(_types.Count, StringComparer.Ordinal);
        foreach (var (typeUrl, resources) in _types)
        {
            sets.Add(typeUrl, new XdsResourceSet(typeUrl, resources.ToFrozenDictionary(StringComparer.Ordinal)));
        }

        return new XdsResourceSnapshot(_version, sets.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private Dictionary<string, XdsResource> GetOrAddType(string typeUrl)
    {
        if (!_types.TryGetValue(typeUrl, out var resources))
        {
            resources = new Dictionary<string, XdsResource>(StringComparer.Ordinal);
            _types.Add(typeUrl, resources);
        }

        return resources;
    }
}
