using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using HttpConnectionManager = Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager;
using HcmRds = Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.Rds;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Server;
using static Mesh.Xds.Tests.Infrastructure.ServerTestResources;

namespace Mesh.Xds.Tests.Server;

public sealed class XdsResourceSnapshotTests
{
    [Test]
    public void Create_IndexesResourcesByTypeAndName()
    {
        var snapshot = XdsResourceSnapshot.Create(
            "v1",
            listeners: [Listener(ListenerName("a"), RouteName("a"))],
            routes: [Route(RouteName("a"), ClusterName("a"))],
            clusters: [Cluster(ClusterName("a"))],
            endpoints: [Endpoints(ClusterName("a"), 8001)]);

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Version, Is.EqualTo("v1"));
            Assert.That(snapshot.ResourceSets.Keys, Is.EquivalentTo(new[] { Lds, Rds, Cds, Eds }));
            Assert.That(snapshot.GetResources(Lds).Resources.Keys, Is.EqualTo(new[] { ListenerName("a") }));
            Assert.That(snapshot.GetResources(Eds).Resources.Keys, Is.EqualTo(new[] { ClusterName("a") }));
            Assert.That(snapshot.GetResources(Cds).Resources[ClusterName("a")].Resource.TypeUrl, Is.EqualTo(Cds));
            Assert.That(snapshot.GetResources("type.googleapis.com/unknown.Type").Count, Is.Zero);
            Assert.That(snapshot.CheckConsistency(), Is.Empty);
        });
    }

    [Test]
    public void Versions_DependOnlyOnContent()
    {
        var first = Snapshot("v1", ("a", 8001), ("b", 8002));
        var same = Snapshot("v2", ("b", 8002), ("a", 8001));
        var changed = Snapshot("v3", ("a", 8001), ("b", 9002));

        Assert.Multiple(() =>
        {
            Assert.That(same.GetResources(Eds).Version, Is.EqualTo(first.GetResources(Eds).Version), "same resources, same type version");
            Assert.That(changed.GetResources(Eds).Version, Is.Not.EqualTo(first.GetResources(Eds).Version));
            Assert.That(changed.GetResources(Eds).Resources[ClusterName("a")].Version, Is.EqualTo(first.GetResources(Eds).Resources[ClusterName("a")].Version), "an unchanged resource keeps its version");
            Assert.That(changed.GetResources(Eds).Resources[ClusterName("b")].Version, Is.Not.EqualTo(first.GetResources(Eds).Resources[ClusterName("b")].Version));
            Assert.That(changed.GetResources(Cds).Version, Is.EqualTo(first.GetResources(Cds).Version), "a type whose resources did not change keeps its version");
        });
    }

    [Test]
    public void Builder_CopiesResources_SoLaterChangesDoNotLeakIn()
    {
        var cluster = Cluster("c");
        var builder = XdsResourceSnapshot.CreateBuilder("v1").Add(cluster).Add(Endpoints("c", 1));
        var before = builder.Build();

        cluster.EdsClusterConfig.ServiceName = "other";
        var after = XdsResourceSnapshot.CreateBuilder("v1").Add(cluster).Add(Endpoints("c", 1)).Build();

        Assert.That(before.GetResources(Cds).Resources["c"].Resource.Unpack<Cluster>().EdsClusterConfig.ServiceName, Is.Empty);
        Assert.That(after.GetResources(Cds).Version, Is.Not.EqualTo(before.GetResources(Cds).Version));
    }

    [Test]
    public void Builder_AcceptsAnyType()
    {
        var snapshot = XdsResourceSnapshot.CreateBuilder("v1")
            .Add("greeting", new StringValue { Value = "hello" })
            .Add("type.googleapis.com/google.protobuf.Int32Value", "answer", Any.Pack(new Int32Value { Value = 42 }))
            .Build();

        Assert.That(snapshot.GetResources("type.googleapis.com/google.protobuf.StringValue").Resources["greeting"].Resource.Unpack<StringValue>().Value, Is.EqualTo("hello"));
        Assert.That(snapshot.GetResources("type.googleapis.com/google.protobuf.Int32Value").Count, Is.EqualTo(1));
    }

    [Test]
    public void Builder_DuplicateName_Throws()
    {
        var builder = XdsResourceSnapshot.CreateBuilder("v1").Add(Cluster("c"));

        var e = Assert.Throws<ArgumentException>(() => builder.Add(Cluster("c")));

        Assert.That(e!.Message, Does.Contain("already has a Cluster named 'c'"));
    }

    [Test]
    public void Builder_EmptyName_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => XdsResourceSnapshot.CreateBuilder("v1").Add(new ClusterLoadAssignment()));

        Assert.That(e!.Message, Does.Contain("empty name").And.Contain("cluster_name"));
    }

    [Test]
    public void Builder_AnyOfAnotherType_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => XdsResourceSnapshot.CreateBuilder("v1").Add(Lds, "x", Any.Pack(Cluster("x"))));

        Assert.That(e!.Message, Does.Contain("is packed as 'type.googleapis.com/envoy.config.cluster.v3.Cluster'"));
    }

    [Test]
    public void CheckConsistency_ListenerNamingAMissingRoute_IsAProblem()
    {
        var snapshot = XdsResourceSnapshot.Create(
            "v1",
            listeners: [Listener("l", "missing-route")],
            routes: [Route("other-route", "c")]);

        var problems = snapshot.CheckConsistency();

        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.Contain("Listener 'l'").And.Contain("RouteConfiguration 'missing-route'").And.Contain("rds.route_config_name"));
    }

    [Test]
    public void CheckConsistency_EdsClusterWithoutEndpoints_IsAProblem_UsingServiceNameWhenSet()
    {
        var snapshot = XdsResourceSnapshot.Create(
            "v1",
            clusters: [Cluster("by-name"), Cluster("by-service", serviceName: "svc"), Cluster("ok")],
            endpoints: [Endpoints("ok", 1), Endpoints("by-service", 2)]);

        var problems = snapshot.CheckConsistency();

        Assert.That(problems, Has.Count.EqualTo(2));
        Assert.That(problems, Has.One.Contains("Cluster 'by-name'").And.Contain("ClusterLoadAssignment 'by-name'"));
        Assert.That(problems, Has.One.Contains("Cluster 'by-service'").And.Contain("ClusterLoadAssignment 'svc'").And.Contain("eds_cluster_config.service_name"));
    }

    [Test]
    public void CheckConsistency_StaticClusterAndInlineRoutes_NeedNothingElse()
    {
        var inline = new Listener
        {
            Name = "inline",
            ApiListener = new ApiListener { ApiListener_ = Any.Pack(new HttpConnectionManager { RouteConfig = Route("inline-route", "static") }) },
        };
        var staticCluster = new Cluster { Name = "static", Type = Envoy.Config.Cluster.V3.Cluster.Types.DiscoveryType.Static };

        var snapshot = XdsResourceSnapshot.Create("v1", listeners: [inline], clusters: [staticCluster]);

        Assert.That(snapshot.CheckConsistency(), Is.Empty);
    }

    [Test]
    public void CheckConsistency_ServerListenerFilterChains_AreChecked()
    {
        var server = new Listener
        {
            Name = "grpc/server?xds.resource.listening_address=0.0.0.0:50051",
            DefaultFilterChain = new FilterChain
            {
                Filters = { new Filter { Name = "hcm", TypedConfig = Any.Pack(new HttpConnectionManager { Rds = new HcmRds { RouteConfigName = "inbound" } }) } },
            },
        };

        var problems = XdsResourceSnapshot.Create("v1", listeners: [server]).CheckConsistency();

        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.Contain("default_filter_chain.filters[0]").And.Contain("'inbound'"));
    }

    [Test]
    public void CheckConsistency_ResourceStoredUnderAnotherName_IsAProblem()
    {
        var snapshot = XdsResourceSnapshot.CreateBuilder("v1").Add("alias", Cluster("real")).Build();

        Assert.That(snapshot.CheckConsistency(), Has.Some.Contains("Cluster 'alias' has name 'real'"));
    }
}
