using Envoy.Config.Listener.V3;
using Envoy.Config.Rbac.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Type.Matcher.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Authorization;
using Mesh.Identity;
using Mesh.Xds.Resources;
using Mesh.Xds.ServerPolicies;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;
using static Mesh.Xds.Tests.Resources.ServerListenerProtos;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class ServerListenerResourceTypeTests
{
    private static readonly XdsListenerResourceType Type = XdsListenerResourceType.Instance;
    private static readonly SpiffeId Frontend = SpiffeId.Parse("spiffe://cluster.local/ns/web/sa/frontend");
    private static readonly SpiffeId Batch = SpiffeId.Parse("spiffe://cluster.local/ns/jobs/sa/batch");

    private static Authorization.ServerPolicy Policy(Listener listener)
    {
        var errors = new List<string>();
        var policy = XdsServerPolicyMapper.Map(Valid<XdsServerListener>(Type, listener), errors);
        Assert.That(errors, Is.Empty);
        return policy!;
    }

    private static AuthorizationPolicySet Rbac(params HttpFilter[] filters) => Policy(ServerListener(Chain(null, true, filters))).Authorization;

    [Test]
    public void Decode_StrictListener_IsStrict()
    {
        // Act
        var listener = Valid<XdsServerListener>(Type, ServerListener(Chain(null, true)));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(listener.Name, Is.EqualTo(Name));
            Assert.That(listener.Address, Is.EqualTo(Address));
            Assert.That(listener.FilterChains.Single().Tls!.RequireClientCertificate, Is.True);
            Assert.That(XdsServerPolicyMapper.Map(listener, [])!.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Strict));
        });
    }

    [Test]
    public void Decode_PermissiveListener_IsPermissive()
    {
        // Act
        var policy = Policy(ServerListener(Chain("tls", true), Chain("raw_buffer", null)));

        // Assert
        Assert.That(policy.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Permissive));
    }

    [Test]
    public void Decode_PlaintextListener_IsDisable()
    {
        // Act
        var policy = Policy(ServerListener(Chain(null, null)));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(policy.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Disable));
            Assert.That(policy.Authorization.Evaluate(null, "GET", "/").Allowed, Is.True);
        });
    }

    [Test]
    public void Decode_DefaultFilterChainOnly_IsServerListener()
    {
        // Arrange
        var listener = new Listener { Name = Name, DefaultFilterChain = Chain(null, true) };

        // Act
        var policy = Policy(listener);

        // Assert
        Assert.That(policy.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Strict));
    }

    [Test]
    public void Decode_DenyThenAllow_DenyWinsAndAllowRestricts()
    {
        // Arrange
        var set = Rbac(
            ServerListenerProtos.Rbac("deny", RBAC.Types.Action.Deny, ("admin", NewPolicy(PathPrefix("/admin"), AnyPrincipal()))),
            ServerListenerProtos.Rbac("allow", RBAC.Types.Action.Allow, ("web", NewPolicy(AnyPermission(), PrincipalName(new StringMatcher { Prefix = "spiffe://cluster.local/ns/web/" })))));

        // Act & Assert
        Assert.Multiple(() =>
        {
            Assert.That(set.Evaluate(Frontend, "GET", "/admin/x").Allowed, Is.False);
            Assert.That(set.Evaluate(Frontend, "GET", "/admin/x").PolicyName, Is.EqualTo("admin"));
            Assert.That(set.Evaluate(Frontend, "GET", "/orders").Allowed, Is.True);
            Assert.That(set.Evaluate(Batch, "GET", "/orders").Allowed, Is.False);
            Assert.That(set.Evaluate(null, "GET", "/orders").Allowed, Is.False);
        });
    }

    [Test]
    public void Decode_PrincipalMatchers_ExactSuffixRegexAndNot()
    {
        // Arrange: exact frontend, or any sa ending in "batch" that is not in ns web, or a regex on ns jobs.
        var principal = OrIds(
            PrincipalName(new StringMatcher { Exact = "spiffe://cluster.local/ns/web/sa/frontend" }),
            AndIds(PrincipalName(new StringMatcher { Suffix = "/sa/batch" }), new Principal { NotId = PrincipalName(new StringMatcher { Contains = "/ns/web/" }) }));
        var regex = PrincipalName(new StringMatcher { SafeRegex = new RegexMatcher { Regex = "spiffe://[^/]+/ns/ops/sa/[^/]+" } });
        var set = Rbac(ServerListenerProtos.Rbac("allow", RBAC.Types.Action.Allow, ("a", NewPolicy(AnyPermission(), principal)), ("b", NewPolicy(AnyPermission(), regex))));

        // Act & Assert
        Assert.Multiple(() =>
        {
            Assert.That(set.Evaluate(Frontend, "GET", "/").Allowed, Is.True);
            Assert.That(set.Evaluate(Batch, "GET", "/").Allowed, Is.True);
            Assert.That(set.Evaluate(SpiffeId.Parse("spiffe://cluster.local/ns/web/sa/batch"), "GET", "/").Allowed, Is.False);
            Assert.That(set.Evaluate(SpiffeId.Parse("spiffe://cluster.local/ns/ops/sa/x"), "GET", "/").Allowed, Is.True);
            Assert.That(set.Evaluate(SpiffeId.Parse("spiffe://cluster.local/ns/ops/sa/x/y"), "GET", "/").Allowed, Is.False);
        });
    }

    [Test]
    public void Decode_PermissionTree_MethodsPathsAndNot()
    {
        // Arrange: DENY (POST or PUT) on anything but /public/*.
        var permission = And(Or(Method("POST"), Method("PUT")), new Permission { NotRule = PathPrefix("/public/") });
        var set = Rbac(ServerListenerProtos.Rbac("deny", RBAC.Types.Action.Deny, ("writes", NewPolicy(permission, AnyPrincipal()))));

        // Act & Assert
        Assert.Multiple(() =>
        {
            Assert.That(set.Evaluate(Frontend, "POST", "/orders").Allowed, Is.False);
            Assert.That(set.Evaluate(Frontend, "PUT", "/orders").Allowed, Is.False);
            Assert.That(set.Evaluate(Frontend, "POST", "/public/x").Allowed, Is.True);
            Assert.That(set.Evaluate(Frontend, "GET", "/orders").Allowed, Is.True);
        });
    }

    [Test]
    public void Decode_AllowFilterWithoutPolicies_DeniesEverything()
    {
        // Act
        var set = Rbac(ServerListenerProtos.Rbac("allow", RBAC.Types.Action.Allow));

        // Assert
        Assert.That(set.Evaluate(Frontend, "GET", "/").Allowed, Is.False);
    }

    [Test]
    public void Decode_RbacWithoutRulesOrLog_EnforcesNothing()
    {
        // Arrange
        var empty = new HttpFilter { Name = "empty", TypedConfig = Any.Pack(new Envoy.Extensions.Filters.Http.Rbac.V3.RBAC()) };
        var log = ServerListenerProtos.Rbac("log", RBAC.Types.Action.Log, ("all", NewPolicy(AnyPermission(), AnyPrincipal())));

        // Act
        var set = Rbac(empty, log);

        // Assert
        Assert.That(set.Evaluate(null, "GET", "/").Allowed, Is.True);
    }

    [Test]
    public void Decode_UnsupportedPrincipal_IsNackedWithPath()
    {
        // Arrange
        var principal = new Principal { RemoteIp = new Envoy.Config.Core.V3.CidrRange { AddressPrefix = "10.0.0.0" } };
        var listener = ServerListener(Chain(null, true, ServerListenerProtos.Rbac("deny", RBAC.Types.Action.Deny, ("ip", NewPolicy(AnyPermission(), principal)))));

        // Act
        var error = Invalid(Type, listener);

        // Assert
        Assert.That(error, Does.Contain("filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.rules.policies['ip'].principals[0]: the principal 'RemoteIp' is not supported"));
    }

    [Test]
    public void Decode_HeaderOtherThanMethod_IsNacked()
    {
        // Arrange
        var permission = new Permission { Header = new HeaderMatcher { Name = "x-user", StringMatch = new StringMatcher { Exact = "a" } } };
        var listener = ServerListener(Chain(null, true, ServerListenerProtos.Rbac("deny", RBAC.Types.Action.Deny, ("h", NewPolicy(permission, AnyPrincipal())))));

        // Act
        var error = Invalid(Type, listener);

        // Assert
        Assert.That(error, Does.Contain("permissions[0].header.name = 'x-user': only the :method header is supported"));
    }

    [Test]
    public void Decode_ConditionOrSourceMatchOrRds_AreNacked()
    {
        // Arrange
        var policy = NewPolicy(AnyPermission(), AnyPrincipal());
        policy.Condition = new Mesh.Xds.Protos.Google.Api.Expr.V1Alpha1.Expr();
        var chain = Chain(null, true, ServerListenerProtos.Rbac("deny", RBAC.Types.Action.Deny, ("cel", policy)));
        chain.FilterChainMatch = new FilterChainMatch { SourcePorts = { 1234 } };
        var rds = Chain("raw_buffer", null);
        var manager = Manager();
        manager.Rds = new Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.Rds { RouteConfigName = "x" };
        rds.Filters[0].TypedConfig = Any.Pack(manager);

        // Act
        var error = Invalid(Type, ServerListener(chain, rds));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error, Does.StartWith($"Listener '{Name}': "));
            Assert.That(error, Does.Contain("policies['cel']: has a CEL condition"));
            Assert.That(error, Does.Contain("filter_chains[0].filter_chain_match: matching on destination or source addresses"));
            Assert.That(error, Does.Contain("filter_chains[1].filters[0].typed_config.rds: a Mesh server needs the route configuration inline"));
        });
    }

    [Test]
    public void Decode_TlsChainWithoutTlsSocket_IsNacked()
    {
        // Act
        var error = Invalid(Type, ServerListener(Chain("tls", null)));

        // Assert
        Assert.That(error, Does.Contain("filter_chains[0]: matches TLS connections (transport_protocol 'tls') but has no TLS transport_socket"));
    }

    [Test]
    public void Map_ChainsWithDifferentRbac_IsRejected()
    {
        // Arrange
        var deny = ServerListenerProtos.Rbac("deny", RBAC.Types.Action.Deny, ("all", NewPolicy(AnyPermission(), AnyPrincipal())));
        var listener = Valid<XdsServerListener>(Type, ServerListener(Chain("tls", true, deny), Chain("raw_buffer", null)));
        var errors = new List<string>();

        // Act
        var policy = XdsServerPolicyMapper.Map(listener, errors);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(policy, Is.Null);
            Assert.That(errors.Single(), Does.Contain("carry different RBAC filters"));
        });
    }

    [Test]
    public void Map_TlsWithoutClientCertificateAndNoPlaintext_IsRejected()
    {
        // Arrange
        var listener = Valid<XdsServerListener>(Type, ServerListener(Chain(null, false)));
        var errors = new List<string>();

        // Act
        var policy = XdsServerPolicyMapper.Map(listener, errors);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(policy, Is.Null);
            Assert.That(errors.Single(), Does.Contain("without require_client_certificate and no plaintext chain"));
        });
    }

    [Test]
    public void Decode_ClientListener_IsUnchanged()
    {
        // Act
        var listener = Valid<XdsListener>(Type, NewListener());

        // Assert
        Assert.That(listener.RouteConfigurationName, Is.EqualTo(Target));
    }
}
