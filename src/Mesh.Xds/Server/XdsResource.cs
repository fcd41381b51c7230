using Google.Protobuf.WellKnownTypes;

namespace Mesh.Xds.Server;

/// <summary>
/// One named resource of an <see cref="XdsResourceSnapshot"/>: the packed message, exactly as it is sent to clients,
/// and its version (a hash of the serialized bytes, so an unchanged resource keeps its version across snapshots).
/// </summary>
public sealed class XdsResource
{
    internal XdsResource(string name, Any resource, string version)
    {
        Name = name;
        Resource = resource;
        Version = version;
    }

    /// <summary>The resource name, e.g. a listener name or, for a <c>ClusterLoadAssignment</c>, its cluster name.</summary>
    public string Name { get; }

    /// <summary>
    /// The resource packed in an <see cref="Any"/> whose type URL is the resource type's. The same instance is sent on
    /// every stream; it must not be modified.
    /// </summary>
    public Any Resource { get; }

    /// <summary>The resource version: a hash of its serialized bytes (the delta protocol's per-resource version).</summary>
    public string Version { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Version})";
}
