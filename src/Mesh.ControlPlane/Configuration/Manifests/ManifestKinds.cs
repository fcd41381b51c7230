using System.Collections.Frozen;

namespace Mesh.ControlPlane.Configuration.Manifests;

/// <summary>The kinds a manifest directory may hold, with the apiVersions each is accepted under.</summary>
internal static class ManifestKinds
{
    private static readonly string[] IstioNetworking = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];

    public static FrozenDictionary<string, string[]> Known { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["Service"] = ["v1"],
        ["Pod"] = ["v1"],
        ["EndpointSlice"] = ["discovery.k8s.io/v1"],
        ["VirtualService"] = IstioNetworking,
        ["DestinationRule"] = IstioNetworking,
        ["WorkloadEntry"] = IstioNetworking,
        ["PeerAuthentication"] = ["security.istio.io/v1", "security.istio.io/v1beta1"],
        ["AuthorizationPolicy"] = ["security.istio.io/v1", "security.istio.io/v1beta1"],
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>A known kind spelled with other letter cases (<c>virtualservice</c>), for a helpful error; otherwise null.</summary>
    public static string? MisspelledCase(string kind)
    {
        foreach (var known in Known.Keys)
        {
            if (string.Equals(known, kind, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return null;
    }
}
