using System.Collections.Immutable;
using System.Net;
using Mesh.Identity;
using Mesh.Model;

namespace Mesh.Demo;

/// <summary>Kestrel backends, one per endpoint of the mesh configuration, each answering "version address".</summary>
internal sealed class Backends : IAsyncDisposable
{
    private readonly List<WebApplication> _apps;

    private Backends(List<WebApplication> apps) => _apps = apps;

    public int Count => _apps.Count;

    /// <summary>The first backend's own address (for a direct call that bypasses the mesh).</summary>
    public string First { get; private init; } = "";

    /// <summary>A backend per endpoint, answering with the endpoint's <c>version</c> label.</summary>
    public static Task<Backends> StartAsync(ImmutableArray<EndpointModel> endpoints) =>
        StartAsync(endpoints.Select(e => (e.Labels.GetValueOrDefault("version", "-"), e)));

    /// <summary>
    /// A backend per endpoint, answering with the version given for it (xDS endpoints carry no labels) and the
    /// caller's SPIFFE ID when it came over mutual TLS. With <paramref name="secure"/>, the backend gets its
    /// services (a workload identity, the mesh server and its policy) from it and serves mesh TLS on its port.
    /// </summary>
    public static async Task<Backends> StartAsync(IEnumerable<(string Version, EndpointModel Endpoint)> endpoints, Action<IServiceCollection, EndpointModel>? secure = null)
    {
        var apps = new List<WebApplication>();
        string? first = null;
        foreach (var (version, endpoint) in endpoints.DistinctBy(e => e.Endpoint.Key))
        {
            first ??= endpoint.Key;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            if (secure is null)
            {
                builder.WebHost.UseUrls(endpoint.Key);
            }
            else
            {
                secure(builder.Services, endpoint);
                builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(endpoint.Address.Host), endpoint.Address.Port, l => l.UseMeshTls()));
            }

            var app = builder.Build();
            if (secure is not null)
            {
                app.UseMeshIstioMetrics();
                app.UseMeshAuthorization();
            }

            var answer = $"{version} {endpoint.Key}";
            app.MapGet("/{**path}", (HttpContext context) => context.GetPeerIdentity() is { } peer ? $"{answer} {peer}" : answer);
            try
            {
                await app.StartAsync();
                if (secure is not null)
                {
                    // Serve only once the backend holds its certificate, as a readiness probe would.
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await app.Services.GetRequiredService<IWorkloadIdentityProvider>().WaitForIdentityAsync(wait.Token);
                }
            }
            catch (IOException ex)
            {
                throw new InvalidOperationException($"Cannot start the demo backend on {endpoint.Key} ({ex.Message}); free the port or change the address in samples/Mesh.Demo/appsettings.json (or samples/manifests for --xds).", ex);
            }

            apps.Add(app);
        }

        return new Backends(apps) { First = first ?? "" };
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.DisposeAsync();
        }
    }
}
