using System.Collections.Frozen;

namespace Mesh.Xds.Server;

/// <summary>
/// The resources of one type in an <see cref="XdsResourceSnapshot"/>, by name, with the type's version: a hash of
/// every name and resource version, so the version changes exactly when a resource of the type is added, changed or
/// removed (and is the same on every server that holds the same resources).
/// </summary>
public sealed class XdsResourceSet
{
    internal XdsResourceSet(string typeUrl, FrozenDictionary<string, XdsResource> resources)
    {
        TypeUrl = typeUrl;
        Resources = resources;
        Version = XdsResourceVersions.ForSet(resources);
    }

    /// <summary>The type URL, e.g. <c>type.googleapis.com/envoy.config.cluster.v3.Cluster</c>.</summary>
    public string TypeUrl { get; }

    /// <summary>The type's version, sent as <c>version_info</c> (SotW) and <c>system_version_info</c> (delta).</summary>
    public string Version { get; }

    /// <summary>The resources by name (ordinal).</summary>
    public IReadOnlyDictionary<string, XdsResource> Resources { get; }

    /// <summary>The number of resources.</summary>
    public int Count => Resources.Count;

    /// <summary>Whether a resource named <paramref name="name"/> exists.</summary>
    public bool Contains(string name) => Resources.ContainsKey(name);

    /// <summary>Finds a resource by name.</summary>
    public bool TryGetResource(string name, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out XdsResource resource) =>
        Resources.TryGetValue(name, out resource);

    internal static XdsResourceSet Empty(string typeUrl) => new(typeUrl, FrozenDictionary<string, XdsResource>.Empty);

    /// <inheritdoc />
    public override string ToString() => $"{TypeUrl}: {Count} resource(s), version {Version}";
}
