using System.Diagnostics;
using System.Globalization;
using Mesh.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Authorization;

/// <summary>
/// Enforces the server's authorization policies on each request, with the connection's mTLS peer as the
/// principal. A denied HTTP request gets 403; a denied gRPC call gets <c>PERMISSION_DENIED</c> (status 7).
/// The request's server span (ASP.NET Core's activity, when recorded) gets the peer's SPIFFE ID and, on a
/// denial, the policy that decided it.
/// </summary>
internal sealed partial class MeshAuthorizationMiddleware(RequestDelegate next, IServerPolicySource source, ILogger<MeshAuthorizationMiddleware> logger)
{
    private const string GrpcContentType = "application/grpc";
    private const string PlaintextPeer = "(plaintext)";
    private const int PermissionDenied = 7;

    /// <summary>The span attribute with the mTLS peer's SPIFFE ID (Istio's <c>source_principal</c>).</summary>
    internal const string PeerTag = "mesh.peer.spiffe_id";

    /// <summary>The span attribute naming the policy that denied the request.</summary>
    internal const string DeniedByTag = "mesh.authorization.denied_by";

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.PathBase.HasValue ? (request.PathBase + request.Path).Value! : request.Path.Value ?? "/";
        var peer = context.GetPeerIdentity();
        var activity = Activity.Current;
        if (peer is not null && activity is { IsAllDataRequested: true })
        {
            activity.SetTag(PeerTag, peer.Value);
        }

        var decision = source.Current.Authorization.Evaluate(peer, request.Method, path);
        if (decision.Allowed)
        {
            return next(context);
        }

        activity?.SetTag(DeniedByTag, decision.PolicyName ?? "(no ALLOW policy matched)");
        Log.Denied(logger, decision.PolicyName ?? "(no ALLOW policy matched)", peer?.Value ?? PlaintextPeer, request.Method, path, decision.Reason);
        return DenyAsync(context, decision);
    }

    private static Task DenyAsync(HttpContext context, AuthorizationDecision decision)
    {
        var response = context.Response;
        var message = "RBAC: access denied (" + decision.Reason + ")";
        if (context.Request.ContentType is { } type && type.StartsWith(GrpcContentType, StringComparison.OrdinalIgnoreCase))
        {
            // A trailers-only gRPC response: HTTP 200 with the status in the headers, as gRPC over HTTP/2 requires.
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = GrpcContentType;
            response.Headers["grpc-status"] = PermissionDenied.ToString(CultureInfo.InvariantCulture);
            response.Headers["grpc-message"] = Uri.EscapeDataString(message);
            return Task.CompletedTask;
        }

        response.StatusCode = StatusCodes.Status403Forbidden;
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync(message + "\n", context.RequestAborted);
    }
}
