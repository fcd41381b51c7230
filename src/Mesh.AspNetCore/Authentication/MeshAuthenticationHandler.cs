using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Authentication;

/// <summary>
/// Authenticates a request by its connection's mTLS peer: the SPIFFE ID validated at the handshake becomes the
/// user's name and claims. A plaintext request gets no result (anonymous), not a failure.
/// </summary>
internal sealed class MeshAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var id = Context.GetPeerIdentity();
        if (id is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var claims = new List<Claim>(5)
        {
            new(ClaimTypes.NameIdentifier, id.Value, ClaimValueTypes.String, ClaimsIssuer),
            new(MeshAuthenticationDefaults.SpiffeIdClaimType, id.Value, ClaimValueTypes.String, ClaimsIssuer),
            new(MeshAuthenticationDefaults.TrustDomainClaimType, id.TrustDomain, ClaimValueTypes.String, ClaimsIssuer),
        };
        if (id.Namespace is { } ns && id.ServiceAccount is { } sa)
        {
            claims.Add(new(MeshAuthenticationDefaults.NamespaceClaimType, ns, ClaimValueTypes.String, ClaimsIssuer));
            claims.Add(new(MeshAuthenticationDefaults.ServiceAccountClaimType, sa, ClaimValueTypes.String, ClaimsIssuer));
        }

        var identity = new ClaimsIdentity(claims, Scheme.Name, MeshAuthenticationDefaults.SpiffeIdClaimType, ClaimTypes.Role);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }
}
