using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Core.Tests.DependencyInjection;

public class MeshServiceCollectionExtensionsTests
{
    [Test]
    public void AddMesh_ActionOptions_SnapshotFromCode()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh(o => o.Services["backend"] = new ServiceOptions
        {
            Endpoints = { new() { Address = "http://127.0.0.1:5001", Labels = { ["version"] = "v1" } } },
            Subsets = { ["v1"] = new() { ["version"] = "v1" } },
        });
        using var provider = services.BuildServiceProvider();

        // Act
        var snapshot = provider.GetRequiredService<MeshState>().Current;

        // Assert
        Assert.That((snapshot.Version, snapshot.Source), Is.EqualTo((1L, "code (AddMesh(Action<MeshOptions>))")));
        Assert.That(snapshot.Clusters.Keys, Is.EquivalentTo(new[] { "backend", "backend/v1" }));
    }

    [Test]
    public void AddMesh_InvalidActionOptions_ThrowsOnFirstUse()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh(o => o.Services["backend"] = new ServiceOptions
        {
            Endpoints = { new() { Address = "http://127.0.0.1:5001", Weight = 0 }, new() { Address = "http://127.0.0.1:5002" } },
        });
        using var provider = services.BuildServiceProvider();

        // Act
        var exception = Assert.Throws<MeshConfigurationException>(() => provider.GetRequiredService<MeshState>());

        // Assert
        Assert.That(exception!.Errors, Is.EqualTo(new[] { "Mesh:Services:backend:Endpoints[0]:Weight = 0: must be >= 1" }));
    }

    [Test]
    public void AddMesh_ConfigurationSection_ReadsThatSectionWithItsPath()
    {
        // Arrange: a section other than "Mesh" is read itself, and its path names errors and the source.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Apps:Mesh2:Services:backend:Endpoints:0:Address"] = "http://127.0.0.1:5001",
            ["Apps:Mesh2:Services:backend:Endpoints:0:Weigth"] = "2",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh(configuration.GetSection("Apps:Mesh2"));
        using var provider = services.BuildServiceProvider();

        // Act
        var exception = Assert.Throws<MeshConfigurationException>(() => provider.GetRequiredService<MeshState>());

        // Assert
        Assert.That(exception!.Message, Does.StartWith("The mesh configuration from configuration section 'Apps:Mesh2' is invalid (1 error):"));
        Assert.That(exception.Errors.Single(), Does.StartWith("Apps:Mesh2:Services:backend:Endpoints[0]:Weigth: unknown setting"));
    }

    [Test]
    public void AddMesh_NoSource_EmptySnapshot()
    {
        // Arrange: another package (the xDS client) supplies the configuration later.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh();
        using var provider = services.BuildServiceProvider();

        // Act
        var snapshot = provider.GetRequiredService<MeshState>().Current;

        // Assert
        Assert.That(snapshot, Is.SameAs(MeshSnapshot.Empty));
    }

    [Test]
    public void AddMesh_CalledTwice_BuiltInPoliciesRegisteredOnce()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddLogging();

        // Act
        services.AddMesh();
        services.AddMesh();
        using var provider = services.BuildServiceProvider();

        // Assert
        Assert.That(provider.GetServices<LoadBalancingPolicy>().Select(p => p.Name), Is.EquivalentTo(new[]
        {
            LoadBalancingDefaults.RoundRobin, LoadBalancingDefaults.Random, LoadBalancingDefaults.WeightedRoundRobin,
            LoadBalancingDefaults.WeightedRandom, LoadBalancingDefaults.LeastRequest, LoadBalancingDefaults.RingHash, LoadBalancingDefaults.Maglev,
        }));
    }

    [Test]
    public void AddLoadBalancingPolicy_CustomPolicy_SelectableByName()
    {
        // Arrange
        var data = ReloadableConfiguration.Backend(5001, 5002, 5003);
        data.Add(new("Mesh:Services:backend:LoadBalancer:Policy", "last"));
        var configuration = new ReloadableConfiguration(data);
        using var provider = configuration.Services(mesh => mesh.AddLoadBalancingPolicy<LastEndpointPolicy>()).BuildServiceProvider();

        // Act
        var cluster = provider.GetRequiredService<MeshState>().Current.Clusters["backend"];

        // Assert
        var request = TestRequest.Get("/");
        Assert.That(cluster.PolicyName, Is.EqualTo("Last"));
        Assert.That(Enumerable.Range(0, 10).Select(_ => cluster.Pick(ref request)!.Port).Distinct(), Is.EqualTo(new[] { 5003 }));
    }

    [Test]
    public void AddLoadBalancingPolicy_UnknownPolicy_ErrorListsCustomPolicies()
    {
        // Arrange
        var data = ReloadableConfiguration.Backend(5001);
        data.Add(new("Mesh:Services:backend:LoadBalancer:Policy", "First"));
        var configuration = new ReloadableConfiguration(data);
        using var provider = configuration.Services(mesh => mesh.AddLoadBalancingPolicy<LastEndpointPolicy>()).BuildServiceProvider();

        // Act
        var exception = Assert.Throws<MeshConfigurationException>(() => provider.GetRequiredService<MeshState>());

        // Assert
        Assert.That(exception!.Errors, Is.EqualTo(new[]
        {
            "Mesh:Services:backend:LoadBalancer:Policy = 'First': unknown load-balancing policy; valid policies are Last, LeastRequest, Maglev, Random, RingHash, RoundRobin, WeightedRandom, WeightedRoundRobin",
        }));
    }

    [Test]
    public void StartAsync_InvalidConfiguration_HostStartFailsWithEveryError()
    {
        // Arrange: the hosted validator builds the first snapshot when the host starts.
        var configuration = new ReloadableConfiguration(
        [
            new("Mesh:Services:backend:Endpoints:0:Address", "http://127.0.0.1:5001"),
            new("Mesh:Services:backend:Endpoints:0:Weight", "-1"),
            new("Mesh:Services:backend:Routes:0:Match:0:Path", "orders"),
            new("Mesh:Services:backend:Routes:0:Destinations:0:Subset", "v1"),
        ]);
        using var provider = configuration.Services().BuildServiceProvider();
        var hostedServices = provider.GetServices<IHostedService>().ToArray();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        // Act
        var exception = Assert.ThrowsAsync<MeshConfigurationException>(async () =>
        {
            foreach (var hosted in hostedServices)
            {
                await hosted.StartAsync(timeout.Token).WaitAsync(timeout.Token);
            }
        });

        // Assert
        Assert.That(hostedServices, Has.Length.EqualTo(1));
        Assert.That(exception!.Errors, Is.EqualTo(new[]
        {
            "Mesh:Services:backend:Endpoints[0]:Weight = -1: must be >= 1",
            "Mesh:Services:backend:Routes[0]:Match[0]:Path = 'orders': must start with '/', e.g. '/orders'",
            "Mesh:Services:backend:Routes[0]:Destinations[0]:Subset = 'v1': service 'backend' has no such subset; it defines no Subsets",
        }));
    }

    [Test]
    public void AddMesh_MeshRandomRegistered_PoliciesUseIt()
    {
        // Arrange: a registered MeshRandom replaces Random.Shared, so round robin starts where the seed says.
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001, 5002, 5003, 5004, 5005));
        var services = configuration.Services();
        services.AddSingleton(new MeshRandom(new FixedRandom(3)));
        using var provider = services.BuildServiceProvider();
        var cluster = provider.GetRequiredService<MeshState>().Current.Clusters["backend"];
        var request = TestRequest.Get("/");

        // Act
        var first = cluster.Pick(ref request);

        // Assert
        Assert.That(first!.Port, Is.EqualTo(5004));
    }

    private sealed class LastEndpointPolicy : LoadBalancingPolicy
    {
        public override string Name => "Last";

        public override EndpointPicker CreatePicker(LoadBalancingContext context) => new Picker(context.Endpoints[^1]);

        private sealed class Picker(EndpointModel endpoint) : EndpointPicker
        {
            public override EndpointModel? Pick(in PickContext context) => endpoint;
        }
    }
}
