using System.Text.Json;

namespace Mesh.ControlPlane.Configuration;

/// <summary>
/// One Kubernetes-shaped object as a source delivered it (a YAML document or a watch event), before
/// translation: its identity, where it came from, and its body as JSON (the whole object: apiVersion, kind,
/// metadata, spec, ...). Sources do not interpret the body beyond identity; validation and typed reading
/// happen in one place, so both sources report the same errors.
/// </summary>
/// <param name="ApiVersion">e.g. <c>v1</c>, <c>discovery.k8s.io/v1</c>, <c>networking.istio.io/v1</c>.</param>
/// <param name="Kind">e.g. <c>Service</c>, <c>EndpointSlice</c>, <c>Pod</c>, <c>VirtualService</c>.</param>
/// <param name="Namespace">The namespace (<c>default</c> when the manifest gives none).</param>
/// <param name="Name">metadata.name.</param>
/// <param name="Body">The whole object as JSON.</param>
/// <param name="Origin">Where it came from, for errors: <c>manifests/seed.yaml, document 3</c> or <c>kubernetes</c>.</param>
public sealed record ConfigObject(string ApiVersion, string Kind, string Namespace, string Name, JsonElement Body, string Origin)
{
    /// <summary>The key that identifies the object across updates: <c>Kind/namespace/name</c>.</summary>
    public ConfigKey Key => new(Kind, Namespace, Name);

    /// <inheritdoc />
    public override string ToString() => $"{Kind} {Namespace}/{Name} ({Origin})";
}

/// <summary>Identifies an object: kind, namespace and name.</summary>
public readonly record struct ConfigKey(string Kind, string Namespace, string Name)
{
    /// <inheritdoc />
    public override string ToString() => $"{Kind} {Namespace}/{Name}";
}
