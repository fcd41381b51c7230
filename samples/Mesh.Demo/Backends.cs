using System.Collections.Immutable;
using Mesh.Model;

namespace Mesh.Demo;

/// <summary>Kestrel backends, one per endpoint of the mesh configuration, each answering "version address".</summary>
internal sealed class Backends : IAsyncDisposable
{
    private readonly List<WebApplication> _apps;

    private Backends(List<WebApplication> apps) => _apps = apps;

    public int Count => _apps.Count;

    /// <summary>A backend per endpoint, answering with the endpoint's <c>version</c> label.</summary>
    public static Task<Backends> StartAsync(ImmutableArray<EndpointModel> endpoints) =>
        StartAsync(endpoints.Select(e => (e.Labels.GetValueOrDefault("version", "-"), e)));

    /// <summary>A backend per endpoint, answering with the version given for it (xDS endpoints carry no labels).</summary>
    public static async Task<Backends> StartAsync(IEnumerable<(string Version, EndpointModel Endpoint)> endpoints)
    {
        var apps = new List<WebApplication>();
        foreach (var (version, endpoint) in endpoints.DistinctBy(e => e.Endpoint.Key))
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls(endpoint.Key);
            var app = builder.Build();
            var answer = $"{version} {endpoint.Key}";
            app.MapGet("/{**path}", () => answer);
            try
            {
                await app.StartAsync();
            }
            catch (IOException ex)
            {
                throw new InvalidOperationException($"Cannot start the demo backend on {endpoint.Key} ({ex.Message}); free the port or change the address in samples/Mesh.Demo/appsettings.json (or samples/manifests for --xds).", ex);
            }

            apps.Add(app);
        }

        return new Backends(apps);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.DisposeAsync();
        }
    }
}
