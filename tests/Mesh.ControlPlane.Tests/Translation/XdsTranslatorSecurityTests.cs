using Envoy.Config.Cluster.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Model;
using Mesh.ControlPlane.Translation;
using Mesh.Xds.Client;
using Mesh.Xds.Resources;
using Mesh.Xds.Server;
using Mesh.ControlPlane.Tests.Infrastructure;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.Translation;

/// <summary>Client TLS of clusters: DestinationRule tls and auto mTLS from PeerAuthentications.</summary>
[TestFixture]
public sealed class XdsTranslatorSecurityTests
{
    private const string Security = "security.istio.io/v1";
    private const string All = "outbound|50051||orders.shop.svc.cluster.local";
    private const string V1 = "outbound|50051|v1|orders.shop.svc.cluster.local";

    /// <summary>The Service orders (shop) with two pods: orders-1 (v1, service account orders) and orders-2 (v2, service account orders-canary).</summary>
    private static List<ConfigObject> Orders(params ConfigObject[] more) =>
    [
        Object("v1", "Service", "shop", "orders", """{"selector":{"app":"orders"},"ports":[{"name":"grpc","port":50051,"targetPort":50051}]}"""),
        Whole("discovery.k8s.io/v1", "EndpointSlice", "shop", "orders-a", """
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"orders-a","namespace":"shop","labels":{"kubernetes.io/service-name":"orders"}},
             "addressType":"IPv4","ports":[{"name":"grpc","port":50051}],
             "endpoints":[{"addresses":["10.0.0.1"],"targetRef":{"kind":"Pod","name":"orders-1"}},{"addresses":["10.0.0.2"],"targetRef":{"kind":"Pod","name":"orders-2"}}]}
            """),
        Pod("orders-1", "v1", "orders"),
        Pod("orders-2", "v2", "orders-canary"),
        .. more,
    ];

    private static ConfigObject Pod(string name, string version, string serviceAccount) => Whole("v1", "Pod", "shop", name, $$$"""
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"{{{name}}}","namespace":"shop","labels":{"app":"orders","version":"{{{version}}}"}},"spec":{"serviceAccountName":"{{{serviceAccount}}}","containers":[]}}
        """);

    private static ConfigObject Rule(string trafficPolicy) =>
        Object(TranslationTestObjects.Istio, "DestinationRule", "shop", "orders", $$$"""{"host":"orders","subsets":[{"name":"v1","labels":{"version":"v1"}}],"trafficPolicy":{{{trafficPolicy}}}}""");

    private static ConfigObject Peer(string ns, string name, string spec) => Object(Security, "PeerAuthentication", ns, name, spec);

    private static (Dictionary<string, Cluster> Clusters, XdsTranslatorResult Result) Translate(IReadOnlyList<ConfigObject> objects, string trustDomain = XdsTranslator.DefaultTrustDomain)
    {
        var read = MeshConfigReader.Read(objects);
        Assert.That(read.Errors, Is.Empty, "the objects should be valid");
        var result = XdsTranslator.Translate(read, "v1", trustDomain);
        Assert.That(result.Snapshot.CheckConsistency(), Is.Empty, "the snapshot should be consistent");
        var clusters = result.Snapshot.GetResources(XdsResourceSnapshot.ClusterTypeUrl).Resources.Values.Select(r => r.Resource.Unpack<Cluster>()).ToDictionary(c => c.Name);
        return (clusters, result);
    }

    private static UpstreamTlsContext Tls(Cluster cluster)
    {
        Assert.That(cluster.TransportSocket, Is.Not.Null, $"{cluster.Name} should have a transport socket");
        Assert.That(cluster.TransportSocket.Name, Is.EqualTo("envoy.transport_sockets.tls"));
        return cluster.TransportSocket.TypedConfig.Unpack<UpstreamTlsContext>();
    }

    private static string[] Sans(UpstreamTlsContext tls) => [.. tls.CommonTlsContext.ValidationContext.MatchSubjectAltNames.Select(m => m.Exact)];

    /// <summary>What a Mesh client makes of the cluster, with the "default" instance registered by the application.</summary>
    private static XdsClusterTls? ClientView(Cluster cluster)
    {
        var bootstrap = XdsBootstrap.Parse("""{"xds_servers":[{"server_uri":"127.0.0.1:1","channel_creds":[{"type":"insecure"}]}]}""", "test");
        var type = XdsResourceTypes.Create(bootstrap, [XdsTranslator.CertificateProviderInstance])[2];
        var decoded = type.Decode(Any.Pack(cluster));
        Assert.That(decoded.Error, Is.Null, "a Mesh client should accept the cluster");
        return ((XdsCluster)decoded.Resource!).Tls;
    }

    [Test]
    public void Translate_DestinationRuleIstioMutual_ClusterHasUpstreamTlsContextWithSans()
    {
        // Arrange
        var objects = Orders(Rule("""{"tls":{"mode":"ISTIO_MUTUAL","subjectAltNames":["spiffe://cluster.local/ns/shop/sa/orders"],"sni":"orders.shop"}}"""));

        // Act
        var (clusters, result) = Translate(objects);

        // Assert
        var tls = Tls(clusters[All]);
        var client = ClientView(clusters[All])!;
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty);
            Assert.That(tls.CommonTlsContext.TlsCertificateProviderInstance.InstanceName, Is.EqualTo("default"));
            Assert.That(tls.CommonTlsContext.ValidationContext.CaCertificateProviderInstance.InstanceName, Is.EqualTo("default"));
            Assert.That(Sans(tls), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/orders" }));
            Assert.That(tls.Sni, Is.EqualTo("orders.shop"));
            Assert.That(Sans(Tls(clusters[V1])), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/orders" }), "the subset inherits the rule's tls");
            Assert.That(client.Mutual, Is.True);
            Assert.That(client.SubjectAltNames.Select(s => s.Value), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/orders" }));
        });
    }

    [Test]
    public void Translate_IstioMutualWithoutSans_ExpectsTheEndpointsServiceAccounts()
    {
        // Act
        var (clusters, _) = Translate(Orders(Rule("""{"tls":{"mode":"ISTIO_MUTUAL"}}""")), trustDomain: "example.org");

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(Sans(Tls(clusters[All])), Is.EqualTo(new[] { "spiffe://example.org/ns/shop/sa/orders", "spiffe://example.org/ns/shop/sa/orders-canary" }));
            Assert.That(Sans(Tls(clusters[V1])), Is.EqualTo(new[] { "spiffe://example.org/ns/shop/sa/orders" }));
        });
    }

    [Test]
    public void Translate_DestinationRuleSimple_TlsWithoutClientCertificate()
    {
        // Act
        var (clusters, _) = Translate(Orders(Rule("""{"tls":{"mode":"SIMPLE"}}""")));

        // Assert
        var tls = Tls(clusters[All]);
        Assert.Multiple(() =>
        {
            Assert.That(tls.CommonTlsContext.TlsCertificateProviderInstance, Is.Null);
            Assert.That(tls.CommonTlsContext.ValidationContext.CaCertificateProviderInstance.InstanceName, Is.EqualTo("default"));
            Assert.That(Sans(tls), Is.Empty);
            Assert.That(ClientView(clusters[All])!.Mutual, Is.False);
        });
    }

    [Test]
    public void Translate_PeerAuthenticationStrict_AutoMutualTlsWithPodServiceAccounts()
    {
        // Arrange
        var objects = Orders(Peer("shop", "default", """{"mtls":{"mode":"STRICT"}}"""));

        // Act
        var (clusters, result) = Translate(objects);

        // Assert
        var tls = Tls(clusters[All]);
        Assert.Multiple(() =>
        {
            Assert.That(result.Warnings, Is.Empty);
            Assert.That(tls.CommonTlsContext.TlsCertificateProviderInstance.InstanceName, Is.EqualTo("default"));
            Assert.That(Sans(tls), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/orders", "spiffe://cluster.local/ns/shop/sa/orders-canary" }));
            Assert.That(ClientView(clusters[All])!.Mutual, Is.True);
        });
    }

    [Test]
    public void Translate_MeshWidePermissiveInRootNamespace_AutoMutualTls()
    {
        // Act
        var (clusters, _) = Translate(Orders(Peer("istio-system", "default", """{"mtls":{"mode":"PERMISSIVE"}}""")));

        // Assert
        Assert.That(Sans(Tls(clusters[All])), Has.Length.EqualTo(2));
    }

    [Test]
    public void Translate_WorkloadPolicyDisableOverridesNamespaceStrict_ClusterStaysPlaintextWithWarning()
    {
        // Arrange: orders-2 (v2) opts out of mTLS, so the cluster of all endpoints cannot use one transport socket.
        var objects = Orders(
            Rule("""{"loadBalancer":{"simple":"ROUND_ROBIN"}}"""),
            Peer("shop", "default", """{"mtls":{"mode":"STRICT"}}"""),
            Peer("shop", "canary", """{"selector":{"matchLabels":{"version":"v2"}},"mtls":{"mode":"DISABLE"}}"""));

        // Act
        var (clusters, result) = Translate(objects);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(clusters[All].TransportSocket, Is.Null);
            Assert.That(result.Warnings, Has.One.StartWith($"Cluster {All}: 1 of its 2 endpoints accept mutual TLS only (PeerAuthentication STRICT)"));
            Assert.That(Sans(Tls(clusters[V1])), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/orders" }), "the v1 subset is all STRICT");
        });
    }

    [Test]
    public void Translate_DestinationRuleDisable_NoTransportSocketEvenWithStrictPeers()
    {
        // Act
        var (clusters, _) = Translate(Orders(Rule("""{"tls":{"mode":"DISABLE"}}"""), Peer("shop", "default", """{"mtls":{"mode":"STRICT"}}""")));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(clusters[All].TransportSocket, Is.Null);
            Assert.That(clusters[V1].TransportSocket, Is.Null);
            Assert.That(ClientView(clusters[All]), Is.Null);
        });
    }

    [Test]
    public void Translate_NoPolicies_NoTransportSocket()
    {
        // Act
        var (clusters, _) = Translate(Orders());

        // Assert
        Assert.That(clusters[All].TransportSocket, Is.Null);
    }

    [Test]
    public void Translate_PortLevelTls_OverridesTheRule()
    {
        // Act
        var (clusters, _) = Translate(Orders(Rule("""{"tls":{"mode":"ISTIO_MUTUAL"},"portLevelSettings":[{"port":{"number":50051},"tls":{"mode":"DISABLE"}}]}""")));

        // Assert
        Assert.That(clusters[All].TransportSocket, Is.Null);
    }

    [Test]
    public void Translate_WorkloadEntryServiceAccount_BecomesTheExpectedName()
    {
        // Arrange
        List<ConfigObject> objects =
        [
            Object("v1", "Service", "shop", "orders", """{"selector":{"app":"orders"},"ports":[{"name":"grpc","port":50051,"targetPort":50051}]}"""),
            Object(TranslationTestObjects.Istio, "WorkloadEntry", "shop", "vm", """{"address":"10.0.0.9","labels":{"app":"orders"},"serviceAccount":"orders-vm"}"""),
            Peer("shop", "default", """{"mtls":{"mode":"STRICT"}}"""),
        ];

        // Act
        var (clusters, _) = Translate(objects);

        // Assert
        Assert.That(Sans(Tls(clusters[All])), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/orders-vm" }));
    }
}
