using System.Collections.Immutable;
using System.Globalization;
using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Google.Protobuf;
using Mesh.Authorization;
using Hcm = Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager;
using RbacFilter = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;

namespace Mesh.Xds.Resources;

/// <summary>
/// Server listeners (gRFC A36): a socket address and filter chains, each an <c>HttpConnectionManager</c> with an
/// inline route configuration, RBAC filters (gRFC A41) and the router, over plaintext or a
/// <c>DownstreamTlsContext</c>. What a Mesh server cannot enforce (filter chain matches other than the transport
/// protocol, other network or HTTP filters, per-route RBAC overrides, RDS) is rejected rather than ignored.
/// </summary>
internal sealed partial class XdsListenerResourceType
{
    /// <summary>The transport protocol of TLS connections in <c>filter_chain_match</c>.</summary>
    public const string TlsTransportProtocol = "tls";

    /// <summary>The transport protocol of plaintext connections in <c>filter_chain_match</c>.</summary>
    public const string RawBufferTransportProtocol = "raw_buffer";

    private const string DownstreamTlsContextType = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

    private static XdsServerListener? ValidateServerListener(Listener message, List<string> errors)
    {
        var count = errors.Count;
        string? address = null;
        if (message.Address?.SocketAddress is { } socket)
        {
            if (socket.PortSpecifierCase != SocketAddress.PortSpecifierOneofCase.PortValue || socket.PortValue > 65535)
            {
                errors.Add("address.socket_address: must have a port_value from 0 to 65535 (named ports are not supported)");
            }
            else
            {
                address = System.Net.IPAddress.TryParse(socket.Address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                    ? $"[{socket.Address}]:{socket.PortValue.ToString(CultureInfo.InvariantCulture)}"
                    : $"{socket.Address}:{socket.PortValue.ToString(CultureInfo.InvariantCulture)}";
            }
        }

        if (message.ListenerFilters.Count > 0)
        {
            errors.Add("listener_filters: listener filters are not supported by xDS-enabled servers; remove them");
        }

        if (message.UseOriginalDst is true)
        {
            errors.Add("use_original_dst: is true; xDS-enabled servers do not support it (gRFC A36)");
        }

        var chains = ImmutableArray.CreateBuilder<XdsServerFilterChain>(message.FilterChains.Count);
        var protocols = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < message.FilterChains.Count; i++)
        {
            var chain = ValidateChain(message.FilterChains[i], $"filter_chains[{i.ToString(CultureInfo.InvariantCulture)}]", errors);
            if (chain is null)
            {
                continue;
            }

            if (!protocols.Add(chain.TransportProtocol))
            {
                errors.Add($"filter_chains[{i.ToString(CultureInfo.InvariantCulture)}].filter_chain_match: another chain matches the same connections (transport_protocol {XdsFields.Quote(chain.TransportProtocol)}); chains must differ by transport_protocol");
            }

            chains.Add(chain);
        }

        XdsServerFilterChain? fallback = null;
        if (message.DefaultFilterChain is { } defaultChain)
        {
            fallback = ValidateChain(defaultChain, "default_filter_chain", errors);
        }

        return errors.Count == count ? new XdsServerListener(message.Name, address, chains.ToImmutable(), fallback) : null;
    }

    private static XdsServerFilterChain? ValidateChain(FilterChain chain, string path, List<string> errors)
    {
        var count = errors.Count;
        var protocol = string.Empty;
        if (chain.FilterChainMatch is { } match)
        {
            var matchPath = $"{path}.filter_chain_match";
            if (match.PrefixRanges.Count > 0 || match.DirectSourcePrefixRanges.Count > 0 || match.SourcePrefixRanges.Count > 0 || match.SourcePorts.Count > 0 || match.SourceType != FilterChainMatch.Types.ConnectionSourceType.Any)
            {
                errors.Add($"{matchPath}: matching on destination or source addresses, ports or type is not supported; a Mesh server chooses chains by transport_protocol only");
            }

            if (match.ServerNames.Count > 0 || match.ApplicationProtocols.Count > 0)
            {
                errors.Add($"{matchPath}: matching on server_names or application_protocols is not supported; a Mesh server chooses chains by transport_protocol only");
            }

            protocol = match.TransportProtocol;
            if (protocol is not ("" or TlsTransportProtocol or RawBufferTransportProtocol))
            {
                errors.Add($"{matchPath}.transport_protocol = {XdsFields.Quote(protocol)}: must be 'tls', 'raw_buffer' or empty");
            }
        }

        var tls = ValidateTransportSocket(chain.TransportSocket, $"{path}.transport_socket", errors);
        if (protocol == TlsTransportProtocol && tls is null && errors.Count == count)
        {
            errors.Add($"{path}: matches TLS connections (transport_protocol 'tls') but has no TLS transport_socket; set an envoy.transport_sockets.tls DownstreamTlsContext");
        }
        else if (protocol == RawBufferTransportProtocol && tls is not null)
        {
            errors.Add($"{path}: matches plaintext connections (transport_protocol 'raw_buffer') but has a TLS transport_socket; remove it");
        }

        var engines = ImmutableArray<RbacEngine>.Empty;
        var key = string.Empty;
        if (chain.Filters.Count != 1)
        {
            errors.Add($"{path}.filters: has {XdsFields.Format(chain.Filters.Count)} filters; it must have exactly one, the HttpConnectionManager");
        }
        else
        {
            var filterPath = $"{path}.filters[0].typed_config";
            var typed = chain.Filters[0].TypedConfig;
            if (typed is null || XdsTypeUrls.MessageType(typed.TypeUrl) != XdsTypeUrls.HttpConnectionManager)
            {
                errors.Add($"{filterPath}: has type {XdsFields.Quote(typed?.TypeUrl)}; it must be type.googleapis.com/{XdsTypeUrls.HttpConnectionManager}");
            }
            else if (XdsFields.TryParse(Hcm.Parser, typed.Value, filterPath, errors, out var hcm))
            {
                (engines, key) = ValidateServerManager(hcm, filterPath, errors);
            }
        }

        var name = string.IsNullOrEmpty(chain.Name) ? path : chain.Name;
        return errors.Count == count ? new XdsServerFilterChain(name, protocol, tls, engines, key) : null;
    }

    private static XdsDownstreamTls? ValidateTransportSocket(TransportSocket? socket, string path, List<string> errors)
    {
        if (socket?.TypedConfig is not { } typed)
        {
            return null;
        }

        var type = XdsTypeUrls.MessageType(typed.TypeUrl);
        if (type == XdsTypeUrls.RawBuffer)
        {
            return null;
        }

        if (type != DownstreamTlsContextType)
        {
            errors.Add($"{path}.typed_config: has type {XdsFields.Quote(typed.TypeUrl)}; it must be a {DownstreamTlsContextType} or a RawBuffer");
            return null;
        }

        if (!XdsFields.TryParse(DownstreamTlsContext.Parser, typed.Value, $"{path}.typed_config", errors, out var context))
        {
            return null;
        }

        var count = errors.Count;
        var common = context.CommonTlsContext;
        var certificate = common?.TlsCertificateProviderInstance?.InstanceName;
        if (string.IsNullOrEmpty(certificate))
        {
            errors.Add($"{path}.typed_config.common_tls_context.tls_certificate_provider_instance: is not set; name the certificate provider instance of the server's certificate (gRFC A29)");
        }

        var ca = common?.ValidationContextTypeCase switch
        {
            CommonTlsContext.ValidationContextTypeOneofCase.ValidationContext => common.ValidationContext.CaCertificateProviderInstance?.InstanceName,
            CommonTlsContext.ValidationContextTypeOneofCase.CombinedValidationContext => common.CombinedValidationContext.DefaultValidationContext?.CaCertificateProviderInstance?.InstanceName,
            _ => null,
        };
        var require = context.RequireClientCertificate ?? false;
        if (require && string.IsNullOrEmpty(ca))
        {
            errors.Add($"{path}.typed_config: require_client_certificate is true but common_tls_context.validation_context.ca_certificate_provider_instance is not set; name the provider of the trust bundle");
        }

        if (context.RequireSni is true)
        {
            errors.Add($"{path}.typed_config.require_sni: is true; xDS-enabled servers do not support it (gRFC A29)");
        }

        return errors.Count == count ? new XdsDownstreamTls(require, certificate!, string.IsNullOrEmpty(ca) ? null : ca) : null;
    }

    private static (ImmutableArray<RbacEngine> Engines, string Key) ValidateServerManager(Hcm hcm, string path, List<string> errors)
    {
        var rbacNames = new HashSet<string>(StringComparer.Ordinal);
        var engines = ImmutableArray.CreateBuilder<RbacEngine>();
        var key = new System.Text.StringBuilder();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var routerIndex = -1;
        for (var i = 0; i < hcm.HttpFilters.Count; i++)
        {
            var filter = hcm.HttpFilters[i];
            var filterPath = $"{path}.http_filters[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (string.IsNullOrEmpty(filter.Name) || !names.Add(filter.Name))
            {
                errors.Add($"{filterPath}.name = {XdsFields.Quote(filter.Name)}: must be non-empty and unique");
            }

            var type = XdsTypeUrls.MessageType(filter.TypedConfig?.TypeUrl);
            switch (type)
            {
                case XdsTypeUrls.Router:
                    routerIndex = routerIndex < 0 ? i : routerIndex;
                    if (i != hcm.HttpFilters.Count - 1)
                    {
                        errors.Add($"{filterPath}: the router filter {XdsFields.Quote(filter.Name)} is not the last filter; the router is terminal and must come last");
                    }

                    break;
                case XdsTypeUrls.Rbac:
                    if (filter.Disabled)
                    {
                        errors.Add($"{filterPath}.disabled: is true; a disabled RBAC filter is enabled per route, which a Mesh server does not support");
                        break;
                    }

                    rbacNames.Add(filter.Name);
                    if (XdsFields.TryParse(RbacFilter.Parser, filter.TypedConfig!.Value, $"{filterPath}.typed_config", errors, out var rbac)
                        && XdsRbac.Translate(filter.Name, rbac, $"{filterPath}.typed_config", errors) is { } engine)
                    {
                        engines.Add(engine);
                        key.Append(filter.Name).Append('=').Append(Convert.ToBase64String(filter.TypedConfig.Value.Span)).Append(';');
                    }

                    break;
                default:
                    if (!filter.IsOptional)
                    {
                        errors.Add($"{filterPath}.typed_config: type {XdsFields.Quote(type)} is not an HTTP filter a Mesh server enforces (RBAC, Router); remove it or mark it is_optional");
                    }

                    break;
            }
        }

        if (routerIndex < 0)
        {
            errors.Add($"{path}.http_filters: has no router filter; end the list with envoy.extensions.filters.http.router.v3.Router");
        }

        switch (hcm.RouteSpecifierCase)
        {
            case Hcm.RouteSpecifierOneofCase.RouteConfig:
                foreach (var host in hcm.RouteConfig.VirtualHosts)
                {
                    CheckOverrides(host.TypedPerFilterConfig.Keys, rbacNames, $"{path}.route_config.virtual_hosts[{XdsFields.Quote(host.Name)}].typed_per_filter_config", errors);
                    foreach (var route in host.Routes)
                    {
                        CheckOverrides(route.TypedPerFilterConfig.Keys, rbacNames, $"{path}.route_config.virtual_hosts[{XdsFields.Quote(host.Name)}].routes[{XdsFields.Quote(route.Name)}].typed_per_filter_config", errors);
                    }
                }

                break;
            case Hcm.RouteSpecifierOneofCase.Rds:
                errors.Add($"{path}.rds: a Mesh server needs the route configuration inline (route_config); RDS for server listeners is not supported");
                break;
            default:
                errors.Add($"{path}: has no route_config; a server's HttpConnectionManager needs an inline route_config (gRFC A36)");
                break;
        }

        return (engines.ToImmutable(), key.ToString());
    }

    private static void CheckOverrides(ICollection<string> keys, HashSet<string> rbacNames, string path, List<string> errors)
    {
        foreach (var name in keys)
        {
            if (rbacNames.Contains(name))
            {
                errors.Add($"{path}[{XdsFields.Quote(name)}]: per-route RBAC overrides are not supported; a Mesh server applies one set of policies to every request of the listener");
            }
        }
    }
}
