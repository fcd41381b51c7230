using Mesh.Identity;

namespace Mesh.AspNetCore.Tls;

/// <summary>
/// The peer identity of one connection, set by the mTLS handshake (<c>UseMeshTls</c>) on the connection's
/// features, which every request on the connection sees.
/// </summary>
internal sealed class MeshPeerFeature
{
    /// <summary>The peer's validated SPIFFE ID, or <see langword="null"/> when the peer sent no certificate.</summary>
    public SpiffeId? PeerId { get; set; }
}
