using Mesh.AspNetCore.Tls;
using Mesh.Identity;

namespace Microsoft.AspNetCore.Http;

/// <summary>The mesh peer of a request.</summary>
public static class MeshHttpContextExtensions
{
    /// <summary>
    /// The SPIFFE ID of the peer that sent this request, validated in the mutual TLS handshake of an endpoint
    /// served with <c>UseMeshTls()</c>; <see langword="null"/> for a plaintext request or a TLS client without a
    /// certificate.
    /// </summary>
    public static SpiffeId? GetPeerIdentity(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<MeshPeerFeature>()?.PeerId;
    }
}
