using Mesh;
using Mesh.Http;
using Mesh.Telemetry;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the mesh to <c>HttpClient</c>s made by <c>IHttpClientFactory</c>.</summary>
public static class MeshHttpClientBuilderExtensions
{
    /// <summary>
    /// Routes and load-balances this client's requests to mesh services: a request to <c>http://backend/...</c>
    /// goes to an endpoint of the mesh service <c>backend</c>. Call <c>services.AddMesh(...)</c> as well.
    /// </summary>
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
                sp.GetService<IstioMetrics>());
        });
        return builder;
    }
}
