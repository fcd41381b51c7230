using Envoy.Config.Route.V3;
using Mesh.Xds.Resources;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class XdsConfigSourceTests
{
    private const string OtherTarget = "orders.shop.svc.cluster.local:9090";
    private ResourceWatchSourceFake _xds = null!;
    private ServiceProvider _provider = null!;
    private XdsConfigSource _source = null!;
    private MeshState _state = null!;

    private static XdsListenerResourceType Lds => XdsResourceTypes.Listener;

    private static XdsRouteConfigurationResourceType Rds => XdsResourceTypes.RouteConfiguration;

    private static XdsClusterResourceType Cds => XdsResourceTypes.Cluster;

    private static XdsEndpointsResourceType Eds => XdsResourceTypes.Endpoints;

    private static RouteConfiguration CanaryRoutes() => NewRouteConfig(Target, NewVirtualHost(
        NewRoute(Prefix().WithHeader(new HeaderMatcher { Name = "x-canary", ExactMatch = "1" }), ToCluster(V2), "canary"),
        NewRoute(Prefix(), Split((V1, 80), (V2, 20)), "default")));

    [SetUp]
    public void SetUp() => Start(Target);

    [TearDown]
    public void TearDown()
    {
        _source.Dispose();
        _provider.Dispose();
    }

    private void Start(params string[] targets)
    {
        _xds = new ResourceWatchSourceFake();
        _source = new XdsConfigSource(_xds, targets.Select(t => XdsTarget.TryParse(t, out var target, out _) ? target : null!), "xDS server test", NullLogger<XdsConfigSource>.Instance);
        (_provider, _state) = ResourceMesh.Create(_source);
        _xds.Flush();
    }

    private void Restart(params string[] targets)
    {
        TearDown();
        Start(targets);
    }

    /// <summary>Sends the whole canary tree: listener, routes, both clusters and their endpoints.</summary>
    private void SendCanaryTree()
    {
        _xds.Set(Lds, NewListener());
        _xds.Set(Rds, CanaryRoutes());
        _xds.SetAll(Cds, EdsCluster(V1), EdsCluster(V2));
        _xds.SetAll(Eds, Assignment(V1, "10.0.0.1:8080"), Assignment(V2, "10.0.1.1:8080"));
    }

    [Test]
    public void Start_WatchesTheListenerOfEachTarget()
    {
        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_xds.Watched(Lds), Is.EqualTo(new[] { Target }));
            Assert.That(_xds.Watched(Rds), Is.Empty);
            Assert.That(_state.Current.Version, Is.Zero);
        });
    }

    [Test]
    public void Update_PartialTree_IsNotPublishedUntilTheLastEndpointsArrive()
    {
        // Act and Assert: each level leads to the next watch; nothing is published before the tree is complete.
        _xds.Set(Lds, NewListener());
        Assert.That(_xds.Watched(Rds), Is.EqualTo(new[] { Target }));

        _xds.Set(Rds, CanaryRoutes());
        Assert.That(_xds.Watched(Cds), Is.EqualTo(new[] { V1, V2 }));

        _xds.SetAll(Cds, EdsCluster(V1), EdsCluster(V2, "backend-v2"));
        Assert.That(_xds.Watched(Eds), Is.EqualTo(new[] { "backend-v2", V1 }));

        _xds.Set(Eds, Assignment(V1, "10.0.0.1:8080"));
        Assert.Multiple(() =>
        {
            Assert.That(_state.Current.Version, Is.Zero, "v2's endpoints are still missing");
            Assert.That(_source.FirstConfiguration.IsCompleted, Is.False);
        });

        _xds.Set(Eds, Assignment("backend-v2", "10.0.1.1:8080"));
        var snapshot = _state.Current;
        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Version, Is.EqualTo(1));
            Assert.That(snapshot.Source, Is.EqualTo("xDS server test"));
            Assert.That(ResourceTestRequest.Get("/", new() { ["x-canary"] = "1" }).RouteIn(snapshot, Host)!.PickCluster().Name, Is.EqualTo(V2));
            Assert.That(ResourceTestRequest.Get("/").RouteIn(snapshot, Host)!.Name, Is.EqualTo("default"));
            Assert.That(snapshot.Clusters[V2].Endpoints.Single().Address, Is.EqualTo(new Uri("http://10.0.1.1:8080")));
            Assert.That(_source.FirstConfiguration.IsCompletedSuccessfully, Is.True);
        });
    }

    [Test]
    public void Update_RouteToAClusterNotYetReceived_IsNotPublished()
    {
        // Arrange
        SendCanaryTree();
        const string V3 = "outbound|8080|v3|backend.shop.svc.cluster.local";

        // Act
        _xds.Set(Rds, NewRouteConfig(Target, NewVirtualHost(NewRoute(Prefix(), Split((V1, 50), (V3, 50))))));

        // Assert: v3 is watched but the old tree stays (v2 too) until v3 and its endpoints arrive.
        Assert.Multiple(() =>
        {
            Assert.That(_xds.Watched(Cds), Is.EqualTo(new[] { V1, V2, V3 }));
            Assert.That(_state.Current.Version, Is.EqualTo(1));
        });

        _xds.Set(Cds, EdsCluster(V3));
        Assert.That(_state.Current.Version, Is.EqualTo(1));

        _xds.Set(Eds, Assignment(V3, "10.0.3.1:8080"));
        Assert.Multiple(() =>
        {
            Assert.That(_state.Current.Version, Is.EqualTo(2));
            Assert.That(_xds.Watched(Cds), Is.EqualTo(new[] { V1, V3 }), "v2 leaves with the complete configuration that no longer uses it");
            Assert.That(_state.Current.Clusters.Keys, Does.Contain(V3).And.Not.Contain(V2));
        });
    }

    [Test]
    public void Update_ClusterRemovedFromRoutes_IsUnwatchedWithItsEndpoints()
    {
        // Arrange
        SendCanaryTree();

        // Act
        _xds.Set(Rds, NewRouteConfig(Target, NewVirtualHost(NewRoute(Prefix(), ToCluster(V1)))));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_xds.Watched(Cds), Is.EqualTo(new[] { V1 }));
            Assert.That(_xds.Watched(Eds), Is.EqualTo(new[] { V1 }));
            Assert.That(_state.Current.Version, Is.EqualTo(2));
            Assert.That(_state.Current.Clusters.ContainsKey(V2), Is.False);
        });
    }

    [Test]
    public void Update_EndpointChange_Republishes()
    {
        // Arrange
        SendCanaryTree();

        // Act
        _xds.Set(Eds, Assignment(V1, "10.0.0.1:8080", "10.0.0.9:8080"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_state.Current.Version, Is.EqualTo(2));
            Assert.That(_state.Current.Clusters[V1].Endpoints.Select(e => e.Address.Port), Is.EqualTo(new[] { 8080, 8080 }));
            Assert.That(_state.Current.Clusters[V1].Endpoints, Has.Length.EqualTo(2));
        });
    }

    [Test]
    public void Update_ClusterThatDoesNotExist_PublishesWithItsRoutesFailing()
    {
        // Arrange
        _xds.Set(Lds, NewListener());
        _xds.Set(Rds, CanaryRoutes());
        _xds.Set(Cds, EdsCluster(V1));
        _xds.Set(Eds, Assignment(V1, "10.0.0.1:8080"));

        // Act
        _xds.Remove(Cds, V2);

        // Assert
        var snapshot = _state.Current;
        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Version, Is.EqualTo(1));
            Assert.That(snapshot.Clusters[V2].Endpoints, Is.Empty);
            Assert.That(snapshot.Clusters[V1].Endpoints, Has.Length.EqualTo(1));
        });
    }

    [Test]
    public void Update_EndpointsThatDoNotExist_LeaveTheClusterEmpty()
    {
        // Arrange
        _xds.Set(Lds, NewListener());
        _xds.Set(Rds, NewRouteConfig());
        _xds.Set(Cds, EdsCluster(V1));

        // Act
        _xds.Remove(Eds, V1);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_state.Current.Version, Is.EqualTo(1));
            Assert.That(_state.Current.Clusters[V1].Endpoints, Is.Empty);
        });
    }

    [Test]
    public void Update_ListenerThatDoesNotExist_FailsTheTarget()
    {
        // Act
        _xds.Remove(Lds, Target);

        // Assert: the target is a service whose requests fail, not a host that bypasses the mesh.
        var snapshot = _state.Current;
        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Version, Is.EqualTo(1));
            Assert.That(ResourceTestRequest.Get("/").RouteIn(snapshot, Host)!.PickCluster().Name, Is.EqualTo(XdsMeshTranslator.UnavailableCluster));
        });
    }

    [Test]
    public void Update_ErrorAfterAValue_KeepsTheValue()
    {
        // Arrange
        SendCanaryTree();

        // Act
        _xds.Fail(Rds, Target, "RouteConfiguration 'x': rejected");
        _xds.Set(Eds, Assignment(V1, "10.0.0.7:8080"));

        // Assert: the endpoint update still publishes, with the canary routes kept.
        Assert.Multiple(() =>
        {
            Assert.That(_state.Current.Version, Is.EqualTo(2));
            Assert.That(ResourceTestRequest.Get("/", new() { ["x-canary"] = "1" }).RouteIn(_state.Current, Host)!.Name, Is.EqualTo("canary"));
        });
    }

    [Test]
    public void Update_ErrorBeforeAnyValue_FailsTheTargetThenRecovers()
    {
        // Arrange
        _xds.Set(Lds, NewListener());

        // Act
        _xds.Fail(Rds, Target, "RouteConfiguration: NACKed");

        // Assert
        Assert.That(ResourceTestRequest.Get("/").RouteIn(_state.Current, Host)!.PickCluster().Name, Is.EqualTo(XdsMeshTranslator.UnavailableCluster));

        _xds.Set(Rds, NewRouteConfig());
        _xds.Set(Cds, EdsCluster(V1));
        _xds.Set(Eds, Assignment(V1, "10.0.0.1:8080"));
        Assert.That(ResourceTestRequest.Get("/").RouteIn(_state.Current, Host)!.PickCluster().Name, Is.EqualTo(V1));
    }

    [Test]
    public void Update_OneTargetIncomplete_HoldsBackThePublication()
    {
        // Arrange
        Restart(Target, OtherTarget);

        // Act
        SendCanaryTree();

        // Assert
        Assert.That(_state.Current.Version, Is.Zero, "the second target's listener has not arrived");

        _xds.Remove(Lds, OtherTarget);
        Assert.Multiple(() =>
        {
            Assert.That(_state.Current.Version, Is.EqualTo(1));
            Assert.That(_state.Current.TryGetService("orders.shop.svc.cluster.local", out _), Is.True);
            Assert.That(ResourceTestRequest.Get("/").RouteIn(_state.Current, Host)!.Name, Is.EqualTo("default"));
        });
    }

    [Test]
    public void Update_ClusterSharedByTwoTargets_IsWatchedOnce()
    {
        // Arrange
        Restart(Target, OtherTarget);
        var orders = NewRouteConfig(OtherTarget, VirtualHostFor("orders", [OtherTarget], NewRoute(Prefix(), ToCluster(V1))));

        // Act
        _xds.SetAll(Lds, NewListener(), NewListener(OtherTarget, RdsManager(OtherTarget)));
        _xds.SetAll(Rds, NewRouteConfig(), orders);
        _xds.Set(Cds, EdsCluster(V1));
        _xds.Set(Eds, Assignment(V1, "10.0.0.1:8080"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_xds.WatchCalls[(Cds.TypeUrl, V1)], Is.EqualTo(1));
            Assert.That(_state.Current.Version, Is.EqualTo(1));
            Assert.That(ResourceTestRequest.Get("/").RouteIn(_state.Current, "orders.shop.svc.cluster.local")!.PickCluster().Name, Is.EqualTo(V1));
        });
    }

    [Test]
    public void Update_ListenerSwitchingToAnotherRouteConfiguration_UnwatchesTheOld()
    {
        // Arrange
        SendCanaryTree();

        // Act
        _xds.Set(Lds, NewListener(hcm: RdsManager("routes-v2")));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_xds.Watched(Rds), Is.EqualTo(new[] { Target, "routes-v2" }));
            Assert.That(_xds.Watched(Cds), Is.EqualTo(new[] { V1, V2 }), "the clusters stay watched until the new route configuration arrives");
            Assert.That(_state.Current.Version, Is.EqualTo(1));
        });

        _xds.Set(Rds, NewRouteConfig("routes-v2", NewVirtualHost(NewRoute(Prefix(), ToCluster(V2)))));
        Assert.Multiple(() =>
        {
            Assert.That(_xds.Watched(Rds), Is.EqualTo(new[] { "routes-v2" }));
            Assert.That(_xds.Watched(Cds), Is.EqualTo(new[] { V2 }));
            Assert.That(_xds.WatchCalls[(Cds.TypeUrl, V2)], Is.EqualTo(1), "v2 was never dropped and watched again");
            Assert.That(_state.Current.Version, Is.EqualTo(2));
        });
    }

    [Test]
    public void Dispose_CancelsEveryWatch_AndIgnoresLaterCallbacks()
    {
        // Arrange
        SendCanaryTree();

        // Act
        _source.Dispose();
        _xds.Set(Eds, Assignment(V1, "10.0.0.9:8080"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_xds.Watched(Lds).Concat(_xds.Watched(Rds)).Concat(_xds.Watched(Cds)).Concat(_xds.Watched(Eds)), Is.Empty);
            Assert.That(_state.Current.Version, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task WaitForFirstConfiguration_Timeout_ReturnsFalse()
    {
        // Arrange
        var time = new FakeTimeProvider();

        // Act
        var wait = _source.WaitForFirstConfigurationAsync(TimeSpan.FromSeconds(10), time, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(10));

        // Assert
        Assert.That(await wait.WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
    }

    [Test]
    public async Task WaitForFirstConfiguration_CompleteTree_ReturnsTrue()
    {
        // Arrange
        var wait = _source.WaitForFirstConfigurationAsync(TimeSpan.FromSeconds(10), new FakeTimeProvider(), CancellationToken.None);

        // Act
        SendCanaryTree();

        // Assert
        Assert.That(await wait.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
    }
}
