using Mesh.Authorization;

namespace Mesh.AspNetCore;

/// <summary>
/// What an inbound server enforces, from the <c>Mesh:Server</c> configuration section and/or code. Changes to the
/// configuration apply without a restart: the mode to new connections, the policies to new requests; an invalid
/// change is logged and the last valid settings stay in force.
/// </summary>
public sealed class MeshServerOptions
{
    /// <summary>The configuration section bound by default.</summary>
    public const string SectionName = "Mesh:Server";

    /// <summary>Which connections are accepted; PERMISSIVE by default, as in Istio.</summary>
    public PeerAuthenticationMode PeerAuthentication { get; set; } = PeerAuthenticationMode.Permissive;

    /// <summary>Istio-style authorization policies; none allows every request.</summary>
    public List<AuthorizationPolicyOptions> AuthorizationPolicies { get; set; } = [];

    /// <summary>
    /// How long a new connection may take to send its first byte, and then to complete the TLS handshake; read when
    /// the listener is configured (<c>UseMeshTls</c>), so a change applies after a restart.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
