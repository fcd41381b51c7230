namespace Mesh.AspNetCore.Authentication;

/// <summary>Names of the mesh authentication scheme and of the claims it issues.</summary>
public static class MeshAuthenticationDefaults
{
    /// <summary>The authentication scheme that turns the mTLS peer's SPIFFE ID into a <c>ClaimsPrincipal</c>.</summary>
    public const string AuthenticationScheme = "Mesh";

    /// <summary>The claim with the peer's whole SPIFFE ID, e.g. <c>spiffe://cluster.local/ns/shop/sa/frontend</c>.</summary>
    public const string SpiffeIdClaimType = "spiffe_id";

    /// <summary>The claim with the peer's trust domain, e.g. <c>cluster.local</c>.</summary>
    public const string TrustDomainClaimType = "spiffe_trust_domain";

    /// <summary>The claim with the peer's Kubernetes namespace, when its SPIFFE ID is <c>/ns/NS/sa/SA</c>.</summary>
    public const string NamespaceClaimType = "k8s_namespace";

    /// <summary>The claim with the peer's Kubernetes service account, when its SPIFFE ID is <c>/ns/NS/sa/SA</c>.</summary>
    public const string ServiceAccountClaimType = "k8s_service_account";
}
