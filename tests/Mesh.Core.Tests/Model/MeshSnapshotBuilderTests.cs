using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Core.Tests.Model;

public class MeshSnapshotBuilderTests
{
    [Test]
    public void Build_ServiceWithSubsets_ClusterPerServiceAndSubset()
    {
        // Arrange: four endpoints, versions v1, v2, v1, v2.
        var options = TestMesh.Service(count: 4, configure: s =>
        {
            s.Subsets["v1"] = new() { ["version"] = "v1" };
            s.Subsets["v2"] = new() { ["version"] = "v2" };
            s.LoadBalancer = new LoadBalancerOptions { Policy = "leastrequest" };
        });

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.Clusters.Keys, Is.EquivalentTo(new[] { "backend", "backend/v1", "backend/v2" }));
        Assert.That(snapshot.Clusters["backend"].Endpoints.Select(e => e.Key), Is.EqualTo(new[] { "http://127.0.0.1:5001", "http://127.0.0.1:5002", "http://127.0.0.1:5003", "http://127.0.0.1:5004" }));
        Assert.That(snapshot.Clusters["backend/v1"].Endpoints.Select(e => e.Port), Is.EqualTo(new[] { 5001, 5003 }));
        Assert.That(snapshot.Clusters["backend/v2"].Endpoints.Select(e => e.Port), Is.EqualTo(new[] { 5002, 5004 }));
        Assert.That(snapshot.Clusters.Values.Select(c => c.PolicyName), Has.All.EqualTo(LoadBalancingDefaults.LeastRequest));
        Assert.That(snapshot.Clusters["backend/v1"].Endpoints[0], Is.SameAs(snapshot.Clusters["backend"].Endpoints[0]));
    }

    [Test]
    public void Build_NoLoadBalancer_DefaultsToRoundRobin()
    {
        // Act
        var snapshot = TestMesh.BuildValid(TestMesh.Service());

        // Assert
        Assert.That(snapshot.Clusters["backend"].PolicyName, Is.EqualTo(LoadBalancingDefaults.RoundRobin));
        Assert.That(snapshot.Clusters["backend"].Picker, Is.TypeOf<RoundRobinPolicy.Picker>());
    }

    [Test]
    public void Build_HostAliases_ResolveToTheServiceIgnoringCase()
    {
        // Arrange
        var options = TestMesh.Service(configure: s => s.Hosts.Add("backend.shop.svc.cluster.local"));

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.TryGetService("BACKEND.shop.svc.cluster.local", out var byAlias), Is.True);
        Assert.That(snapshot.TryGetService("Backend", out var byName), Is.True);
        Assert.That(byAlias, Is.SameAs(byName));
        Assert.That(byName!.Hosts, Is.EqualTo(new[] { "backend", "backend.shop.svc.cluster.local" }));
        Assert.That(snapshot.TryGetService("orders", out _), Is.False);
        Assert.That(snapshot.Services, Has.Count.EqualTo(1));
    }

    [Test]
    public void Build_Endpoint_AddressNormalizedAndSettingsKept()
    {
        // Arrange
        var options = new MeshOptions
        {
            Services =
            {
                ["backend"] = new ServiceOptions
                {
                    Endpoints = { new() { Address = "HTTP://LocalHost:5001", Weight = 3, Locality = "eu/zone-a", Health = EndpointHealth.Unknown, Labels = { ["version"] = "v1" } } },
                },
            },
        };

        // Act
        var endpoint = TestMesh.BuildValid(options).Clusters["backend"].Endpoints.Single();

        // Assert
        Assert.That(endpoint.Key, Is.EqualTo("http://localhost:5001"));
        Assert.That(endpoint.Address, Is.EqualTo(new Uri("http://localhost:5001/")));
        Assert.That((endpoint.Host, endpoint.Port, endpoint.Weight, endpoint.Locality), Is.EqualTo(("localhost", 5001, 3, "eu/zone-a")));
        Assert.That(endpoint.Labels["version"], Is.EqualTo("v1"));
        Assert.That(endpoint.IsUsable, Is.True);
    }

    [Test]
    public void Build_UnusableEndpoints_KeptInClusterButNotCountedUsable()
    {
        // Arrange
        var options = TestMesh.Service(count: 3, configure: s => s.Endpoints[1].Health = EndpointHealth.Draining);

        // Act
        var cluster = TestMesh.BuildValid(options).Clusters["backend"];

        // Assert
        Assert.That(cluster.Endpoints, Has.Length.EqualTo(3));
        Assert.That(cluster.UsableCount, Is.EqualTo(2));
        Assert.That(cluster.ToString(), Is.EqualTo("backend (2/3 usable, RoundRobin)"));
    }

    [Test]
    public void Build_PreviousStates_KeptForRemainingEndpointsNewForNewOnes()
    {
        // Arrange: a first build, then the same service with :5002 removed and :5003 added.
        var first = TestMesh.Build(TestMesh.Service(count: 2));
        var kept = first.EndpointStates["http://127.0.0.1:5001"];
        kept.OnRequestStarted();
        var options = TestMesh.Service(count: 3);
        options.Services["backend"].Endpoints.RemoveAt(1);

        // Act
        var second = TestMesh.Build(options, previous: first.EndpointStates);

        // Assert
        var endpoints = second.Snapshot!.Clusters["backend"].Endpoints;
        Assert.That(endpoints[0].State, Is.SameAs(kept));
        Assert.That(endpoints[0].State.InFlight, Is.EqualTo(1));
        Assert.That(endpoints[1].Key, Is.EqualTo("http://127.0.0.1:5003"));
        Assert.That(first.EndpointStates.Values, Has.None.SameAs(endpoints[1].State));
        Assert.That(second.EndpointStates.Keys, Is.EquivalentTo(new[] { "http://127.0.0.1:5001", "http://127.0.0.1:5003" }));
    }

    [Test]
    public void Build_SameAddressInTwoServices_OneStatePerAddress()
    {
        // Arrange: runtime state describes the server, so two services that list it share it.
        var options = TestMesh.Service(count: 1);
        options.Services["admin"] = new ServiceOptions { Endpoints = { new() { Address = "http://127.0.0.1:5001/" } } };

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.Clusters["admin"].Endpoints[0].State, Is.SameAs(snapshot.Clusters["backend"].Endpoints[0].State));
    }

    [Test]
    public void Build_VersionAndSource_CarriedIntoTheSnapshot()
    {
        // Arrange
        var builder = new MeshSnapshotBuilder(TestMesh.Policies(), new Random(42));

        // Act
        var snapshot = builder.Build(TestMesh.Service(), "unit test", 7, new Dictionary<string, EndpointState>()).Snapshot!;

        // Assert
        Assert.That((snapshot.Version, snapshot.Source), Is.EqualTo((7L, "unit test")));
        Assert.That(snapshot.ToString(), Is.EqualTo("v7 from unit test: 1 service(s), 1 cluster(s)"));
        Assert.That(MeshSnapshot.Empty.Version, Is.Zero);
    }

    [Test]
    public void Build_DestinationInAnotherService_RoutesToItsSubsetCluster()
    {
        // Arrange: frontend has no endpoints of its own and sends everything to backend's v2 subset.
        var options = TestMesh.Service(count: 2, configure: s => s.Subsets["v2"] = new() { ["version"] = "v2" });
        options.Services["frontend"] = new ServiceOptions { Routes = { new RouteOptions { Destinations = { new() { Host = "BACKEND", Subset = "v2" } } } } };

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.TryGetService("frontend", out var frontend), Is.True);
        Assert.That(frontend!.Routes.Single().PickCluster(), Is.SameAs(snapshot.Clusters["backend/v2"]));
        Assert.That(snapshot.Clusters["frontend"].Endpoints, Is.Empty);
        Assert.That(snapshot.Clusters["frontend"].DescribeUnavailability(), Is.EqualTo("cluster 'frontend' has no endpoints"));
    }

    [Test]
    public void Build_CustomPolicyThatThrows_ClusterWithoutPicks()
    {
        // Arrange: a failing custom policy must not take the whole build down.
        var builder = new MeshSnapshotBuilder([.. TestMesh.Policies(), new ThrowingPolicy()], new Random(42));
        var options = TestMesh.Service(configure: s => s.LoadBalancer = new LoadBalancerOptions { Policy = "Throwing" });

        // Act
        var result = builder.Build(options, "test", 1, new Dictionary<string, EndpointState>());

        // Assert
        var cluster = result.Snapshot!.Clusters["backend"];
        var request = TestRequest.Get("/");
        Assert.That(cluster.PolicyName, Is.EqualTo("Throwing"));
        Assert.That(cluster.Pick(ref request), Is.Null);
    }

    [Test]
    public void PolicyNames_CustomPolicyWithBuiltInName_ReplacesTheBuiltIn()
    {
        // Arrange: the last registration of a name wins, so an application can replace a built-in.
        var custom = new NamedPolicy("roundrobin");
        var builder = new MeshSnapshotBuilder([.. TestMesh.Policies(), custom], new Random(42));

        // Act
        var cluster = builder.Build(TestMesh.Service(), "test", 1, new Dictionary<string, EndpointState>()).Snapshot!.Clusters["backend"];

        // Assert
        Assert.That(cluster.PolicyName, Is.EqualTo("roundrobin"));
        Assert.That(builder.PolicyNames, Has.Exactly(1).EqualTo("roundrobin").IgnoreCase);
    }

    private sealed class ThrowingPolicy : LoadBalancingPolicy
    {
        public override string Name => "Throwing";

        public override EndpointPicker CreatePicker(LoadBalancingContext context) => throw new InvalidOperationException("broken");
    }

    private sealed class NamedPolicy(string name) : LoadBalancingPolicy
    {
        public override string Name => name;

        public override EndpointPicker CreatePicker(LoadBalancingContext context) => new RoundRobinPolicy().CreatePicker(context);
    }
}
