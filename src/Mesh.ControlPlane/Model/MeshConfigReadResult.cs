using k8s.Models;

namespace Mesh.ControlPlane.Model;

/// <summary>A typed Kubernetes object with its identity and origin (for messages).</summary>
internal sealed record TypedObject<T>(string Namespace, string Name, string Origin, T Value);

/// <summary>
/// What <see cref="MeshConfigReader.Read"/> made of the store's objects: the valid objects, typed, and every error
/// (an object with an error is left out whole) and warning (a field ignored, an unknown kind).
/// </summary>
internal sealed record MeshConfigReadResult(
    IReadOnlyList<TypedObject<V1Service>> Services,
    IReadOnlyList<TypedObject<V1EndpointSlice>> EndpointSlices,
    IReadOnlyList<TypedObject<V1Pod>> Pods,
    IReadOnlyList<VirtualServiceModel> VirtualServices,
    IReadOnlyList<DestinationRuleModel> DestinationRules,
    IReadOnlyList<WorkloadEntryModel> WorkloadEntries,
    IReadOnlyList<string> Errors,
    IReadOnlyList<string> Warnings)
{
    /// <summary>The valid PeerAuthentications (kept for auto mTLS and for server-side delivery).</summary>
    public IReadOnlyList<PeerAuthenticationModel> PeerAuthentications { get; init; } = [];

    /// <summary>The valid AuthorizationPolicies (kept for server-side delivery).</summary>
    public IReadOnlyList<AuthorizationPolicyModel> AuthorizationPolicies { get; init; } = [];
}
