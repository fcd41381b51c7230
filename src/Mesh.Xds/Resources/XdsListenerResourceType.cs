using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Google.Protobuf;
using Hcm = Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager;

namespace Mesh.Xds.Resources;

/// <summary>
/// LDS: <c>envoy.config.listener.v3.Listener</c>, client side (gRFC A27, A39, A31): an <c>api_listener</c> holding an
/// <c>HttpConnectionManager</c> that names its route configuration (RDS over ADS) or carries it inline, and whose
/// HTTP filters end with the router. A listener without <c>api_listener</c> that has filter chains is a server
/// listener (gRFC A36), decoded into an <see cref="XdsServerListener"/>.
/// </summary>
internal sealed partial class XdsListenerResourceType : XdsResourceType<Listener>
{
    /// <summary>The type URL of listeners.</summary>
    public const string ListenerTypeUrl = Server.XdsResourceSnapshot.ListenerTypeUrl;

    private XdsListenerResourceType()
    {
    }

    /// <summary>The one instance.</summary>
    public static XdsListenerResourceType Instance { get; } = new();

    /// <inheritdoc />
    public override string TypeUrl => ListenerTypeUrl;

    /// <inheritdoc />
    public override string Name => "Listener";

    /// <inheritdoc />
    public override bool AllResourcesRequiredInSotW => true;

    /// <inheritdoc />
    protected override MessageParser<Listener> Parser => Listener.Parser;

    /// <inheritdoc />
    protected override string GetName(Listener message) => message.Name;

    /// <inheritdoc />
    protected override object? Validate(Listener message, List<string> errors)
    {
        if (message.ApiListener is null && (message.FilterChains.Count > 0 || message.DefaultFilterChain is not null))
        {
            return ValidateServerListener(message, errors);
        }

        if (message.ApiListener?.ApiListener_ is not { } any)
        {
            errors.Add("api_listener: is not set; a client listener must be an API listener holding an HttpConnectionManager (socket listeners are for xDS-enabled servers)");
            return null;
        }

        const string Path = "api_listener.api_listener";
        if (XdsTypeUrls.MessageType(any.TypeUrl) != XdsTypeUrls.HttpConnectionManager)
        {
            errors.Add($"{Path}: has type {XdsFields.Quote(any.TypeUrl)}; it must be type.googleapis.com/{XdsTypeUrls.HttpConnectionManager}");
            return null;
        }

        if (!XdsFields.TryParse(Hcm.Parser, any.Value, Path, errors, out var hcm))
        {
            return null;
        }

        string? rdsName = null;
        XdsRouteConfiguration? inline = null;
        switch (hcm.RouteSpecifierCase)
        {
            case Hcm.RouteSpecifierOneofCase.Rds:
                var source = hcm.Rds.ConfigSource;
                if (source is null || source.ConfigSourceSpecifierCase is not (ConfigSource.ConfigSourceSpecifierOneofCase.Ads or ConfigSource.ConfigSourceSpecifierOneofCase.Self))
                {
                    var actual = source is null ? "not set" : $"'{source.ConfigSourceSpecifierCase}'";
                    errors.Add($"{Path}.rds.config_source: is {actual}; it must be ads or self, since the client fetches route configurations on its ADS stream only (gRFC A27)");
                }

                if (string.IsNullOrEmpty(hcm.Rds.RouteConfigName))
                {
                    errors.Add($"{Path}.rds.route_config_name: is empty; name the RouteConfiguration to fetch");
                }
                else
                {
                    rdsName = hcm.Rds.RouteConfigName;
                }

                break;
            case Hcm.RouteSpecifierOneofCase.RouteConfig:
                inline = XdsRouteConfigurationResourceType.ValidateRouteConfiguration(hcm.RouteConfig, $"{Path}.route_config.", errors);
                break;
            case Hcm.RouteSpecifierOneofCase.ScopedRoutes:
                errors.Add($"{Path}.scoped_routes: scoped routes are not supported; use rds or an inline route_config");
                break;
            default:
                errors.Add($"{Path}: has neither rds nor route_config; set one of them");
                break;
        }

        var filters = XdsHttpFilters.ParseChain(hcm.HttpFilters, $"{Path}.http_filters", errors);
        var maxStreamDuration = XdsFields.Duration(hcm.CommonHttpProtocolOptions?.MaxStreamDuration, $"{Path}.common_http_protocol_options.max_stream_duration", errors);
        return new XdsListener(message.Name, rdsName, inline, filters, maxStreamDuration);
    }
}
