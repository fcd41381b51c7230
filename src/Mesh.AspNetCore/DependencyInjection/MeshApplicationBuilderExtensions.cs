using Mesh.AspNetCore.Authorization;
using Mesh.Authorization;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds mesh authorization to the request pipeline.</summary>
public static class MeshApplicationBuilderExtensions
{
    /// <summary>
    /// Enforces the server's authorization policies (<see cref="IServerPolicySource"/>) on every request, with the
    /// mTLS peer's SPIFFE ID as the principal: a denied HTTP request gets 403, a denied gRPC call
    /// <c>PERMISSION_DENIED</c>, and one log line names the policy, the peer and the path. Place it before the
    /// endpoints it protects. Requires <c>AddMeshServer()</c>.
    /// </summary>
    public static IApplicationBuilder UseMeshAuthorization(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<MeshAuthorizationMiddleware>();
    }
}
