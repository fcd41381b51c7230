namespace Mesh.Authorization;

/// <summary>What an inbound server enforces at one moment: the mTLS mode and the authorization policies. Immutable.</summary>
public sealed class ServerPolicy
{
    /// <summary>Creates a server policy.</summary>
    public ServerPolicy(PeerAuthenticationMode peerAuthentication, AuthorizationPolicySet authorization)
    {
        ArgumentNullException.ThrowIfNull(authorization);
        PeerAuthentication = peerAuthentication;
        Authorization = authorization;
    }

    /// <summary>Which connections are accepted.</summary>
    public PeerAuthenticationMode PeerAuthentication { get; }

    /// <summary>The compiled authorization policies.</summary>
    public AuthorizationPolicySet Authorization { get; }
}

/// <summary>
/// Where a server's <see cref="ServerPolicy"/> comes from (application configuration, an xDS server's RBAC and
/// TLS settings) and when it changes. Readers take <see cref="Current"/> per connection or request; a source
/// publishes a new policy only after it validated it, so an invalid update never replaces a good one.
/// </summary>
public interface IServerPolicySource
{
    /// <summary>The policy in force now.</summary>
    ServerPolicy Current { get; }

    /// <summary>Raised after <see cref="Current"/> changed.</summary>
    event Action<ServerPolicy>? Changed;
}
