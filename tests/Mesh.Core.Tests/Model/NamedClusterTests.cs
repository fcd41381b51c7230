using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Core.Tests.Model;

/// <summary>Named clusters (<c>Mesh:Clusters</c>): the unit xDS configuration arrives in.</summary>
public class NamedClusterTests
{
    private const string V1 = "outbound|8080|v1|backend.shop.svc.cluster.local";
    private const string V2 = "outbound|8080|v2|backend.shop.svc.cluster.local";

    [Test]
    public void Build_RouteToNamedClusters_SplitsByWeightAndKeepsClusterSettings()
    {
        // Arrange: a front service with no endpoints of its own, 80/20 over two named clusters.
        var options = Front(80, 20);
        options.Clusters[V2].LoadBalancer = new LoadBalancerOptions { Policy = "LeastRequest" };

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.Clusters.Keys, Is.SupersetOf(new[] { V1, V2 }));
        Assert.That(snapshot.Clusters[V1].PolicyName, Is.EqualTo(LoadBalancingDefaults.RoundRobin));
        Assert.That(snapshot.Clusters[V2].PolicyName, Is.EqualTo(LoadBalancingDefaults.LeastRequest));
        Assert.That(snapshot.TryGetService("backend.shop.svc.cluster.local", out var service), Is.True);
        Assert.That(snapshot.TryGetService(V1, out _), Is.False, "a named cluster is not addressable by host");
        Assert.That(service!.Routes[0].Destinations.Select(d => (d.Cluster.Name, d.Weight)), Is.EqualTo(new[] { (V1, 80), (V2, 20) }));
    }

    [Test]
    public void Build_EmptyNamedCluster_IsValid()
    {
        // Arrange: v2 scaled to zero.
        var options = Front(80, 20);
        options.Clusters[V2].Endpoints.Clear();

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.Clusters[V2].Endpoints, Is.Empty);
    }

    [Test]
    public void Build_UnknownCluster_NamesTheKnownOnes()
    {
        // Arrange
        var options = Front(80, 20);
        options.Services["backend.shop.svc.cluster.local"].Routes[0].Destinations[1].Cluster = "outbound|8080|v3|backend";

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Has.One.EqualTo($"Mesh:Services:backend.shop.svc.cluster.local:Routes[0]:Destinations[1]:Cluster = 'outbound|8080|v3|backend': no such cluster; known clusters are {V1}, {V2}"));
    }

    [Test]
    public void Build_ClusterWithHostOrSubset_IsRejected()
    {
        // Arrange
        var options = Front(80, 20);
        options.Services["backend.shop.svc.cluster.local"].Routes[0].Destinations[0].Subset = "v1";

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Has.One.Contains("Destinations[0]:Cluster").And.Contains("Host and Subset must be omitted"));
    }

    [Test]
    public void Build_InvalidClusterSettings_ReportedUnderTheClusterPath()
    {
        // Arrange
        var options = Front(80, 20);
        options.Clusters[V1].Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:6001" });
        options.Clusters[V1].LoadBalancer = new LoadBalancerOptions { Policy = "Fastest" };

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Has.Some.StartsWith($"Mesh:Clusters:{V1}:Endpoints[1]:Address = 'http://127.0.0.1:6001': duplicates Endpoints[0]"));
        Assert.That(errors, Has.Some.StartsWith($"Mesh:Clusters:{V1}:LoadBalancer:Policy = 'Fastest': unknown load-balancing policy"));
    }

    [Test]
    public void Build_NamedClusterCollidesWithServiceCluster_IsRejected()
    {
        // Arrange
        var options = TestMesh.Service();
        options.Clusters["backend"] = new ClusterOptions();

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Has.One.Contains("which Mesh:Clusters also defines"));
    }

    [Test]
    public void Build_EndpointInTwoClusters_SharesItsRuntimeState()
    {
        // Arrange: Istio's outbound|8080||host cluster holds the endpoints of both subsets.
        var options = Front(1, 1);
        var all = new ClusterOptions();
        all.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:6001" });
        options.Clusters["outbound|8080||backend.shop.svc.cluster.local"] = all;

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.Clusters["outbound|8080||backend.shop.svc.cluster.local"].Endpoints[0].State, Is.SameAs(snapshot.Clusters[V1].Endpoints[0].State));
    }

    private static MeshOptions Front(int v1, int v2)
    {
        var options = new MeshOptions();
        var one = new ClusterOptions();
        one.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:6001" });
        var two = new ClusterOptions();
        two.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:6002" });
        options.Clusters[V1] = one;
        options.Clusters[V2] = two;
        var route = new RouteOptions();
        route.Destinations.Add(new DestinationOptions { Cluster = V1, Weight = v1 });
        route.Destinations.Add(new DestinationOptions { Cluster = V2, Weight = v2 });
        var service = new ServiceOptions();
        service.Routes.Add(route);
        options.Services["backend.shop.svc.cluster.local"] = service;
        return options;
    }
}
