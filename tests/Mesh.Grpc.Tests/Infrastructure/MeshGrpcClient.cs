using Mesh.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Grpc.Tests.Infrastructure;

/// <summary>
/// The client side as an application wires it: <c>services.AddMesh(...)</c> and a <c>TestServiceClient</c> from
/// <c>AddGrpcClient</c> to <c>xds:///greeter.test:50051</c> with <c>.AddMeshGrpc()</c>, in a real service provider.
/// The static configuration can be replaced while calls run (<see cref="Apply"/>), as a reloaded file would.
/// </summary>
internal sealed class MeshGrpcClient : IAsyncDisposable
{
    public const string Host = "greeter.test";
    public const string Address = "xds:///greeter.test:50051";

    private MeshGrpcClient(ServiceProvider services)
    {
        Services = services;
        State = services.GetRequiredService<MeshState>();
        Client = services.GetRequiredService<TestService.TestServiceClient>();
    }

    public ServiceProvider Services { get; }

    public MeshState State { get; }

    public TestService.TestServiceClient Client { get; }

    /// <summary>A client over the static configuration <paramref name="options"/>.</summary>
    public static MeshGrpcClient Create(MeshOptions options, Action<IServiceCollection>? configure = null) =>
        Build(s => s.AddMesh(o => Copy(options, o)), configure);

    /// <summary>A client whose mesh another source (xDS) configures, registered by <paramref name="addMesh"/>.</summary>
    public static MeshGrpcClient Create(Action<IServiceCollection> addMesh, Action<IServiceCollection>? configure = null) =>
        Build(addMesh, configure);

    /// <summary>Publishes a new static configuration, failing the test if it is rejected.</summary>
    public void Apply(MeshOptions options)
    {
        var result = State.Apply(options, "test");
        Assert.That(result.Errors, Is.Empty, "the test's configuration must be valid");
    }

    public async ValueTask DisposeAsync() => await Services.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    private static MeshGrpcClient Build(Action<IServiceCollection> addMesh, Action<IServiceCollection>? configure)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        addMesh(services);
        services.AddGrpcClient<TestService.TestServiceClient>(o => o.Address = new Uri(Address)).AddMeshGrpc();
        configure?.Invoke(services);
        return new MeshGrpcClient(services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));
    }

    private static void Copy(MeshOptions from, MeshOptions to)
    {
        foreach (var (name, service) in from.Services)
        {
            to.Services[name] = service;
        }

        foreach (var (name, cluster) in from.Clusters)
        {
            to.Clusters[name] = cluster;
        }
    }
}
