using System.Collections.Immutable;

namespace Mesh.Xds.Resources;

/// <summary>
/// A validated client-side (API) <c>Listener</c>: its <c>HttpConnectionManager</c> reduced to what the mesh uses.
/// Exactly one of <see cref="RouteConfigurationName"/> (RDS) and <see cref="RouteConfiguration"/> (inline) is set.
/// </summary>
/// <param name="Name">The listener name, the target authority, e.g. <c>backend.shop.svc.cluster.local:8080</c>.</param>
/// <param name="RouteConfigurationName">The <c>RouteConfiguration</c> to fetch over RDS (ADS), or <see langword="null"/> when inline.</param>
/// <param name="RouteConfiguration">The inline route configuration, or <see langword="null"/> with RDS.</param>
/// <param name="HttpFilters">The HTTP filters in order, the router last; optional filters of unknown types are left out.</param>
/// <param name="MaxStreamDuration">
/// <c>common_http_protocol_options.max_stream_duration</c>: the default of a route's
/// <c>max_stream_duration</c> (gRFC A31); <see cref="TimeSpan.Zero"/> means none, <see langword="null"/> unset.
/// </param>
internal sealed record XdsListener(
    string Name,
    string? RouteConfigurationName,
    XdsRouteConfiguration? RouteConfiguration,
    ImmutableArray<XdsHttpFilter> HttpFilters,
    TimeSpan? MaxStreamDuration)
{
    /// <summary>The fault filter of the chain, if any (at most one is accepted).</summary>
    public XdsHttpFilter? FaultFilter
    {
        get
        {
            foreach (var filter in HttpFilters)
            {
                if (filter.Kind == XdsHttpFilterKind.Fault)
                {
                    return filter;
                }
            }

            return null;
        }
    }
}

/// <summary>The HTTP filters the client understands (gRFC A39's client-side registry).</summary>
internal enum XdsHttpFilterKind
{
    /// <summary><c>envoy.extensions.filters.http.router.v3.Router</c>: the terminal filter, routing itself.</summary>
    Router,

    /// <summary><c>envoy.extensions.filters.http.fault.v3.HTTPFault</c>: fault injection (gRFC A33).</summary>
    Fault,
}

/// <summary>One HTTP filter of a listener's chain.</summary>
/// <param name="Name">The filter instance name that <c>typed_per_filter_config</c> overrides refer to.</param>
/// <param name="Kind">What the filter does.</param>
/// <param name="Fault">The fault filter's top-level configuration; <see langword="null"/> for the router.</param>
/// <param name="Disabled">Envoy's <c>disabled</c>: off unless a per-route override enables it.</param>
internal sealed record XdsHttpFilter(string Name, XdsHttpFilterKind Kind, XdsFaultConfig? Fault, bool Disabled);

/// <summary>
/// A validated fault injection configuration (gRFC A33), in the mesh's terms: an HTTP status for aborts (gRPC status
/// codes are mapped to HTTP, see <see cref="XdsHttpFilters"/>), percentages from 0 to 100.
/// </summary>
/// <param name="Delay">The fixed delay, or <see langword="null"/> for none.</param>
/// <param name="DelayPercentage">The share of requests delayed.</param>
/// <param name="AbortHttpStatus">The status of the local answer, or <see langword="null"/> for no abort.</param>
/// <param name="AbortPercentage">The share of requests aborted.</param>
/// <param name="AbortGrpcStatus">The configured gRPC status of the abort, when it was given as one (gRPC calls end with it).</param>
internal sealed record XdsFaultConfig(TimeSpan? Delay, double DelayPercentage, int? AbortHttpStatus, double AbortPercentage, int? AbortGrpcStatus = null)
{
    /// <summary>Whether the configuration injects anything at all.</summary>
    public bool IsActive => (Delay is { } delay && delay > TimeSpan.Zero && DelayPercentage > 0) || (AbortHttpStatus is not null && AbortPercentage > 0);
}

/// <summary>
/// A <c>typed_per_filter_config</c> entry that the mesh acts on: a fault configuration replacing the filter's, or the
/// filter disabled (<c>FilterConfig.disabled</c>).
/// </summary>
/// <param name="Fault">The replacing fault configuration, or <see langword="null"/> when <paramref name="Disabled"/>.</param>
/// <param name="Disabled">The filter is off where this override applies.</param>
internal sealed record XdsFilterOverride(XdsFaultConfig? Fault, bool Disabled);
