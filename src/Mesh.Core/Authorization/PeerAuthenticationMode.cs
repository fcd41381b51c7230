namespace Mesh.Authorization;

/// <summary>Which connections a server accepts, as Istio's <c>PeerAuthentication</c> mTLS modes.</summary>
public enum PeerAuthenticationMode
{
    /// <summary>Plaintext and mutual TLS on the same port (Istio's default, for migrating to mTLS).</summary>
    Permissive,

    /// <summary>Mutual TLS only: the client must present an X.509-SVID that chains to the trust bundle.</summary>
    Strict,

    /// <summary>Plaintext only.</summary>
    Disable,
}
