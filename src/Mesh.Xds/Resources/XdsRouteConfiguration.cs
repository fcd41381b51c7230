using System.Collections.Immutable;

namespace Mesh.Xds.Resources;

/// <summary>A validated <c>RouteConfiguration</c> (RDS, or inline in a listener).</summary>
/// <param name="Name">The resource name (empty for an inline configuration without one).</param>
/// <param name="VirtualHosts">The virtual hosts in order.</param>
/// <param name="IgnorePortInHostMatching">Envoy's <c>ignore_port_in_host_matching</c>: match domains against the host without its port.</param>
/// <param name="FilterOverrides">The configuration-wide <c>typed_per_filter_config</c>, by filter instance name.</param>
internal sealed record XdsRouteConfiguration(
    string Name,
    ImmutableArray<XdsVirtualHost> VirtualHosts,
    bool IgnorePortInHostMatching,
    ImmutableDictionary<string, XdsFilterOverride> FilterOverrides);

/// <summary>A validated <c>VirtualHost</c>.</summary>
/// <param name="Name">The virtual host's name, for messages.</param>
/// <param name="Domains">Its domains: exact, <c>*.suffix</c>, <c>prefix.*</c> or <c>*</c>, lower-cased.</param>
/// <param name="Routes">Its routes in order; routes gRPC ignores (unsupported cluster specifiers) are left out.</param>
/// <param name="RetryPolicy">The retry policy of routes without their own (gRFC A44).</param>
/// <param name="FilterOverrides">Its <c>typed_per_filter_config</c>, by filter instance name.</param>
internal sealed record XdsVirtualHost(
    string Name,
    ImmutableArray<string> Domains,
    ImmutableArray<XdsRoute> Routes,
    XdsRetryPolicy? RetryPolicy,
    ImmutableDictionary<string, XdsFilterOverride> FilterOverrides);

/// <summary>A validated <c>Route</c>.</summary>
/// <param name="Name">The route's name, or <see langword="null"/>.</param>
/// <param name="Match">When the route applies.</param>
/// <param name="Action">
/// Where matching requests go, or <see langword="null"/> when they must fail (a <c>non_forwarding_action</c>, which only
/// servers act on).
/// </param>
/// <param name="FilterOverrides">Its <c>typed_per_filter_config</c>, by filter instance name.</param>
internal sealed record XdsRoute(
    string? Name,
    XdsRouteMatch Match,
    XdsRouteAction? Action,
    ImmutableDictionary<string, XdsFilterOverride> FilterOverrides);

/// <summary>
/// A route's conditions (all must hold), already in the mesh's terms: the path as exact / prefix / regex (case
/// insensitivity folded into a regex), the <c>:method</c> pseudo-header as <see cref="Method"/>, headers and query
/// parameters by name.
/// </summary>
/// <param name="Path">The path condition, or <see langword="null"/> for any path (an empty <c>prefix</c>).</param>
/// <param name="Method">The HTTP method (from a <c>:method</c> exact header match), or <see langword="null"/>.</param>
/// <param name="Headers">Header conditions; names are unique, case-insensitively.</param>
/// <param name="QueryParameters">Query parameter conditions; names are unique.</param>
/// <param name="NeverMatches">
/// The route can never match (a <c>runtime_fraction</c> of 0 %, or a path or prefix without a leading '/'), so the
/// translation leaves it out.
/// </param>
internal sealed record XdsRouteMatch(
    XdsStringMatch? Path,
    string? Method,
    ImmutableArray<(string Name, XdsStringMatch Match)> Headers,
    ImmutableArray<(string Name, XdsStringMatch Match)> QueryParameters,
    bool NeverMatches)
{
    /// <summary>Whether the match takes every request (no condition at all).</summary>
    public bool IsCatchAll => !NeverMatches && Path is null && Method is null && Headers.IsEmpty && QueryParameters.IsEmpty;
}

/// <summary>The kinds of string condition the mesh's model has.</summary>
internal enum XdsStringMatchKind
{
    Exact,
    Prefix,
    Suffix,
    Regex,
    Present,
    Absent,
}

/// <summary>One string condition; <see cref="XdsStringMatchKind.Regex"/> patterns are .NET patterns that compile with the non-backtracking engine.</summary>
/// <param name="Kind">The kind of condition.</param>
/// <param name="Value">The value or pattern (empty for presence conditions).</param>
/// <param name="IgnoreCase">Compare ignoring case (exact, prefix and suffix).</param>
internal sealed record XdsStringMatch(XdsStringMatchKind Kind, string Value, bool IgnoreCase = false);

/// <summary>A validated <c>RouteAction</c>: the weighted clusters and the per-route policies.</summary>
/// <param name="Clusters">
/// The clusters with their weights (at least one with a weight above 0); a single <c>cluster</c> has weight 1 and
/// <see cref="IsWeighted"/> false.
/// </param>
/// <param name="IsWeighted">Whether the clusters came from <c>weighted_clusters</c>.</param>
/// <param name="Timeout"><c>timeout</c> (Envoy's HTTP semantics); <see cref="TimeSpan.Zero"/> disables it, <see langword="null"/> is unset.</param>
/// <param name="MaxStreamDuration"><c>max_stream_duration.max_stream_duration</c> (gRFC A31).</param>
/// <param name="GrpcTimeoutHeaderMax"><c>max_stream_duration.grpc_timeout_header_max</c> (gRFC A31).</param>
/// <param name="RetryPolicy">The route's own retry policy, or <see langword="null"/> to use the virtual host's.</param>
/// <param name="HashPolicies">The hash policies the mesh supports (header, cookie, query parameter), in order.</param>
internal sealed record XdsRouteAction(
    ImmutableArray<XdsClusterWeight> Clusters,
    bool IsWeighted,
    TimeSpan? Timeout,
    TimeSpan? MaxStreamDuration,
    TimeSpan? GrpcTimeoutHeaderMax,
    XdsRetryPolicy? RetryPolicy,
    ImmutableArray<XdsHashPolicy> HashPolicies);

/// <summary>One cluster of a route and its weight.</summary>
/// <param name="Name">The cluster name.</param>
/// <param name="Weight">The weight; 0 takes no traffic.</param>
/// <param name="FilterOverrides">The weighted cluster's <c>typed_per_filter_config</c> (never a fault override).</param>
internal sealed record XdsClusterWeight(string Name, uint Weight, ImmutableDictionary<string, XdsFilterOverride> FilterOverrides);

/// <summary>
/// A validated retry policy (gRFC A44 rules, Envoy's HTTP conditions): <see cref="RetryOn"/> lists the conditions the
/// mesh supports in its own syntax; there is at least one.
/// </summary>
/// <param name="RetryOn">Comma-separated conditions, e.g. <c>5xx,connect-failure</c>.</param>
/// <param name="NumRetries">Retries after the first try, 1 to 10.</param>
/// <param name="PerTryTimeout">The timeout of each try, or <see langword="null"/>.</param>
/// <param name="RetriableStatusCodes">HTTP status codes retried under <c>retriable-status-codes</c>.</param>
/// <param name="BackoffBase">The backoff base interval.</param>
/// <param name="BackoffMax">The backoff cap.</param>
internal sealed record XdsRetryPolicy(
    string RetryOn,
    int NumRetries,
    TimeSpan? PerTryTimeout,
    ImmutableArray<int> RetriableStatusCodes,
    TimeSpan BackoffBase,
    TimeSpan BackoffMax);

/// <summary>What a hash policy hashes.</summary>
internal enum XdsHashPolicyKind
{
    Header,
    Cookie,
    QueryParameter,
}

/// <summary>A hash policy of a route (gRFC A42), one the mesh supports.</summary>
/// <param name="Kind">What is hashed.</param>
/// <param name="Name">The header, cookie or query parameter name.</param>
/// <param name="Terminal">Envoy's <c>terminal</c>.</param>
internal sealed record XdsHashPolicy(XdsHashPolicyKind Kind, string Name, bool Terminal);
