using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Model;
using Mesh.ControlPlane.Translation;
using Mesh.Xds.Resources;
using Mesh.Xds.Server;
using Microsoft.Extensions.DependencyInjection;
using Mesh.ControlPlane.Tests.Infrastructure;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.Translation;

[TestFixture]
public sealed class XdsTranslatorTests
{
    private const string Fqdn = "backend.demo.svc.cluster.local";
    private const string Target = Fqdn + ":8080";
    private const string V1 = "outbound|8080|v1|" + Fqdn;
    private const string V2 = "outbound|8080|v2|" + Fqdn;
    private const string All = "outbound|8080||" + Fqdn;

    private static XdsTranslatorResult Translate(IReadOnlyList<ConfigObject> objects)
    {
        var read = MeshConfigReader.Read(objects);
        Assert.That(read.Errors, Is.Empty, "the objects should be valid");
        var result = XdsTranslator.Translate(read, "v1");
        Assert.That(result.Snapshot.CheckConsistency(), Is.Empty, "the snapshot should be consistent");
        return result;
    }

    private static List<T> Resources<T>(XdsResourceSnapshot snapshot, string typeUrl)
        where T : IMessage<T>, new() =>
        [.. snapshot.GetResources(typeUrl).Resources.Values.Select(r => r.Resource.Unpack<T>())];

    [Test]
    public async Task Translate_SampleManifests_NamesListenerDomainsClustersAndWeights()
    {
        // Arrange: samples/manifests as the manifest source reads them.
        var objects = await LoadSampleManifestsAsync();

        // Act
        var result = Translate(objects);

        // Assert
        var listeners = Resources<Listener>(result.Snapshot, XdsResourceSnapshot.ListenerTypeUrl).ToList();
        var listener = listeners.Single(l => l.Name == Target);
        var manager = listener.ApiListener.ApiListener_.Unpack<HttpConnectionManager>();
        var routes = Resources<RouteConfiguration>(result.Snapshot, XdsResourceSnapshot.RouteConfigurationTypeUrl).Single();
        var host = routes.VirtualHosts.Single();
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty);
            Assert.That(result.Warnings, Is.Empty);
            Assert.That(listener.Name, Is.EqualTo(Target));
            Assert.That(manager.Rds.RouteConfigName, Is.EqualTo(Target));
            Assert.That(manager.HttpFilters.Select(f => f.Name), Is.EqualTo(new[] { "envoy.filters.http.router" }));
            Assert.That(routes.Name, Is.EqualTo(Target));
            Assert.That(host.Domains, Is.EqualTo(new[] { Target, Fqdn, "backend.demo:8080", "backend.demo", "backend:8080", "backend" }));
            Assert.That(host.Routes.Select(r => r.Name), Is.EqualTo(new[] { "canary", "split" }));
            Assert.That(host.Routes[0].Match.Headers.Single().Name, Is.EqualTo("x-canary"));
            Assert.That(host.Routes[0].Match.Headers.Single().StringMatch.Exact, Is.EqualTo("1"));
            Assert.That(host.Routes[0].Route_.Cluster, Is.EqualTo(V2));
            Assert.That(host.Routes[1].Route_.WeightedClusters.Clusters.Select(c => (c.Name, c.Weight)), Is.EqualTo(new[] { (V1, 80u), (V2, 20u) }));
            Assert.That(Resources<Cluster>(result.Snapshot, XdsResourceSnapshot.ClusterTypeUrl).Select(c => c.Name), Is.EquivalentTo(new[] { All, V1, V2 }));

            // security.yaml: STRICT peers, so every cluster is mutual TLS (auto mTLS) and each backend has a server listener.
            Assert.That(Resources<Cluster>(result.Snapshot, XdsResourceSnapshot.ClusterTypeUrl).Select(c => c.TransportSocket?.Name), Is.All.EqualTo("envoy.transport_sockets.tls"));
            Assert.That(listeners.Where(l => l.Name != Target).Select(l => l.Name), Is.EquivalentTo(new[] { 5101, 5102, 5103 }.Select(p => $"grpc/server?xds.resource.listening_address=127.0.0.1:{p}")));
        });
    }

    [Test]
    public void Translate_Seed_EndpointsBySubsetWithLocalityWeights()
    {
        var result = Translate(Seed());

        var assignments = Resources<ClusterLoadAssignment>(result.Snapshot, XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl).ToDictionary(a => a.ClusterName);
        static IEnumerable<uint> Ports(ClusterLoadAssignment a) => a.Endpoints.SelectMany(l => l.LbEndpoints).Select(e => e.Endpoint.Address.SocketAddress.PortValue);
        Assert.Multiple(() =>
        {
            Assert.That(Ports(assignments[All]), Is.EquivalentTo(new[] { 5101u, 5102u, 5103u }));
            Assert.That(Ports(assignments[V1]), Is.EquivalentTo(new[] { 5101u, 5102u }));
            Assert.That(Ports(assignments[V2]), Is.EquivalentTo(new[] { 5103u }));
            Assert.That(assignments[V1].Endpoints.Single().Locality.Region, Is.EqualTo("local"));
            Assert.That(assignments[V1].Endpoints.Single().Locality.Zone, Is.EqualTo("zone-a"));
            Assert.That(assignments[V1].Endpoints.Single().LoadBalancingWeight, Is.EqualTo(2));
        });
    }

    [Test]
    public void Translate_Seed_LeastRequestAsTypedPolicyRoundRobinAsEnum()
    {
        var clusters = Resources<Cluster>(Translate(Seed()).Snapshot, XdsResourceSnapshot.ClusterTypeUrl).ToDictionary(c => c.Name);

        Assert.Multiple(() =>
        {
            Assert.That(clusters[V1].LbPolicy, Is.EqualTo(Cluster.Types.LbPolicy.RoundRobin));
            Assert.That(clusters[V1].LoadBalancingPolicy, Is.Null);
            Assert.That(clusters[V2].LoadBalancingPolicy.Policies[0].TypedExtensionConfig.TypedConfig.TypeUrl, Is.EqualTo("type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest"));
            Assert.That(clusters[V2].EdsClusterConfig.ServiceName, Is.EqualTo(V2));
            Assert.That(clusters[V2].EdsClusterConfig.EdsConfig.Ads, Is.Not.Null);
        });
    }

    [Test]
    public void Translate_Seed_DecodesWithoutErrorsAndBuildsAMeshSnapshot()
    {
        // Arrange
        var snapshot = Translate(Seed()).Snapshot;

        // Act: decode as our own xDS client does.
        var listener = Decode<XdsListener>(XdsResourceTypes.Listener, Resources<Listener>(snapshot, XdsResourceSnapshot.ListenerTypeUrl).Single());
        var routes = Decode<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, Resources<RouteConfiguration>(snapshot, XdsResourceSnapshot.RouteConfigurationTypeUrl).Single());
        var assignments = Resources<ClusterLoadAssignment>(snapshot, XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl)
            .Select(a => Decode<XdsEndpoints>(XdsResourceTypes.Endpoints, a)).ToDictionary(a => a.Name);
        var clusters = new Dictionary<string, XdsClusterConfig>();
        foreach (var cluster in Resources<Cluster>(snapshot, XdsResourceSnapshot.ClusterTypeUrl).Select(c => Decode<XdsCluster>(XdsResourceTypes.Cluster, c)))
        {
            clusters[cluster.Name] = new XdsClusterConfig(cluster, assignments[cluster.EdsServiceName!], null);
        }

        var translation = XdsMeshTranslator.Translate([new XdsTargetConfig(new XdsTarget(Target, Fqdn), listener, routes, null)], clusters);
        var services = new ServiceCollection();
        services.AddMesh(o =>
        {
            foreach (var (name, service) in translation.Options.Services)
            {
                o.Services[name] = service;
            }

            foreach (var (name, cluster) in translation.Options.Clusters)
            {
                o.Clusters[name] = cluster;
            }
        });
        using var provider = services.BuildServiceProvider();
        var mesh = provider.GetRequiredService<MeshState>().Current;

        // Assert
        Assert.That(translation.Warnings, Is.Empty);
        var service = mesh.Services.Single(s => s.Hosts.Contains(Fqdn));
        Assert.That(service.Routes.Select(r => r.Name), Is.EqualTo(new[] { "canary", "split" }));
        Assert.That(service.Routes[1].Destinations.Select(d => d.Weight), Is.EqualTo(new[] { 80, 20 }));
        Assert.That(service.Routes[1].Destinations.Select(d => d.Cluster.Endpoints.Length), Is.EqualTo(new[] { 2, 1 }));
    }

    private static T Decode<T>(XdsResourceType type, IMessage message)
    {
        var result = type.Decode(Any.Pack(message));
        Assert.That(result.Error, Is.Null, $"{type} {result.Name} should decode");
        return (T)result.Resource!;
    }

    [Test]
    public void Translate_EndpointSlices_DeduplicatesSkipsNotReadyAndFiltersSubsetsByPodLabels()
    {
        // Arrange: two slices of one Service share 10.0.0.1; 10.0.0.3 is terminating (serving, not ready).
        List<ConfigObject> objects =
        [
            Object("v1", "Service", "shop", "orders", """{"selector":{"app":"orders"},"ports":[{"name":"grpc","port":50051,"targetPort":50051}]}"""),
            Slice("orders-a", """
                [{"addresses":["10.0.0.1"],"conditions":{"ready":true},"targetRef":{"kind":"Pod","name":"orders-1"},"zone":"z1"},
                 {"addresses":["10.0.0.3"],"conditions":{"ready":false,"serving":true,"terminating":true},"targetRef":{"kind":"Pod","name":"orders-3"}}]
                """),
            Slice("orders-b", """
                [{"addresses":["10.0.0.1"],"conditions":{"ready":true},"targetRef":{"kind":"Pod","name":"orders-1"},"zone":"z1"},
                 {"addresses":["10.0.0.2"],"targetRef":{"kind":"Pod","name":"orders-2"},"zone":"z2"}]
                """),
            Pod("orders-1", "v1"),
            Pod("orders-2", "v2"),
            Pod("orders-3", "v1"),
            Object(TranslationTestObjects.Istio, "DestinationRule", "shop", "orders", """{"host":"orders","subsets":[{"name":"v1","labels":{"version":"v1"}}],"trafficPolicy":{"loadBalancer":{"consistentHash":{"httpHeaderName":"x-user"}}}}"""),
        ];

        // Act
        var snapshot = Translate(objects).Snapshot;

        // Assert
        var assignments = Resources<ClusterLoadAssignment>(snapshot, XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl).ToDictionary(a => a.ClusterName);
        static IEnumerable<string> Addresses(ClusterLoadAssignment a) => a.Endpoints.SelectMany(l => l.LbEndpoints).Select(e => e.Endpoint.Address.SocketAddress.Address);
        var all = assignments["outbound|50051||orders.shop.svc.cluster.local"];
        var cluster = Resources<Cluster>(snapshot, XdsResourceSnapshot.ClusterTypeUrl).Single(c => c.Name == "outbound|50051|v1|orders.shop.svc.cluster.local");
        var route = Resources<RouteConfiguration>(snapshot, XdsResourceSnapshot.RouteConfigurationTypeUrl).Single().VirtualHosts[0].Routes.Single();
        Assert.Multiple(() =>
        {
            Assert.That(Addresses(all), Is.EquivalentTo(new[] { "10.0.0.1", "10.0.0.2" }));
            Assert.That(all.Endpoints.Select(l => l.Locality.Zone), Is.EquivalentTo(new[] { "z1", "z2" }));
            Assert.That(Addresses(assignments["outbound|50051|v1|orders.shop.svc.cluster.local"]), Is.EqualTo(new[] { "10.0.0.1" }));
            Assert.That(cluster.LbPolicy, Is.EqualTo(Cluster.Types.LbPolicy.RingHash));
            Assert.That(cluster.RingHashLbConfig.HashFunction, Is.EqualTo(Cluster.Types.RingHashLbConfig.Types.HashFunction.XxHash));
            Assert.That(route.Route_.Cluster, Is.EqualTo("outbound|50051||orders.shop.svc.cluster.local"));
            Assert.That(route.Route_.HashPolicy.Single().Header.HeaderName, Is.EqualTo("x-user"));
        });
    }

    [Test]
    public void Translate_FaultRetriesPoolAndOutlier_FaultFilterBeforeRouterAndClusterLimits()
    {
        var objects = Seed();
        objects[4] = Object(TranslationTestObjects.Istio, "VirtualService", "demo", "backend", """
            {"hosts":["backend.demo.svc.cluster.local"],"http":[{"route":[{"destination":{"host":"backend","subset":"v1"}}],"timeout":"2s",
              "retries":{"attempts":2,"perTryTimeout":"1s","retryOn":"5xx,503"},"fault":{"abort":{"httpStatus":503,"percentage":{"value":10}}}}]}
            """);
        objects[5] = Object(TranslationTestObjects.Istio, "DestinationRule", "demo", "backend", """
            {"host":"backend","subsets":[{"name":"v1","labels":{"version":"v1"}}],"trafficPolicy":{
              "connectionPool":{"http":{"http2MaxRequests":100,"http1MaxPendingRequests":10,"maxRetries":3}},
              "outlierDetection":{"consecutive5xxErrors":5,"interval":"10s","baseEjectionTime":"30s","maxEjectionPercent":50}}}
            """);

        var snapshot = Translate(objects).Snapshot;

        var manager = Resources<Listener>(snapshot, XdsResourceSnapshot.ListenerTypeUrl).Single().ApiListener.ApiListener_.Unpack<HttpConnectionManager>();
        var route = Resources<RouteConfiguration>(snapshot, XdsResourceSnapshot.RouteConfigurationTypeUrl).Single().VirtualHosts[0].Routes.Single();
        var cluster = Resources<Cluster>(snapshot, XdsResourceSnapshot.ClusterTypeUrl).Single(c => c.Name == V1);
        Assert.Multiple(() =>
        {
            Assert.That(manager.HttpFilters.Select(f => f.Name), Is.EqualTo(new[] { "envoy.filters.http.fault", "envoy.filters.http.router" }));
            Assert.That(route.TypedPerFilterConfig.ContainsKey("envoy.filters.http.fault"), Is.True);
            Assert.That(route.Route_.Timeout.ToTimeSpan(), Is.EqualTo(TimeSpan.FromSeconds(2)));
            Assert.That(route.Route_.RetryPolicy.RetryOn, Is.EqualTo("5xx,retriable-status-codes"));
            Assert.That(route.Route_.RetryPolicy.RetriableStatusCodes, Is.EqualTo(new[] { 503u }));
            Assert.That(route.Route_.RetryPolicy.NumRetries, Is.EqualTo(2));
            Assert.That(cluster.CircuitBreakers.Thresholds.Single().MaxRequests, Is.EqualTo(100));
            Assert.That(cluster.CircuitBreakers.Thresholds.Single().MaxPendingRequests, Is.EqualTo(10));
            Assert.That(cluster.OutlierDetection.Consecutive5Xx, Is.EqualTo(5));
            Assert.That(cluster.OutlierDetection.MaxEjectionPercent, Is.EqualTo(50));
        });
        var decoded = XdsResourceTypes.RouteConfiguration.Decode(Any.Pack(Resources<RouteConfiguration>(snapshot, XdsResourceSnapshot.RouteConfigurationTypeUrl).Single()));
        Assert.That(decoded.Error, Is.Null);
        Assert.That(XdsResourceTypes.Cluster.Decode(Any.Pack(cluster)).Error, Is.Null);
        Assert.That(XdsResourceTypes.Listener.Decode(Any.Pack(Resources<Listener>(snapshot, XdsResourceSnapshot.ListenerTypeUrl).Single())).Error, Is.Null);
    }

    [Test]
    public void Translate_NoVirtualService_DefaultRouteToTheWholeService()
    {
        var objects = Seed().Where(o => o.Kind is not ("VirtualService" or "DestinationRule")).ToList();

        var snapshot = Translate(objects).Snapshot;

        var route = Resources<RouteConfiguration>(snapshot, XdsResourceSnapshot.RouteConfigurationTypeUrl).Single().VirtualHosts[0].Routes.Single();
        Assert.That(route.Route_.Cluster, Is.EqualTo(All));
        Assert.That(route.Match.Prefix, Is.Empty);
    }

    [Test]
    public void Translate_RouteToUndefinedSubset_WarnsAndKeepsIstioSemantics()
    {
        var objects = Seed();
        objects.RemoveAt(5);

        var result = Translate(objects);

        Assert.That(result.Warnings, Has.Some.Contains("subset v2 of backend.demo.svc.cluster.local is not defined by any DestinationRule"));
    }

    private static ConfigObject Slice(string name, string endpoints) => Whole("discovery.k8s.io/v1", "EndpointSlice", "shop", name, $$$"""
        {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"{{{name}}}","namespace":"shop","labels":{"kubernetes.io/service-name":"orders"}},
         "addressType":"IPv4","ports":[{"name":"grpc","port":50051}],"endpoints":{{{endpoints}}}}
        """);

    private static ConfigObject Pod(string name, string version) => Whole("v1", "Pod", "shop", name, $$$"""
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"{{{name}}}","namespace":"shop","labels":{"app":"orders","version":"{{{version}}}"} } }
        """);
}
