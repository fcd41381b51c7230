using Mesh.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.Http.Tests.Infrastructure;

/// <summary>
/// The client side as an application wires it: <c>services.AddMesh(configuration)</c> and a named
/// <c>HttpClient</c> with base address <c>http://backend</c> and <c>.AddMesh()</c>, in a real service provider.
/// </summary>
internal sealed class MeshClient : IAsyncDisposable
{
    public const string ClientName = "backend";

    private MeshClient(ServiceProvider services)
    {
        Services = services;
        State = services.GetRequiredService<MeshState>();
    }

    public ServiceProvider Services { get; }

    public MeshState State { get; }

    public FakeLogCollector Logs => Services.GetFakeLogCollector();

    public static MeshClient Create(IConfiguration configuration, Action<MeshHttpOptions>? http = null, Action<IServiceCollection>? services = null) =>
        Build(s => s.AddMesh(configuration), http, services);

    public static MeshClient Create(Action<MeshOptions> mesh, Action<MeshHttpOptions>? http = null, Action<IServiceCollection>? services = null) =>
        Build(s => s.AddMesh(mesh), http, services);

    public HttpClient CreateClient() => Services.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName);

    public async ValueTask DisposeAsync() => await Services.DisposeAsync().AsTask().WaitAsync(Timeouts.Default);

    private static MeshClient Build(Action<IServiceCollection> addMesh, Action<MeshHttpOptions>? http, Action<IServiceCollection>? configure)
    {
        var services = new ServiceCollection();
        addMesh(services);
        services.AddHttpClient(ClientName, c =>
            {
                c.BaseAddress = new Uri("http://backend");
                c.Timeout = Timeouts.Default;
            })
            .AddMesh(http);
        services.AddFakeLogging();
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        // Resolving the state builds the first snapshot, as the mesh's hosted service does when an app starts.
        return new MeshClient(provider);
    }
}
