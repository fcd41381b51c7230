using Mesh;
using Mesh.Http;
using Mesh.Http.Security;
using Mesh.Identity;
using Mesh.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the mesh to <c>HttpClient</c>s made by <c>IHttpClientFactory</c>.</summary>
public static class MeshHttpClientBuilderExtensions
{
    /// <summary>
    /// Routes and load-balances this client's requests to mesh services: a request to <c>http://backend/...</c>
    /// goes to an endpoint of the mesh service <c>backend</c>. Call <c>services.AddMesh(...)</c> as well.
    /// </summary>
    /// <remarks>
    /// The client's primary handler becomes a <see cref="System.Net.Http.SocketsHttpHandler"/> (an existing one is kept) whose TLS
    /// settings the mesh configures once: requests to clusters with <c>Tls</c> go to <c>https://</c> endpoints, the server must
    /// pass the cluster's policy against the workload's trust bundle, and with mutual TLS the workload's current certificate
    /// (from the registered <see cref="IWorkloadIdentityProvider"/>) is presented on every new connection. Such a request is
    /// never sent in plaintext: without an identity it fails. SocketsHttpHandler pools connections by scheme, host, port and
    /// SNI; clusters that reach the same endpoint with different TLS settings should set different <c>Tls:Sni</c> values, so
    /// a connection checked for one cluster's expected server names is not reused for the other's.
    /// </remarks>
    /// <example><code>
    /// builder.Services.AddMesh(builder.Configuration);
    /// builder.Services.AddHttpClient("backend", c => c.BaseAddress = new("http://backend")).AddMesh();
    /// </code></example>
    public static IHttpClientBuilder AddMesh(this IHttpClientBuilder builder, Action<MeshHttpOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (configure is not null)
        {
            builder.Services.Configure(builder.Name, configure);
        }

        var name = builder.Name;
        builder.AddHttpMessageHandler(sp =>
        {
            var state = sp.GetService<MeshState>()
                ?? throw new InvalidOperationException($"HttpClient '{name}' uses the mesh, but the mesh is not registered; call services.AddMesh(configuration) (or another AddMesh overload) at startup.");
            return new MeshHttpHandler(
                state,
                sp.GetRequiredService<MeshTelemetry>(),
                sp.GetRequiredService<IOptionsMonitor<MeshHttpOptions>>().Get(name),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetService<MeshRandom>()?.Random,
                sp.GetService<IstioMetrics>(),
                sp.GetService<IWorkloadIdentityProvider>());
        });
        builder.UseSocketsHttpHandler((handler, sp) => ClientTlsHandlerSetup.Configure(
            handler,
            sp.GetService<MeshState>(),
            sp.GetService<IWorkloadIdentityProvider>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetService<ILoggerFactory>()?.CreateLogger("Mesh.Http.ClientTls") ?? NullLogger.Instance));
        return builder;
    }
}
