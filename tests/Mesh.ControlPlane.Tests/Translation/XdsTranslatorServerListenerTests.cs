using Envoy.Config.Listener.V3;
using Envoy.Config.Rbac.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Authorization;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Model;
using PeerAuthenticationMode = Mesh.Authorization.PeerAuthenticationMode;
using Mesh.ControlPlane.Translation;
using Mesh.Identity;
using Mesh.Xds.Resources;
using Mesh.Xds.Server;
using Mesh.Xds.ServerPolicies;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;
using RbacFilter = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;

namespace Mesh.ControlPlane.Tests.Translation;

/// <summary>Server listeners (gRFC A36) carrying PeerAuthentication and AuthorizationPolicy to the workloads.</summary>
[TestFixture]
public sealed class XdsTranslatorServerListenerTests
{
    private const string Security = "security.istio.io/v1";
    private static readonly string Orders1 = XdsTranslator.ServerListenerName("10.0.0.1", 50051);
    private static readonly string Orders2 = XdsTranslator.ServerListenerName("10.0.0.2", 50051);

    /// <summary>The Service orders (shop) with pods orders-1 (v1) at 10.0.0.1 and orders-2 (v2) at 10.0.0.2.</summary>
    private static List<ConfigObject> Orders(params ConfigObject[] more) =>
    [
        Object("v1", "Service", "shop", "orders", """{"selector":{"app":"orders"},"ports":[{"name":"grpc","port":80,"targetPort":50051}]}"""),
        Whole("discovery.k8s.io/v1", "EndpointSlice", "shop", "orders-a", """
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"orders-a","namespace":"shop","labels":{"kubernetes.io/service-name":"orders"}},
             "addressType":"IPv4","ports":[{"name":"grpc","port":50051}],
             "endpoints":[{"addresses":["10.0.0.1"],"targetRef":{"kind":"Pod","name":"orders-1"}},{"addresses":["10.0.0.2"],"targetRef":{"kind":"Pod","name":"orders-2"}}]}
            """),
        Pod("orders-1", "v1"),
        Pod("orders-2", "v2"),
        .. more,
    ];

    private static ConfigObject Pod(string name, string version) => Whole("v1", "Pod", "shop", name, $$$"""
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"{{{name}}}","namespace":"shop","labels":{"app":"orders","version":"{{{version}}}"}},"spec":{"serviceAccountName":"orders","containers":[]}}
        """);

    private static ConfigObject Peer(string ns, string name, string spec) => Object(Security, "PeerAuthentication", ns, name, spec);

    private static ConfigObject Authz(string name, string spec) => Object(Security, "AuthorizationPolicy", "shop", name, spec);

    private static Dictionary<string, Listener> ServerListeners(IReadOnlyList<ConfigObject> objects)
    {
        var read = MeshConfigReader.Read(objects);
        Assert.That(read.Errors, Is.Empty, "the objects should be valid");
        var result = XdsTranslator.Translate(read, "v1");
        Assert.That(result.Snapshot.CheckConsistency(), Is.Empty, "the snapshot should be consistent");
        return result.Snapshot.GetResources(XdsResourceSnapshot.ListenerTypeUrl).Resources.Values
            .Select(r => r.Resource.Unpack<Listener>())
            .Where(l => l.ApiListener is null)
            .ToDictionary(l => l.Name);
    }

    private static HttpConnectionManager Manager(FilterChain chain) => chain.Filters.Single().TypedConfig.Unpack<HttpConnectionManager>();

    private static XdsServerListener Decode(Listener listener)
    {
        var decoded = XdsListenerResourceType.Instance.Decode(Any.Pack(listener));
        Assert.That(decoded.Error, Is.Null, "a Mesh server should accept the listener");
        return (XdsServerListener)decoded.Resource!;
    }

    [Test]
    public void Translate_StrictWorkload_ListenerHasOneMutualTlsChain()
    {
        // Arrange
        var objects = Orders(Peer("shop", "strict", """{"mtls":{"mode":"STRICT"}}"""));

        // Act
        var listener = ServerListeners(objects)[Orders1];

        // Assert
        var chain = listener.FilterChains.Single();
        var tls = chain.TransportSocket.TypedConfig.Unpack<DownstreamTlsContext>();
        var manager = Manager(chain);
        Assert.Multiple(() =>
        {
            Assert.That(listener.Name, Is.EqualTo("grpc/server?xds.resource.listening_address=10.0.0.1:50051"));
            Assert.That(listener.Address.SocketAddress.Address, Is.EqualTo("10.0.0.1"));
            Assert.That(listener.Address.SocketAddress.PortValue, Is.EqualTo(50051));
            Assert.That(chain.TransportSocket.Name, Is.EqualTo("envoy.transport_sockets.tls"));
            Assert.That(tls.RequireClientCertificate, Is.True);
            Assert.That(tls.CommonTlsContext.TlsCertificateProviderInstance.InstanceName, Is.EqualTo("default"));
            Assert.That(tls.CommonTlsContext.ValidationContext.CaCertificateProviderInstance.InstanceName, Is.EqualTo("default"));
            Assert.That(manager.HttpFilters.Select(f => f.Name), Is.EqualTo(new[] { "envoy.filters.http.router" }));
            Assert.That(manager.RouteConfig.VirtualHosts.Single().Domains, Is.EqualTo(new[] { "*" }));
            Assert.That(manager.RouteConfig.VirtualHosts.Single().Routes.Single().NonForwardingAction, Is.Not.Null);
            Assert.That(manager.RouteConfig.VirtualHosts.Single().Routes.Single().Match.Prefix, Is.EqualTo("/"));
            Assert.That(XdsServerPolicyMapper.Map(Decode(listener), [])!.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Strict));
        });
    }

    [Test]
    public void Translate_PermissiveWorkload_ListenerHasTlsAndPlaintextChains()
    {
        // Arrange: a mesh-wide PERMISSIVE policy in the root namespace.
        var objects = Orders(Peer(XdsTranslator.DefaultRootNamespace, "default", """{"mtls":{"mode":"PERMISSIVE"}}"""));

        // Act
        var listener = ServerListeners(objects)[Orders2];

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(listener.FilterChains.Select(c => c.FilterChainMatch.TransportProtocol), Is.EqualTo(new[] { "tls", "raw_buffer" }));
            Assert.That(listener.FilterChains[0].TransportSocket.TypedConfig.Unpack<DownstreamTlsContext>().RequireClientCertificate, Is.True);
            Assert.That(listener.FilterChains[1].TransportSocket, Is.Null);
            Assert.That(XdsServerPolicyMapper.Map(Decode(listener), [])!.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Permissive));
        });
    }

    [Test]
    public void Translate_WorkloadSelectorOverridesNamespace_EachWorkloadGetsItsMode()
    {
        // Arrange: the namespace is STRICT, v2 is DISABLE.
        var objects = Orders(
            Peer("shop", "strict", """{"mtls":{"mode":"STRICT"}}"""),
            Peer("shop", "v2-plain", """{"selector":{"matchLabels":{"version":"v2"}},"mtls":{"mode":"DISABLE"}}"""));

        // Act
        var listeners = ServerListeners(objects);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(XdsServerPolicyMapper.Map(Decode(listeners[Orders1]), [])!.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Strict));
            Assert.That(XdsServerPolicyMapper.Map(Decode(listeners[Orders2]), [])!.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Disable));
            Assert.That(listeners[Orders2].FilterChains.Single().TransportSocket, Is.Null);
        });
    }

    [Test]
    public void Translate_PolicySelectingOtherWorkload_IsNotIncluded()
    {
        // Arrange: the policy selects v2 only.
        var objects = Orders(Authz("deny-v2", """{"selector":{"matchLabels":{"version":"v2"}},"action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin*"]}}]}]}"""));

        // Act
        var listeners = ServerListeners(objects);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(listeners.Keys, Is.EquivalentTo(new[] { Orders1, Orders2 }));
            Assert.That(listeners[Orders1].FilterChains.SelectMany(c => Manager(c).HttpFilters).Select(f => f.Name), Has.None.StartsWith("envoy.filters.http.rbac"));
            Assert.That(Manager(listeners[Orders2].FilterChains[0]).HttpFilters.Select(f => f.Name), Is.EqualTo(new[] { XdsTranslator.RbacDenyFilterName, "envoy.filters.http.router" }));
        });
    }

    [Test]
    public void Translate_DenyAndAllowPolicies_GiveDenyThenAllowFiltersWithIstioShapes()
    {
        // Arrange
        var objects = Orders(
            Peer("shop", "strict", """{"mtls":{"mode":"STRICT"}}"""),
            Authz("deny-admin", """{"action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin*"],"methods":["POST"]}}]}]}"""),
            Authz("allow-frontend", """{"selector":{"matchLabels":{"app":"orders"}},"rules":[{"from":[{"source":{"principals":["cluster.local/ns/web/sa/frontend"],"namespaces":["web"]}}],"to":[{"operation":{"notPaths":["/internal/*"]}}]}]}"""));

        // Act
        var listener = ServerListeners(objects)[Orders1];

        // Assert: the proto shapes.
        var filters = Manager(listener.FilterChains.Single()).HttpFilters;
        Assert.That(filters.Select(f => f.Name), Is.EqualTo(new[] { XdsTranslator.RbacDenyFilterName, XdsTranslator.RbacAllowFilterName, "envoy.filters.http.router" }));
        var deny = filters[0].TypedConfig.Unpack<RbacFilter>().Rules;
        var allow = filters[1].TypedConfig.Unpack<RbacFilter>().Rules;
        var denyPolicy = deny.Policies["ns[shop]-policy[deny-admin]-rule[0]"];
        var allowPolicy = allow.Policies["ns[shop]-policy[allow-frontend]-rule[0]"];
        var operation = denyPolicy.Permissions.Single().AndRules.Rules;
        var source = allowPolicy.Principals.Single().AndIds.Ids;
        Assert.Multiple(() =>
        {
            Assert.That(deny.Action, Is.EqualTo(RBAC.Types.Action.Deny));
            Assert.That(allow.Action, Is.EqualTo(RBAC.Types.Action.Allow));
            Assert.That(operation[0].OrRules.Rules.Single().UrlPath.Path.Prefix, Is.EqualTo("/admin"));
            Assert.That(operation[1].OrRules.Rules.Single().Header.Name, Is.EqualTo(":method"));
            Assert.That(operation[1].OrRules.Rules.Single().Header.StringMatch.Exact, Is.EqualTo("POST"));
            Assert.That(denyPolicy.Principals.Single().Any, Is.True);
            Assert.That(source[0].OrIds.Ids.Single().Authenticated.PrincipalName.Exact, Is.EqualTo("spiffe://cluster.local/ns/web/sa/frontend"));
            Assert.That(source[1].OrIds.Ids.Single().Authenticated.PrincipalName.SafeRegex.Regex, Is.EqualTo("spiffe://[^/]+/ns/web/sa/[^/]+"));
            Assert.That(allowPolicy.Permissions.Single().AndRules.Rules.Single().NotRule.OrRules.Rules.Single().UrlPath.Path.Prefix, Is.EqualTo("/internal/"));
        });

        // Assert: what a Mesh server enforces.
        var set = XdsServerPolicyMapper.Map(Decode(listener), [])!.Authorization;
        var frontend = SpiffeId.Parse("spiffe://cluster.local/ns/web/sa/frontend");
        var other = SpiffeId.Parse("spiffe://cluster.local/ns/web/sa/other");
        Assert.Multiple(() =>
        {
            Assert.That(set.Evaluate(frontend, "POST", "/admin/x").Allowed, Is.False);
            Assert.That(set.Evaluate(frontend, "GET", "/admin/x").Allowed, Is.True);
            Assert.That(set.Evaluate(frontend, "GET", "/internal/x").Allowed, Is.False);
            Assert.That(set.Evaluate(other, "GET", "/orders").Allowed, Is.False);
            Assert.That(set.Evaluate(null, "GET", "/orders").Allowed, Is.False);
        });
    }

    [Test]
    public void Translate_NoSecurityObjects_NoServerListeners()
    {
        // Act
        var listeners = ServerListeners(Orders());

        // Assert
        Assert.That(listeners, Is.Empty);
    }
}
