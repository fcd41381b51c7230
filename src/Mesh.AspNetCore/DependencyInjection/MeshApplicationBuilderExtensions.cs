using Mesh.AspNetCore.Authorization;
using Mesh.AspNetCore.Telemetry;
using Mesh.Authorization;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds mesh authorization and Istio's server-side metrics to the request pipeline.</summary>
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

    /// <summary>
    /// Records Istio's standard metrics for every request this workload serves, with <c>reporter="destination"</c>
    /// as Envoy's server sidecar does, so Istio's dashboards and Kiali see the inbound side of proxyless workloads:
    /// <c>istio_requests_total</c>, <c>istio_request_duration_milliseconds</c>, <c>istio_request_bytes</c> and
    /// <c>istio_response_bytes</c> (the bodies as they pass), with this workload as destination (the
    /// <see cref="IstioMetricsOptions"/>), the mTLS peer as <c>source_principal</c> and its namespace, and
    /// <c>connection_security_policy</c> <c>mutual_tls</c> or <c>none</c>. Place it first, so requests that
    /// authorization denies are counted too. Requires <c>services.AddMesh().AddIstioMetrics(...)</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Istio's metrics are not registered.</exception>
    public static IApplicationBuilder UseMeshIstioMetrics(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.ApplicationServices.GetService<IstioMetrics>() is null)
        {
            throw new InvalidOperationException("UseMeshIstioMetrics() needs Istio's metrics registered: call services.AddMesh().AddIstioMetrics(o => o.SourceWorkload = \"...\") at startup (the options name this workload).");
        }

        return app.UseMiddleware<MeshIstioMetricsMiddleware>();
    }
}
