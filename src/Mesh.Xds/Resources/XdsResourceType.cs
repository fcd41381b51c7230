using Google.Protobuf.WellKnownTypes;

namespace Mesh.Xds.Resources;

/// <summary>
/// One resource of a discovery response, decoded: its name (known even when validation fails, so that only
/// this resource is NACKed, gRFC A46) and either the validated resource or the reason it was rejected.
/// </summary>
internal readonly record struct XdsDecodeResult(string? Name, object? Resource, string? Error)
{
    public static XdsDecodeResult Valid(string name, object resource) => new(name, resource, null);

    public static XdsDecodeResult Invalid(string? name, string error) => new(name, null, error);
}

/// <summary>
/// An xDS resource type (listener, route configuration, cluster, endpoints): its type URL and how one
/// resource of it is decoded and validated. The xDS client is generic over these, as grpc-go's is.
/// </summary>
internal abstract class XdsResourceType
{
    /// <summary>The type URL, e.g. <c>type.googleapis.com/envoy.config.listener.v3.Listener</c>.</summary>
    public abstract string TypeUrl { get; }

    /// <summary>A short name for logs and errors, e.g. <c>Listener</c>.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Whether a state-of-the-world response carries every subscribed resource of the type, so that a
    /// subscribed name missing from it was deleted (listeners and clusters), or only those that changed.
    /// </summary>
    public abstract bool AllResourcesRequiredInSotW { get; }

    /// <summary>Decodes and validates one resource. Never throws: every problem is an <see cref="XdsDecodeResult.Error"/>.</summary>
    public abstract XdsDecodeResult Decode(Any resource);

    /// <inheritdoc />
    public override string ToString() => Name;
}
