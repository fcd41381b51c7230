using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Rbac.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Type.Matcher.V3;
using Google.Protobuf.WellKnownTypes;
using RbacFilter = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;

namespace Mesh.Xds.Tests.Resources;

/// <summary>Server listeners (gRFC A36) and RBAC filters (gRFC A41) for the decoder and policy source tests.</summary>
internal static class ServerListenerProtos
{
    public const string Address = "10.0.0.5:8080";
    public const string Name = "grpc/server?xds.resource.listening_address=10.0.0.5:8080";

    public static Listener ServerListener(params FilterChain[] chains)
    {
        var listener = new Listener { Name = Name, Address = new Envoy.Config.Core.V3.Address { SocketAddress = new SocketAddress { Address = "10.0.0.5", PortValue = 8080 } } };
        listener.FilterChains.Add(chains);
        return listener;
    }

    public static FilterChain Chain(string? transportProtocol, bool? requireClientCertificate, params HttpFilter[] rbac)
    {
        var chain = new FilterChain();
        if (transportProtocol is not null)
        {
            chain.FilterChainMatch = new FilterChainMatch { TransportProtocol = transportProtocol };
        }

        if (requireClientCertificate is { } require)
        {
            var tls = new DownstreamTlsContext
            {
                CommonTlsContext = new CommonTlsContext
                {
                    TlsCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = "default" },
                    ValidationContext = new CertificateValidationContext { CaCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = "default" } },
                },
                RequireClientCertificate = require,
            };
            chain.TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(tls) };
        }

        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(Manager(rbac)) });
        return chain;
    }

    public static HttpConnectionManager Manager(params HttpFilter[] rbac)
    {
        var manager = new HttpConnectionManager
        {
            RouteConfig = new RouteConfiguration
            {
                Name = "inbound",
                VirtualHosts = { new VirtualHost { Name = "inbound", Domains = { "*" }, Routes = { new Envoy.Config.Route.V3.Route { Match = new RouteMatch { Prefix = "/" }, NonForwardingAction = new NonForwardingAction() } } } },
            },
        };
        manager.HttpFilters.Add(rbac);
        manager.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) });
        return manager;
    }

    public static HttpFilter Rbac(string name, RBAC.Types.Action action, params (string Name, Policy Policy)[] policies)
    {
        var rules = new RBAC { Action = action };
        foreach (var (policyName, policy) in policies)
        {
            rules.Policies[policyName] = policy;
        }

        return new HttpFilter { Name = name, TypedConfig = Any.Pack(new RbacFilter { Rules = rules }) };
    }

    public static Policy NewPolicy(Permission permission, Principal principal) => new() { Permissions = { permission }, Principals = { principal } };

    public static Permission AnyPermission() => new() { Any = true };

    public static Principal AnyPrincipal() => new() { Any = true };

    public static Permission PathPrefix(string prefix) => new() { UrlPath = new PathMatcher { Path = new StringMatcher { Prefix = prefix } } };

    public static Permission Method(string method) => new() { Header = new HeaderMatcher { Name = ":method", StringMatch = new StringMatcher { Exact = method } } };

    public static Principal PrincipalName(StringMatcher matcher) => new() { Authenticated = new Principal.Types.Authenticated { PrincipalName = matcher } };

    public static Permission And(params Permission[] rules) => new() { AndRules = new Permission.Types.Set { Rules = { rules } } };

    public static Permission Or(params Permission[] rules) => new() { OrRules = new Permission.Types.Set { Rules = { rules } } };

    public static Principal OrIds(params Principal[] ids) => new() { OrIds = new Principal.Types.Set { Ids = { ids } } };

    public static Principal AndIds(params Principal[] ids) => new() { AndIds = new Principal.Types.Set { Ids = { ids } } };
}
