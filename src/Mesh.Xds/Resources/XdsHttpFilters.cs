using System.Collections.Immutable;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using HttpFilter = Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpFilter;

using Mesh.Resilience;

namespace Mesh.Xds.Resources;

/// <summary>
/// The client's HTTP filter registry (gRFC A39): the router and the fault filter (gRFC A33), their top-level configs
/// in a listener's <c>http_filters</c> and their overrides in <c>typed_per_filter_config</c>.
/// </summary>
/// <remarks>
/// The mesh's model has one fault configuration per route, with an HTTP status: a gRPC status abort is mapped to the
/// HTTP status Envoy answers for it (<see cref="GrpcToHttpStatus"/>), and what the model cannot express (header-driven
/// delays and aborts, fault selection by header, upstream cluster or downstream node, <c>max_active_faults</c>, a
/// fault override per weighted cluster) is rejected rather than half-applied.
/// </remarks>
internal static class XdsHttpFilters
{
    /// <summary>
    /// Validates a listener's <c>http_filters</c>: at least one, unique non-empty names, known types (unknown ones only
    /// when <c>is_optional</c>, and then skipped), the router present and last, at most one fault filter.
    /// </summary>
    public static ImmutableArray<XdsHttpFilter> ParseChain(RepeatedField<HttpFilter> filters, string path, List<string> errors)
    {
        if (filters.Count == 0)
        {
            errors.Add($"{path}: is empty; the list must end with the router filter (envoy.extensions.filters.http.router.v3.Router)");
            return [];
        }

        var result = ImmutableArray.CreateBuilder<XdsHttpFilter>(filters.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < filters.Count; i++)
        {
            var filter = filters[i];
            var filterPath = $"{path}[{i}]";
            if (string.IsNullOrEmpty(filter.Name))
            {
                errors.Add($"{filterPath}.name: is empty; give every filter a unique name, e.g. envoy.filters.http.router");
            }
            else if (!names.Add(filter.Name))
            {
                errors.Add($"{filterPath}.name = {XdsFields.Quote(filter.Name)}: another filter has this name; filter names must be unique");
            }

            if (filter.ConfigTypeCase == HttpFilter.ConfigTypeOneofCase.ConfigDiscovery)
            {
                if (!filter.IsOptional)
                {
                    errors.Add($"{filterPath}.config_discovery: extension config discovery (ECDS) is not supported; set typed_config, or mark the filter is_optional to skip it");
                }

                continue;
            }

            if (filter.TypedConfig is null)
            {
                if (!filter.IsOptional)
                {
                    errors.Add($"{filterPath}.typed_config: is not set; set it to the filter's configuration, e.g. an envoy.extensions.filters.http.router.v3.Router");
                }

                continue;
            }

            var (type, payload, structValue) = Unwrap(filter.TypedConfig);
            switch (type)
            {
                case XdsTypeUrls.Router:
                    result.Add(new XdsHttpFilter(filter.Name, XdsHttpFilterKind.Router, null, filter.Disabled));
                    break;
                case XdsTypeUrls.Fault:
                    var fault = ParseFault(payload, structValue, $"{filterPath}.typed_config", errors);
                    if (fault is not null)
                    {
                        result.Add(new XdsHttpFilter(filter.Name, XdsHttpFilterKind.Fault, fault, filter.Disabled));
                    }

                    break;
                default:
                    if (!filter.IsOptional)
                    {
                        errors.Add($"{filterPath}.typed_config: type {XdsFields.Quote(type)} is not an HTTP filter the client supports (Router, HTTPFault); remove the filter or mark it is_optional to skip it");
                    }

                    break;
            }
        }

        var routers = 0;
        var faults = 0;
        for (var i = 0; i < result.Count; i++)
        {
            if (result[i].Kind == XdsHttpFilterKind.Router)
            {
                routers++;
                if (i != result.Count - 1)
                {
                    errors.Add($"{path}: the router filter {XdsFields.Quote(result[i].Name)} is not the last filter; the router is terminal and must come last");
                }
            }
            else
            {
                faults++;
            }
        }

        if (routers == 0)
        {
            errors.Add($"{path}: has no router filter; end the list with envoy.extensions.filters.http.router.v3.Router");
        }

        if (faults > 1)
        {
            errors.Add($"{path}: has {XdsFields.Format(faults)} fault filters; the mesh applies one fault configuration per route, so use one fault filter with per-route overrides");
        }

        return result.ToImmutable();
    }

    /// <summary>
    /// Validates a <c>typed_per_filter_config</c> map (gRFC A39): each value a known override type, optionally wrapped in
    /// <c>FilterConfig</c>; unknown types are errors unless marked optional. Server-side RBAC overrides are accepted
    /// and ignored (the same route configuration may serve servers).
    /// </summary>
    public static ImmutableDictionary<string, XdsFilterOverride> ParseOverrides(MapField<string, Any> overrides, string path, List<string> errors, bool allowFault = true)
    {
        if (overrides.Count == 0)
        {
            return ImmutableDictionary<string, XdsFilterOverride>.Empty;
        }

        var result = ImmutableDictionary.CreateBuilder<string, XdsFilterOverride>(StringComparer.Ordinal);
        foreach (var key in overrides.Keys.Order(StringComparer.Ordinal))
        {
            var entryPath = $"{path}[{XdsFields.Quote(key)}]";
            var value = overrides[key];
            if (string.IsNullOrEmpty(key))
            {
                errors.Add($"{entryPath}: the key is empty; key each override by the name of its filter in http_filters");
                continue;
            }

            if (value is null)
            {
                errors.Add($"{entryPath}: has no value");
                continue;
            }

            var optional = false;
            if (XdsTypeUrls.MessageType(value.TypeUrl) == XdsTypeUrls.FilterConfig)
            {
                if (!XdsFields.TryParse(FilterConfig.Parser, value.Value, entryPath, errors, out var wrapper))
                {
                    continue;
                }

                optional = wrapper.IsOptional;
                if (wrapper.Disabled)
                {
                    result[key] = new XdsFilterOverride(null, Disabled: true);
                    continue;
                }

                if (wrapper.Config is null)
                {
                    if (!optional)
                    {
                        errors.Add($"{entryPath}.config: is not set; set the filter's override config, or disabled: true");
                    }

                    continue;
                }

                value = wrapper.Config;
                entryPath += ".config";
            }

            var (type, payload, structValue) = Unwrap(value);
            switch (type)
            {
                case XdsTypeUrls.Fault when allowFault:
                    var fault = ParseFault(payload, structValue, entryPath, errors);
                    if (fault is not null)
                    {
                        result[key] = new XdsFilterOverride(fault, Disabled: false);
                    }

                    break;
                case XdsTypeUrls.Fault:
                    errors.Add($"{entryPath}: a fault override on a weighted cluster is not supported (the mesh applies one fault configuration per route); set it on the route or the virtual host");
                    break;
                case XdsTypeUrls.RbacPerRoute:
                    // Authorization is server-side (gRFC A41); a client accepts and ignores the override.
                    break;
                case XdsTypeUrls.Router:
                    errors.Add($"{entryPath}: the router filter takes no per-route configuration; remove the entry");
                    break;
                default:
                    if (!optional)
                    {
                        errors.Add($"{entryPath}: type {XdsFields.Quote(type)} is not a filter override the client supports (HTTPFault); remove it, or wrap it in an envoy.config.route.v3.FilterConfig with is_optional: true");
                    }

                    break;
            }
        }

        return result.ToImmutable();
    }

    /// <summary>
    /// The HTTP status Envoy answers for a gRPC status (Envoy's <c>Grpc::Utility::grpcToHttpStatus</c>), used for
    /// <c>abort.grpc_status</c> on HTTP requests; gRPC calls are aborted with the configured gRPC status itself.
    /// </summary>
    public static int? GrpcToHttpStatus(uint grpcStatus) => grpcStatus > GrpcStatusMapping.MaxStatus ? null : GrpcStatusMapping.ToHttpStatus((int)grpcStatus);

    private static XdsFaultConfig? ParseFault(ByteString payload, Struct? structValue, string path, List<string> errors)
    {
        HTTPFault fault;
        try
        {
            fault = structValue is not null
                ? JsonParser.Default.Parse<HTTPFault>(JsonFormatter.Default.Format(structValue))
                : HTTPFault.Parser.ParseFrom(payload);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
        {
            // InvalidProtocolBufferException and InvalidJsonException are IOExceptions; a Struct holding NaN does not format.
            errors.Add($"{path}: is not a valid envoy.extensions.filters.http.fault.v3.HTTPFault message ({e.Message})");
            return null;
        }

        var count = errors.Count;
        TimeSpan? delay = null;
        double delayPercentage = 0;
        if (fault.Delay is { } delayConfig)
        {
            switch (delayConfig.FaultDelaySecifierCase)
            {
                case Envoy.Extensions.Filters.Common.Fault.V3.FaultDelay.FaultDelaySecifierOneofCase.FixedDelay:
                    delay = XdsFields.Duration(delayConfig.FixedDelay, $"{path}.delay.fixed_delay", errors);
                    break;
                case Envoy.Extensions.Filters.Common.Fault.V3.FaultDelay.FaultDelaySecifierOneofCase.HeaderDelay:
                    errors.Add($"{path}.delay.header_delay: delays taken from request headers are not supported; set delay.fixed_delay");
                    break;
                default:
                    errors.Add($"{path}.delay: has no fixed_delay; set delay.fixed_delay, e.g. \"0.5s\"");
                    break;
            }

            delayPercentage = XdsFields.Percentage(delayConfig.Percentage, $"{path}.delay.percentage", errors) ?? 0;
        }

        int? abortStatus = null;
        int? abortGrpcStatus = null;
        double abortPercentage = 0;
        if (fault.Abort is { } abort)
        {
            switch (abort.ErrorTypeCase)
            {
                case FaultAbort.ErrorTypeOneofCase.HttpStatus:
                    if (abort.HttpStatus is < 200 or > 599)
                    {
                        errors.Add($"{path}.abort.http_status = {XdsFields.Format(abort.HttpStatus)}: must be an HTTP status from 200 to 599, e.g. 503");
                    }
                    else
                    {
                        abortStatus = (int)abort.HttpStatus;
                    }

                    break;
                case FaultAbort.ErrorTypeOneofCase.GrpcStatus:
                    abortStatus = GrpcToHttpStatus(abort.GrpcStatus);
                    if (abortStatus is null || abort.GrpcStatus == 0)
                    {
                        abortStatus = null;
                        errors.Add($"{path}.abort.grpc_status = {XdsFields.Format(abort.GrpcStatus)}: must be a gRPC status code from 1 to 16, e.g. 14 (UNAVAILABLE); an abort with OK is not an abort");
                    }
                    else
                    {
                        abortGrpcStatus = (int)abort.GrpcStatus;
                    }

                    break;
                case FaultAbort.ErrorTypeOneofCase.HeaderAbort:
                    errors.Add($"{path}.abort.header_abort: aborts taken from request headers are not supported; set abort.http_status or abort.grpc_status");
                    break;
                default:
                    errors.Add($"{path}.abort: has no http_status or grpc_status; set one, e.g. http_status: 503");
                    break;
            }

            abortPercentage = XdsFields.Percentage(abort.Percentage, $"{path}.abort.percentage", errors) ?? 0;
        }

        if (fault.Headers.Count > 0)
        {
            errors.Add($"{path}.headers: choosing the faulted requests by header is not supported; remove headers and use a route with a header match and a per-route fault override instead");
        }

        if (!string.IsNullOrEmpty(fault.UpstreamCluster))
        {
            errors.Add($"{path}.upstream_cluster = {XdsFields.Quote(fault.UpstreamCluster)}: choosing the faulted requests by upstream cluster is not supported; use a per-route fault override instead");
        }

        if (fault.DownstreamNodes.Count > 0)
        {
            errors.Add($"{path}.downstream_nodes: choosing the faulted requests by downstream node is not supported; remove downstream_nodes");
        }

        if (fault.MaxActiveFaults is { } maxActive)
        {
            errors.Add($"{path}.max_active_faults = {XdsFields.Format(maxActive)}: a limit on concurrent faults is not supported; remove max_active_faults");
        }

        return errors.Count == count ? new XdsFaultConfig(delay, delayPercentage, abortStatus, abortPercentage, abortGrpcStatus) : null;
    }

    /// <summary>The message type of a filter config and its bytes, looking inside <c>TypedStruct</c> (gRFC A39).</summary>
    private static (string Type, ByteString Payload, Struct? StructValue) Unwrap(Any value)
    {
        var type = XdsTypeUrls.MessageType(value.TypeUrl);
        if (type is XdsTypeUrls.UdpaTypedStruct or XdsTypeUrls.XdsTypedStruct)
        {
            try
            {
                var (innerType, innerValue) = type == XdsTypeUrls.UdpaTypedStruct
                    ? FromUdpa(global::Udpa.Type.V1.TypedStruct.Parser.ParseFrom(value.Value))
                    : FromXds(global::Xds.Type.V3.TypedStruct.Parser.ParseFrom(value.Value));
                return (XdsTypeUrls.MessageType(innerType), ByteString.Empty, innerValue ?? new Struct());
            }
            catch (Exception e) when (XdsFields.IsParseFailure(e))
            {
                // A malformed TypedStruct stays a TypedStruct: unknown, so rejected unless optional.
                return (type, value.Value, null);
            }
        }

        return (type, value.Value, null);

        static (string, Struct?) FromUdpa(global::Udpa.Type.V1.TypedStruct s) => (s.TypeUrl, s.Value);

        static (string, Struct?) FromXds(global::Xds.Type.V3.TypedStruct s) => (s.TypeUrl, s.Value);
    }
}
