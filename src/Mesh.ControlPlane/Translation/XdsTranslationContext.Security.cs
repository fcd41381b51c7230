using Mesh.ControlPlane.Model;

namespace Mesh.ControlPlane.Translation;

/// <summary>What the translation needs from PeerAuthentications: whether a workload accepts mutual TLS (auto mTLS).</summary>
internal sealed partial class XdsTranslationContext
{
    /// <summary>The trust domain of the workload identities, e.g. <c>cluster.local</c>.</summary>
    public string TrustDomain { get; }

    /// <summary>The namespace whose selector-less PeerAuthentication applies to the whole mesh.</summary>
    public string RootNamespace { get; }

    /// <summary>The PeerAuthentications, kept for server-side delivery and read for auto mTLS.</summary>
    public IReadOnlyList<PeerAuthenticationModel> PeerAuthentications => _config.PeerAuthentications;

    /// <summary>The AuthorizationPolicies, kept for server-side delivery.</summary>
    public IReadOnlyList<AuthorizationPolicyModel> AuthorizationPolicies => _config.AuthorizationPolicies;

    /// <summary>The SPIFFE ID of a service account: <c>spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/ACCOUNT</c>.</summary>
    public string SpiffeId(string ns, string serviceAccount) => $"spiffe://{TrustDomain}/ns/{ns}/sa/{serviceAccount}";

    /// <summary>
    /// The mTLS mode a workload accepts, as Istio resolves it: the PeerAuthentication of its namespace whose selector
    /// matches its labels, else the namespace's selector-less one, else the root namespace's selector-less one; an UNSET
    /// mode inherits from the next level. <see langword="null"/> when no policy covers the workload.
    /// </summary>
    public PeerAuthenticationMode? PeerAuthenticationModeFor(string ns, IReadOnlyDictionary<string, string> labels)
    {
        // Istio picks the oldest policy when several apply; without creation times, the first by name.
        var ordered = _config.PeerAuthentications.OrderBy(static p => p.Name, StringComparer.Ordinal);
        var workload = ordered.FirstOrDefault(p => p.Namespace == ns && p.Selector is { } selector && selector.All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value));
        if (workload is { Mode: not PeerAuthenticationMode.Unset })
        {
            return workload.Mode;
        }

        var namespaceWide = ordered.FirstOrDefault(p => p.Namespace == ns && p.Selector is null);
        if (namespaceWide is { Mode: not PeerAuthenticationMode.Unset })
        {
            return namespaceWide.Mode;
        }

        var meshWide = ordered.FirstOrDefault(p => p.Namespace == RootNamespace && p.Selector is null);
        return meshWide is { Mode: not PeerAuthenticationMode.Unset } ? meshWide.Mode : null;
    }
}
