using System.Collections.Immutable;
using Mesh.Authorization;
using Mesh.Xds.Resources;

namespace Mesh.Xds.ServerPolicies;

/// <summary>
/// Maps a server listener onto the mesh's <see cref="Authorization.ServerPolicy"/>: its chains' transports onto a
/// <see cref="PeerAuthenticationMode"/>, its RBAC filters onto an <see cref="AuthorizationPolicySet"/>.
/// </summary>
/// <remarks>
/// Only TLS chains that require a client certificate: STRICT. Only plaintext chains: DISABLE. Both a plaintext and a
/// TLS chain: PERMISSIVE (the TLS chain may or may not require a client certificate; a Mesh server asks for one and
/// an mTLS peer presents it). TLS without a required client certificate and no plaintext chain has no equivalent (the
/// mesh's TLS is always mutual) and is rejected. The mesh applies one set of policies per server, so every chain
/// must carry the same RBAC filters.
/// </remarks>
internal static class XdsServerPolicyMapper
{
    /// <summary>The server policy of <paramref name="listener"/>, or <see langword="null"/> with every problem in <paramref name="errors"/>.</summary>
    public static Authorization.ServerPolicy? Map(XdsServerListener listener, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(listener);
        var count = errors.Count;
        var mutual = 0;
        var tlsOnly = 0;
        var plaintext = 0;
        XdsServerFilterChain? first = null;
        foreach (var chain in listener.AllChains)
        {
            if (chain.Tls is null)
            {
                plaintext++;
            }
            else if (chain.Tls.RequireClientCertificate)
            {
                mutual++;
            }
            else
            {
                tlsOnly++;
            }

            if (first is null)
            {
                first = chain;
            }
            else if (!string.Equals(first.RbacKey, chain.RbacKey, StringComparison.Ordinal))
            {
                errors.Add($"Listener '{listener.Name}': filter chains '{first.Name}' and '{chain.Name}' carry different RBAC filters; a Mesh server applies one set of policies to all its connections, so give every chain the same RBAC filters");
            }
        }

        if (first is null)
        {
            errors.Add($"Listener '{listener.Name}': has no filter chain; a server listener needs at least one");
            return null;
        }

        PeerAuthenticationMode mode;
        if (plaintext == 0 && tlsOnly == 0)
        {
            mode = PeerAuthenticationMode.Strict;
        }
        else if (mutual == 0 && tlsOnly == 0)
        {
            mode = PeerAuthenticationMode.Disable;
        }
        else if (plaintext > 0)
        {
            mode = PeerAuthenticationMode.Permissive;
        }
        else
        {
            errors.Add($"Listener '{listener.Name}': has TLS filter chains without require_client_certificate and no plaintext chain; the mesh serves mutual TLS only, so set require_client_certificate, or add a raw_buffer chain for PERMISSIVE");
            mode = PeerAuthenticationMode.Strict;
        }

        if (errors.Count != count)
        {
            return null;
        }

        return new Authorization.ServerPolicy(mode, AuthorizationPolicySet.FromRbac(first.Rbac.IsDefault ? ImmutableArray<RbacEngine>.Empty : first.Rbac));
    }
}
