using System.Globalization;
using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Rbac.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Type.Matcher.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.ControlPlane.Model;
using RbacFilter = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using Route = Envoy.Config.Route.V3.Route;

namespace Mesh.ControlPlane.Translation;

/// <summary>
/// Server listeners (gRFC A36) carrying PeerAuthentication and AuthorizationPolicy to xDS-enabled servers: one per
/// workload socket address (endpoint address × target port), named
/// <c>grpc/server?xds.resource.listening_address=IP:PORT</c>. Made only when some PeerAuthentication or
/// AuthorizationPolicy exists, so meshes without security push exactly what they did before.
/// </summary>
/// <remarks>
/// Shape: STRICT has one chain, TLS with a required client certificate; PERMISSIVE (also the mode of a workload no
/// PeerAuthentication covers, as in Istio) has a chain matching <c>transport_protocol: tls</c>, mutual TLS exactly as
/// STRICT's (Istio's PERMISSIVE inbound TLS chain requires the client certificate too: a TLS client without one is
/// not a mesh peer), and a <c>raw_buffer</c> chain in plaintext; DISABLE has one plaintext chain. Every chain's
/// <c>HttpConnectionManager</c> has the RBAC filters of the AuthorizationPolicies that select the workload (DENY,
/// then ALLOW, each only when such a policy exists), the router, and an inline route configuration with one
/// <c>non_forwarding_action</c> route. The RBAC follows Istio's translation: one RBAC policy per rule, its
/// permissions one per <c>to</c> entry and its principals one per <c>from</c> entry, each an <c>and_rules</c> /
/// <c>and_ids</c> of the entry's conditions.
/// </remarks>
internal static partial class XdsTranslator
{
    /// <summary>The default <c>server_listener_resource_name_template</c> of gRFC A36.</summary>
    public const string ServerListenerNameTemplate = "grpc/server?xds.resource.listening_address=%s";

    /// <summary>The RBAC filter instance of the DENY policies.</summary>
    public const string RbacDenyFilterName = "envoy.filters.http.rbac.deny";

    /// <summary>The RBAC filter instance of the ALLOW policies.</summary>
    public const string RbacAllowFilterName = "envoy.filters.http.rbac.allow";

    /// <summary>The server listener name of a socket address.</summary>
    public static string ServerListenerName(string address, int port)
    {
        var socket = address.Contains(':', StringComparison.Ordinal) ? $"[{address}]" : address;
        return ServerListenerNameTemplate.Replace("%s", $"{socket}:{port.ToString(CultureInfo.InvariantCulture)}", StringComparison.Ordinal);
    }

    /// <summary>The server listeners of every workload socket address, or none when no security object exists.</summary>
    private static IEnumerable<Listener> BuildServerListeners(XdsTranslationContext context, MeshConfigReadResult config)
    {
        if (context.PeerAuthentications.Count == 0 && context.AuthorizationPolicies.Count == 0)
        {
            yield break;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in config.Services.OrderBy(static s => s.Namespace, StringComparer.Ordinal).ThenBy(static s => s.Name, StringComparer.Ordinal))
        {
            foreach (var port in service.Value.Spec?.Ports ?? [])
            {
                if (port.Protocol is { } protocol && protocol != "TCP")
                {
                    continue;
                }

                foreach (var endpoint in context.Endpoints(service, port))
                {
                    var name = ServerListenerName(endpoint.Address, endpoint.Port);
                    if (!seen.Add(name))
                    {
                        continue;
                    }

                    var ns = endpoint.Namespace ?? service.Namespace;
                    var mode = context.PeerAuthenticationModeFor(ns, endpoint.Labels) ?? PeerAuthenticationMode.Permissive;
                    var policies = SelectedPolicies(context, ns, endpoint.Labels);
                    yield return BuildServerListener(context, name, endpoint.Address, endpoint.Port, mode, policies);
                }
            }
        }
    }

    /// <summary>The AuthorizationPolicies that select a workload: its namespace's and the root namespace's, by selector.</summary>
    private static List<AuthorizationPolicyModel> SelectedPolicies(XdsTranslationContext context, string ns, IReadOnlyDictionary<string, string> labels)
    {
        var selected = new List<AuthorizationPolicyModel>();
        foreach (var policy in context.AuthorizationPolicies.OrderBy(static p => p.Namespace, StringComparer.Ordinal).ThenBy(static p => p.Name, StringComparer.Ordinal))
        {
            if (policy.Namespace != ns && policy.Namespace != context.RootNamespace)
            {
                continue;
            }

            if (policy.Selector is null || policy.Selector.All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value))
            {
                selected.Add(policy);
            }
        }

        return selected;
    }

    private static Listener BuildServerListener(XdsTranslationContext context, string name, string address, int port, PeerAuthenticationMode mode, List<AuthorizationPolicyModel> policies)
    {
        var listener = new Listener
        {
            Name = name,
            Address = new Address { SocketAddress = new SocketAddress { Address = address, PortValue = (uint)port } },
            TrafficDirection = TrafficDirection.Inbound,
        };
        switch (mode)
        {
            case PeerAuthenticationMode.Strict:
                listener.FilterChains.Add(ServerChain(context, "inbound-mtls", null, tls: true, policies));
                break;
            case PeerAuthenticationMode.Disable:
                listener.FilterChains.Add(ServerChain(context, "inbound-plaintext", null, tls: false, policies));
                break;
            default:
                listener.FilterChains.Add(ServerChain(context, "inbound-mtls", "tls", tls: true, policies));
                listener.FilterChains.Add(ServerChain(context, "inbound-plaintext", "raw_buffer", tls: false, policies));
                break;
        }

        return listener;
    }

    private static FilterChain ServerChain(XdsTranslationContext context, string name, string? transportProtocol, bool tls, List<AuthorizationPolicyModel> policies)
    {
        var chain = new FilterChain { Name = name };
        if (transportProtocol is not null)
        {
            chain.FilterChainMatch = new FilterChainMatch { TransportProtocol = transportProtocol };
        }

        if (tls)
        {
            var common = new CommonTlsContext
            {
                TlsCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = CertificateProviderInstance, CertificateName = "default" },
                ValidationContext = new CertificateValidationContext
                {
                    CaCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = CertificateProviderInstance, CertificateName = "ROOTCA" },
                },
            };
            var downstream = new DownstreamTlsContext { CommonTlsContext = common, RequireClientCertificate = true };
            chain.TransportSocket = new TransportSocket { Name = TlsTransportSocketName, TypedConfig = Any.Pack(downstream) };
        }

        var manager = new HttpConnectionManager
        {
            StatPrefix = name,
            RouteConfig = new RouteConfiguration
            {
                Name = "inbound",
                VirtualHosts =
                {
                    new VirtualHost
                    {
                        Name = "inbound",
                        Domains = { "*" },
                        Routes = { new Route { Name = "default", Match = new RouteMatch { Prefix = "/" }, NonForwardingAction = new NonForwardingAction() } },
                    },
                },
            },
        };
        var deny = policies.Where(static p => p.Action == AuthorizationAction.Deny).ToList();
        var allow = policies.Where(static p => p.Action == AuthorizationAction.Allow).ToList();
        if (deny.Count > 0)
        {
            manager.HttpFilters.Add(new HttpFilter { Name = RbacDenyFilterName, TypedConfig = Any.Pack(BuildRbac(context, RBAC.Types.Action.Deny, deny)) });
        }

        if (allow.Count > 0)
        {
            manager.HttpFilters.Add(new HttpFilter { Name = RbacAllowFilterName, TypedConfig = Any.Pack(BuildRbac(context, RBAC.Types.Action.Allow, allow)) });
        }

        manager.HttpFilters.Add(new HttpFilter { Name = RouterFilterName, TypedConfig = Any.Pack(new Router()) });
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(manager) });
        return chain;
    }

    private static RbacFilter BuildRbac(XdsTranslationContext context, RBAC.Types.Action action, List<AuthorizationPolicyModel> policies)
    {
        var rules = new RBAC { Action = action };
        foreach (var policy in policies)
        {
            for (var i = 0; i < policy.Rules.Length; i++)
            {
                var rule = policy.Rules[i];
                var rbacPolicy = new Policy();
                if (rule.To.IsDefaultOrEmpty)
                {
                    rbacPolicy.Permissions.Add(new Permission { Any = true });
                }
                else
                {
                    foreach (var operation in rule.To)
                    {
                        rbacPolicy.Permissions.Add(OperationPermission(operation));
                    }
                }

                if (rule.From.IsDefaultOrEmpty)
                {
                    rbacPolicy.Principals.Add(new Principal { Any = true });
                }
                else
                {
                    foreach (var source in rule.From)
                    {
                        rbacPolicy.Principals.Add(SourcePrincipal(context, source));
                    }
                }

                rules.Policies[$"ns[{policy.Namespace}]-policy[{policy.Name}]-rule[{i.ToString(CultureInfo.InvariantCulture)}]"] = rbacPolicy;
            }
        }

        return new RbacFilter { Rules = rules };
    }

    private static Permission OperationPermission(AuthorizationOperationModel operation)
    {
        var all = new Permission.Types.Set();
        if (!operation.Paths.IsDefaultOrEmpty)
        {
            all.Rules.Add(AnyOf(operation.Paths.Select(PathPermission)));
        }

        if (!operation.NotPaths.IsDefaultOrEmpty)
        {
            all.Rules.Add(new Permission { NotRule = AnyOf(operation.NotPaths.Select(PathPermission)) });
        }

        if (!operation.Methods.IsDefaultOrEmpty)
        {
            all.Rules.Add(AnyOf(operation.Methods.Select(MethodPermission)));
        }

        if (!operation.NotMethods.IsDefaultOrEmpty)
        {
            all.Rules.Add(new Permission { NotRule = AnyOf(operation.NotMethods.Select(MethodPermission)) });
        }

        return all.Rules.Count == 0 ? new Permission { Any = true } : new Permission { AndRules = all };

        static Permission AnyOf(IEnumerable<Permission> rules)
        {
            var set = new Permission.Types.Set();
            set.Rules.Add(rules);
            return new Permission { OrRules = set };
        }
    }

    private static Permission PathPermission(string value) => new()
    {
        UrlPath = new PathMatcher { Path = IstioStringMatcher(value, string.Empty) },
    };

    private static Permission MethodPermission(string value) => new()
    {
        Header = new HeaderMatcher { Name = ":method", StringMatch = new StringMatcher { Exact = value.ToUpperInvariant(), IgnoreCase = true } },
    };

    private static Principal SourcePrincipal(XdsTranslationContext context, AuthorizationSourceModel source)
    {
        var all = new Principal.Types.Set();
        if (!source.Principals.IsDefaultOrEmpty)
        {
            all.Ids.Add(AnyOf(source.Principals.Select(PrincipalName)));
        }

        if (!source.NotPrincipals.IsDefaultOrEmpty)
        {
            // A plaintext peer matches no principal condition, negative ones included: require an authenticated peer.
            all.Ids.Add(new Principal { Authenticated = new Principal.Types.Authenticated() });
            all.Ids.Add(new Principal { NotId = AnyOf(source.NotPrincipals.Select(PrincipalName)) });
        }

        if (!source.Namespaces.IsDefaultOrEmpty)
        {
            all.Ids.Add(AnyOf(source.Namespaces.Select(NamespaceName)));
        }

        if (!source.NotNamespaces.IsDefaultOrEmpty)
        {
            // A peer without a namespace in its SPIFFE ID matches no namespace condition, negative ones included.
            all.Ids.Add(NamespaceName("*"));
            all.Ids.Add(new Principal { NotId = AnyOf(source.NotNamespaces.Select(NamespaceName)) });
        }

        return all.Ids.Count == 0 ? new Principal { Any = true } : new Principal { AndIds = all };

        static Principal AnyOf(IEnumerable<Principal> ids)
        {
            var set = new Principal.Types.Set();
            set.Ids.Add(ids);
            return new Principal { OrIds = set };
        }
    }

    /// <summary>An Istio principal (<c>td/ns/NS/sa/SA</c>, <c>prefix*</c>, <c>*suffix</c>, <c>*</c>) on the peer's SPIFFE ID.</summary>
    private static Principal PrincipalName(string value) => value == "*"
        ? new Principal { Authenticated = new Principal.Types.Authenticated() }
        : new Principal { Authenticated = new Principal.Types.Authenticated { PrincipalName = IstioStringMatcher(value, "spiffe://") } };

    /// <summary>An Istio namespace (exact, <c>prefix*</c>, <c>*suffix</c>, <c>*</c>) as a regular expression on the peer's SPIFFE ID.</summary>
    private static Principal NamespaceName(string value)
    {
        var segment = value switch
        {
            "*" => "[^/]+",
            [.. var prefix, '*'] => EscapeRegex(prefix) + "[^/]*",
            ['*', .. var suffix] => "[^/]*" + EscapeRegex(suffix),
            _ => EscapeRegex(value),
        };
        return new Principal
        {
            Authenticated = new Principal.Types.Authenticated
            {
                PrincipalName = new StringMatcher { SafeRegex = new RegexMatcher { Regex = $"spiffe://[^/]+/ns/{segment}/sa/[^/]+" } },
            },
        };
    }

    /// <summary>Istio's string forms as an Envoy matcher; <paramref name="prefix"/> is prepended to exact and prefix values.</summary>
    private static StringMatcher IstioStringMatcher(string value, string prefix) => value switch
    {
        "*" => new StringMatcher { SafeRegex = new RegexMatcher { Regex = ".+" } },
        [.. var start, '*'] => new StringMatcher { Prefix = prefix + start },
        ['*', .. var end] => new StringMatcher { Suffix = end },
        _ => new StringMatcher { Exact = prefix + value },
    };

    /// <summary>Escapes RE2 metacharacters (every character that is not a letter, a digit, '-' or '_').</summary>
    private static string EscapeRegex(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_'))
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }
}
