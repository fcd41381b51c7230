using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Envoy.Config.Route.V3;
using Envoy.Type.Matcher.V3;
using Google.Protobuf;
using MeshStringMatcher = Mesh.Routing.StringMatcher;

namespace Mesh.Xds.Resources;

/// <summary>
/// RDS: <c>envoy.config.route.v3.RouteConfiguration</c>, validated as gRPC does (gRFCs A28, A31, A39, A42, A44), and
/// turned into what the mesh's route model can express. What it cannot express is rejected with a message rather
/// than half-applied: <c>invert_match</c> (except on presence), <c>range_match</c>, a <c>runtime_fraction</c> other
/// than 0 % or 100 %, two conditions on one header, path rewrites and subset (<c>metadata_match</c>) routing.
/// </summary>
/// <remarks>
/// Where the mesh, an HTTP data plane, differs from gRPC on purpose: query parameter matches are evaluated (gRPC ignores
/// routes that have them), <c>RouteAction.timeout</c> and <c>per_try_timeout</c> apply (Envoy's semantics), and
/// <c>retry_on</c> keeps Envoy's HTTP conditions (gRPC status conditions cannot be seen by an HTTP client and are
/// ignored, as gRPC ignores the HTTP ones).
/// </remarks>
internal sealed class XdsRouteConfigurationResourceType : XdsResourceType<RouteConfiguration>
{
    /// <summary>The type URL of route configurations.</summary>
    public const string RouteConfigurationTypeUrl = Server.XdsResourceSnapshot.RouteConfigurationTypeUrl;

    /// <summary>gRFC A44: at most this many retries; the mesh's model allows 10.</summary>
    private const int MaxRetries = 10;

    private const int MaxRegexLength = 8192;

    private XdsRouteConfigurationResourceType()
    {
    }

    /// <summary>The one instance.</summary>
    public static XdsRouteConfigurationResourceType Instance { get; } = new();

    /// <inheritdoc />
    public override string TypeUrl => RouteConfigurationTypeUrl;

    /// <inheritdoc />
    public override string Name => "RouteConfiguration";

    /// <inheritdoc />
    public override bool AllResourcesRequiredInSotW => false;

    /// <inheritdoc />
    protected override MessageParser<RouteConfiguration> Parser => RouteConfiguration.Parser;

    /// <inheritdoc />
    protected override string GetName(RouteConfiguration message) => message.Name;

    /// <inheritdoc />
    protected override object? Validate(RouteConfiguration message, List<string> errors) => ValidateRouteConfiguration(message, string.Empty, errors);

    /// <summary>Validates a route configuration, from RDS or inline in a listener; <paramref name="prefix"/> starts every field path.</summary>
    public static XdsRouteConfiguration ValidateRouteConfiguration(RouteConfiguration config, string prefix, List<string> errors)
    {
        // Cluster specifier plugins (e.g. RLS) are not supported: only optional ones are accepted, and their routes ignored.
        var plugins = new Dictionary<string, bool>(StringComparer.Ordinal);
        for (var i = 0; i < config.ClusterSpecifierPlugins.Count; i++)
        {
            var plugin = config.ClusterSpecifierPlugins[i];
            var name = plugin.Extension?.Name ?? string.Empty;
            if (!plugin.IsOptional)
            {
                errors.Add($"{prefix}cluster_specifier_plugins[{i}] {XdsFields.Quote(name)}: cluster specifier plugins are not supported; remove it, or mark it is_optional so that routes using it are ignored");
            }

            plugins[name] = plugin.IsOptional;
        }

        var hosts = ImmutableArray.CreateBuilder<XdsVirtualHost>(config.VirtualHosts.Count);
        for (var i = 0; i < config.VirtualHosts.Count; i++)
        {
            hosts.Add(ValidateVirtualHost(config.VirtualHosts[i], $"{prefix}virtual_hosts[{i}]", plugins, errors));
        }

        var overrides = XdsHttpFilters.ParseOverrides(config.TypedPerFilterConfig, $"{prefix}typed_per_filter_config", errors);
        return new XdsRouteConfiguration(config.Name, hosts.MoveToImmutable(), config.IgnorePortInHostMatching, overrides);
    }

    private static XdsVirtualHost ValidateVirtualHost(VirtualHost host, string path, Dictionary<string, bool> plugins, List<string> errors)
    {
        if (host.Domains.Count == 0)
        {
            errors.Add($"{path}.domains: is empty; list at least one domain, e.g. \"backend.shop.svc.cluster.local:8080\" or \"*\"");
        }

        var domains = ImmutableArray.CreateBuilder<string>(host.Domains.Count);
        for (var i = 0; i < host.Domains.Count; i++)
        {
            var domain = host.Domains[i];
            if (!IsValidDomain(domain))
            {
                errors.Add($"{path}.domains[{i}] = {XdsFields.Quote(domain)}: must be a host (with an optional port), \"*\", a suffix wildcard \"*.example.com\" or a prefix wildcard \"example.*\"");
                continue;
            }

            domains.Add(domain.ToLowerInvariant());
        }

        var routes = ImmutableArray.CreateBuilder<XdsRoute>(host.Routes.Count);
        for (var i = 0; i < host.Routes.Count; i++)
        {
            if (ValidateRoute(host.Routes[i], $"{path}.routes[{i}]", plugins, errors) is { } route)
            {
                routes.Add(route);
            }
        }

        var retry = ParseRetryPolicy(host.RetryPolicy, $"{path}.retry_policy", errors);
        var overrides = XdsHttpFilters.ParseOverrides(host.TypedPerFilterConfig, $"{path}.typed_per_filter_config", errors);
        return new XdsVirtualHost(host.Name, domains.ToImmutable(), routes.ToImmutable(), retry, overrides);
    }

    /// <summary>Envoy's domain rules: no empty domain, and at most one '*', as the whole domain, its first or its last character.</summary>
    private static bool IsValidDomain(string domain)
    {
        if (domain.Length == 0)
        {
            return false;
        }

        var stars = domain.AsSpan().Count('*');
        return stars == 0 || (stars == 1 && (domain[0] == '*' || domain[^1] == '*'));
    }

    private static XdsRoute? ValidateRoute(Route route, string path, Dictionary<string, bool> plugins, List<string> errors)
    {
        XdsRouteMatch? match = null;
        if (route.Match is null)
        {
            errors.Add($"{path}.match: is not set; set match.prefix: \"\" to match every request");
        }
        else
        {
            match = ParseMatch(route.Match, $"{path}.match", errors);
        }

        XdsRouteAction? action = null;
        var ignored = false;
        switch (route.ActionCase)
        {
            case Route.ActionOneofCase.Route_:
                action = ParseAction(route.Route_, $"{path}.route", plugins, errors, out ignored);
                break;
            case Route.ActionOneofCase.NonForwardingAction:
                // Meant for servers (gRFC A36): on a client, matching requests fail.
                break;
            case Route.ActionOneofCase.DirectResponse:
                errors.Add($"{path}.direct_response: is not supported by the client; route to a cluster with route.cluster instead");
                break;
            default:
                errors.Add($"{path}: has no route action; set route (redirect, direct_response and filter_action are not supported by the client)");
                break;
        }

        var overrides = XdsHttpFilters.ParseOverrides(route.TypedPerFilterConfig, $"{path}.typed_per_filter_config", errors);
        return ignored || match is null ? null : new XdsRoute(string.IsNullOrEmpty(route.Name) ? null : route.Name, match, action, overrides);
    }

    private static XdsRouteMatch? ParseMatch(RouteMatch match, string path, List<string> errors)
    {
        var count = errors.Count;
        var caseSensitive = match.CaseSensitive ?? true;
        var never = false;
        XdsStringMatch? pathMatch = null;
        switch (match.PathSpecifierCase)
        {
            case RouteMatch.PathSpecifierOneofCase.Prefix:
                if (match.Prefix.Length == 0)
                {
                    break;
                }

                never = !match.Prefix.StartsWith('/');
                pathMatch = caseSensitive
                    ? new XdsStringMatch(XdsStringMatchKind.Prefix, match.Prefix)
                    : new XdsStringMatch(XdsStringMatchKind.Regex, $"(?i:{Regex.Escape(match.Prefix)})(?s:.*)");
                break;
            case RouteMatch.PathSpecifierOneofCase.Path:
                never = !match.Path.StartsWith('/');
                pathMatch = caseSensitive
                    ? new XdsStringMatch(XdsStringMatchKind.Exact, match.Path)
                    : new XdsStringMatch(XdsStringMatchKind.Regex, $"(?i:{Regex.Escape(match.Path)})");
                break;
            case RouteMatch.PathSpecifierOneofCase.SafeRegex:
                // case_sensitive does not apply to safe_regex (Envoy, gRFC A28).
                pathMatch = ParseRegex(match.SafeRegex, $"{path}.safe_regex", errors);
                break;
            case RouteMatch.PathSpecifierOneofCase.PathSeparatedPrefix:
                var separated = match.PathSeparatedPrefix;
                if (!separated.StartsWith('/') || (separated.Length > 1 && separated.EndsWith('/')) || separated.AsSpan().IndexOfAny('?', '#') >= 0)
                {
                    errors.Add($"{path}.path_separated_prefix = {XdsFields.Quote(separated)}: must start with '/', not end with '/' and contain no '?' or '#', e.g. \"/api\"");
                    break;
                }

                // "/api" matches "/api" and "/api/..." but not "/apix", as in Envoy.
                var pattern = separated == "/" ? "/(?s:.*)" : $"{Regex.Escape(separated)}(?:/(?s:.*))?";
                pathMatch = new XdsStringMatch(XdsStringMatchKind.Regex, caseSensitive ? pattern : $"(?i:{pattern})");
                break;
            default:
                errors.Add($"{path}: has no path specifier; set prefix, path, safe_regex or path_separated_prefix (prefix: \"\" matches every path)");
                break;
        }

        string? method = null;
        var headers = ImmutableArray.CreateBuilder<(string, XdsStringMatch)>(match.Headers.Count + 1);
        var headerNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < match.Headers.Count; i++)
        {
            var header = match.Headers[i];
            var headerPath = $"{path}.headers[{i}]";
            if (string.IsNullOrEmpty(header.Name))
            {
                errors.Add($"{headerPath}.name: is empty; name the header to match");
                continue;
            }

            if (!headerNames.Add(header.Name))
            {
                errors.Add($"{headerPath}.name = {XdsFields.Quote(header.Name)}: a second condition on the same header; the mesh's route model allows one condition per header, so combine them into one safe_regex_match");
                continue;
            }

            if (header.Name.StartsWith(':'))
            {
                method = ParseMethod(header, headerPath, errors) ?? method;
                continue;
            }

            if (ParseHeader(header, headerPath, errors) is { } condition)
            {
                headers.Add((header.Name, condition));
            }
        }

        if (match.Grpc is not null)
        {
            // Envoy's grpc match: the request is a gRPC request (content-type application/grpc...).
            if (!headerNames.Add("content-type"))
            {
                errors.Add($"{path}.grpc: also matches content-type, which headers already match; remove one of the two conditions");
            }
            else
            {
                headers.Add(("content-type", new XdsStringMatch(XdsStringMatchKind.Prefix, "application/grpc")));
            }
        }

        var query = ImmutableArray.CreateBuilder<(string, XdsStringMatch)>(match.QueryParameters.Count);
        var queryNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < match.QueryParameters.Count; i++)
        {
            var parameter = match.QueryParameters[i];
            var parameterPath = $"{path}.query_parameters[{i}]";
            if (string.IsNullOrEmpty(parameter.Name))
            {
                errors.Add($"{parameterPath}.name: is empty; name the query parameter to match");
                continue;
            }

            if (!queryNames.Add(parameter.Name))
            {
                errors.Add($"{parameterPath}.name = {XdsFields.Quote(parameter.Name)}: a second condition on the same query parameter; the mesh's route model allows one condition per parameter, so combine them into one safe_regex");
                continue;
            }

            // Envoy: a missing parameter never matches; present_match (true or false) and no matcher both mean "present".
            var condition = parameter.QueryParameterMatchSpecifierCase == QueryParameterMatcher.QueryParameterMatchSpecifierOneofCase.StringMatch
                ? ParseStringMatcher(parameter.StringMatch, $"{parameterPath}.string_match", errors)
                : new XdsStringMatch(XdsStringMatchKind.Present, string.Empty);
            if (condition is not null)
            {
                query.Add((parameter.Name, condition));
            }
        }

        if (match.RuntimeFraction is { } fraction)
        {
            // gRPC has no runtime: only default_value counts (gRFC A28). The model has no "share of requests" match.
            var percentage = XdsFields.Percentage(fraction.DefaultValue, $"{path}.runtime_fraction.default_value", errors) ?? 0;
            if (percentage <= 0)
            {
                never = true;
            }
            else if (percentage < 100)
            {
                errors.Add($"{path}.runtime_fraction.default_value = {XdsFields.Format(percentage)}%: matching a share of requests is not supported by the mesh's route model; split traffic with weighted_clusters instead");
            }
        }

        return errors.Count != count ? null : new XdsRouteMatch(pathMatch, method, headers.ToImmutable(), query.ToImmutable(), never);
    }

    private static string? ParseMethod(HeaderMatcher header, string path, List<string> errors)
    {
        string? value = header.HeaderMatchSpecifierCase switch
        {
            HeaderMatcher.HeaderMatchSpecifierOneofCase.ExactMatch => header.ExactMatch,
            HeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch when header.StringMatch.MatchPatternCase == StringMatcher.MatchPatternOneofCase.Exact => header.StringMatch.Exact,
            _ => null,
        };
        if (!string.Equals(header.Name, ":method", StringComparison.Ordinal) || value is null || header.InvertMatch)
        {
            errors.Add($"{path}.name = {XdsFields.Quote(header.Name)}: of the pseudo-headers only ':method' with an exact match is supported; match the path with prefix, path or safe_regex");
            return null;
        }

        if (value.Length == 0 || !value.All(c => char.IsAsciiLetter(c) || c is '-' or '_'))
        {
            errors.Add($"{path}.exact_match = {XdsFields.Quote(value)}: must be an HTTP method such as GET or POST");
            return null;
        }

        return value.ToUpperInvariant();
    }

    private static XdsStringMatch? ParseHeader(HeaderMatcher header, string path, List<string> errors)
    {
        XdsStringMatch? condition;
        switch (header.HeaderMatchSpecifierCase)
        {
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.ExactMatch:
                condition = new XdsStringMatch(XdsStringMatchKind.Exact, header.ExactMatch);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.PrefixMatch:
                condition = new XdsStringMatch(XdsStringMatchKind.Prefix, header.PrefixMatch);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.SuffixMatch:
                condition = new XdsStringMatch(XdsStringMatchKind.Suffix, header.SuffixMatch);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.ContainsMatch:
                condition = Contains(header.ContainsMatch, ignoreCase: false);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.SafeRegexMatch:
                condition = ParseRegex(header.SafeRegexMatch, $"{path}.safe_regex_match", errors);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch:
                condition = ParseStringMatcher(header.StringMatch, $"{path}.string_match", errors);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.PresentMatch:
                condition = new XdsStringMatch(header.PresentMatch ? XdsStringMatchKind.Present : XdsStringMatchKind.Absent, string.Empty);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.RangeMatch:
                errors.Add($"{path}.range_match: integer range matches are not supported by the mesh's route model; use safe_regex_match, e.g. \"[0-9]{{1,3}}\"");
                return null;
            default:
                // Envoy: a matcher without a specifier checks that the header is present.
                condition = new XdsStringMatch(XdsStringMatchKind.Present, string.Empty);
                break;
        }

        if (condition is null)
        {
            return null;
        }

        if (header.TreatMissingHeaderAsEmpty)
        {
            errors.Add($"{path}.treat_missing_header_as_empty: is not supported by the mesh's route model (a missing header never matches); remove it");
            return null;
        }

        if (header.InvertMatch)
        {
            // Only presence can be inverted in the model: "not present" is Absent, and the reverse.
            switch (condition.Kind)
            {
                case XdsStringMatchKind.Present:
                    return condition with { Kind = XdsStringMatchKind.Absent };
                case XdsStringMatchKind.Absent:
                    return condition with { Kind = XdsStringMatchKind.Present };
                default:
                    errors.Add($"{path}.invert_match: inverted value matches are not supported by the mesh's route model (only an inverted present_match is); rewrite the condition without invert_match");
                    return null;
            }
        }

        return condition;
    }

    internal static XdsStringMatch? ParseStringMatcher(StringMatcher matcher, string path, List<string> errors)
    {
        var ignoreCase = matcher.IgnoreCase;
        switch (matcher.MatchPatternCase)
        {
            case StringMatcher.MatchPatternOneofCase.Exact:
                return new XdsStringMatch(XdsStringMatchKind.Exact, matcher.Exact, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.Prefix:
                return new XdsStringMatch(XdsStringMatchKind.Prefix, matcher.Prefix, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.Suffix:
                return new XdsStringMatch(XdsStringMatchKind.Suffix, matcher.Suffix, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.Contains:
                return Contains(matcher.Contains, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.SafeRegex:
                // ignore_case does not apply to safe_regex (Envoy).
                return ParseRegex(matcher.SafeRegex, $"{path}.safe_regex", errors);
            default:
                errors.Add($"{path}: has no pattern; set exact, prefix, suffix, contains or safe_regex");
                return null;
        }
    }

    /// <summary>The model has no "contains": a regex with the value escaped says the same.</summary>
    private static XdsStringMatch Contains(string value, bool ignoreCase)
    {
        var pattern = $"(?s:.*){Regex.Escape(value)}(?s:.*)";
        return new XdsStringMatch(XdsStringMatchKind.Regex, ignoreCase ? $"(?i:{pattern})" : pattern);
    }

    private static XdsStringMatch? ParseRegex(RegexMatcher? matcher, string path, List<string> errors)
    {
        var pattern = matcher?.Regex ?? string.Empty;
        if (pattern.Length == 0)
        {
            errors.Add($"{path}.regex: is empty; set a regular expression that must match the whole value");
            return null;
        }

        if (pattern.Length > MaxRegexLength)
        {
            errors.Add($"{path}.regex: is {XdsFields.Format(pattern.Length)} characters long; the limit is {XdsFields.Format(MaxRegexLength)}");
            return null;
        }

        try
        {
            // The same engine the data plane uses (non-backtracking, linear time, like RE2 in Envoy and gRPC).
            _ = MeshStringMatcher.FromRegex(pattern);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            errors.Add($"{path}.regex = {XdsFields.Quote(pattern)}: not a regular expression the non-backtracking engine accepts ({e.Message}); backreferences and lookarounds are not supported");
            return null;
        }

        return new XdsStringMatch(XdsStringMatchKind.Regex, pattern);
    }

    private static XdsRouteAction? ParseAction(RouteAction action, string path, Dictionary<string, bool> plugins, List<string> errors, out bool ignored)
    {
        ignored = false;
        var count = errors.Count;
        var clusters = ImmutableArray.CreateBuilder<XdsClusterWeight>();
        var weighted = false;
        switch (action.ClusterSpecifierCase)
        {
            case RouteAction.ClusterSpecifierOneofCase.Cluster:
                if (string.IsNullOrWhiteSpace(action.Cluster))
                {
                    errors.Add($"{path}.cluster = {XdsFields.Quote(action.Cluster)}: is empty; name the cluster to send to");
                }
                else
                {
                    clusters.Add(new XdsClusterWeight(action.Cluster, 1, ImmutableDictionary<string, XdsFilterOverride>.Empty));
                }

                break;
            case RouteAction.ClusterSpecifierOneofCase.WeightedClusters:
                weighted = true;
                ParseWeightedClusters(action.WeightedClusters, $"{path}.weighted_clusters", clusters, errors);
                break;
            case RouteAction.ClusterSpecifierOneofCase.ClusterSpecifierPlugin:
                if (!plugins.ContainsKey(action.ClusterSpecifierPlugin))
                {
                    errors.Add($"{path}.cluster_specifier_plugin = {XdsFields.Quote(action.ClusterSpecifierPlugin)}: the route configuration defines no such plugin in cluster_specifier_plugins");
                }

                // An optional, unsupported plugin: the route is ignored (gRFC A28).
                ignored = true;
                return null;
            default:
                // cluster_header, inline plugins, and cluster specifiers unknown to this client: the route is ignored (gRFC A28).
                ignored = true;
                return null;
        }

        if (action.MetadataMatch is { FilterMetadata.Count: > 0 })
        {
            errors.Add($"{path}.metadata_match: subset routing by endpoint metadata is not supported; route to a cluster per subset instead (e.g. outbound|8080|v1|host)");
        }

        if (!string.IsNullOrEmpty(action.PrefixRewrite))
        {
            errors.Add($"{path}.prefix_rewrite = {XdsFields.Quote(action.PrefixRewrite)}: path rewriting is not supported by the mesh's route model; remove it");
        }

        if (action.RegexRewrite is not null)
        {
            errors.Add($"{path}.regex_rewrite: path rewriting is not supported by the mesh's route model; remove it");
        }

        var timeout = XdsFields.Duration(action.Timeout, $"{path}.timeout", errors);
        var maxStreamDuration = XdsFields.Duration(action.MaxStreamDuration?.MaxStreamDuration_, $"{path}.max_stream_duration.max_stream_duration", errors);
        var grpcTimeoutHeaderMax = XdsFields.Duration(action.MaxStreamDuration?.GrpcTimeoutHeaderMax, $"{path}.max_stream_duration.grpc_timeout_header_max", errors);
        var retry = ParseRetryPolicy(action.RetryPolicy, $"{path}.retry_policy", errors);
        var hashes = ParseHashPolicies(action, path, errors);
        return errors.Count != count
            ? null
            : new XdsRouteAction(clusters.ToImmutable(), weighted, timeout, maxStreamDuration, grpcTimeoutHeaderMax, retry, hashes);
    }

    private static void ParseWeightedClusters(WeightedCluster weightedClusters, string path, ImmutableArray<XdsClusterWeight>.Builder clusters, List<string> errors)
    {
        if (weightedClusters.Clusters.Count == 0)
        {
            errors.Add($"{path}.clusters: is empty; list at least one cluster with a weight");
            return;
        }

        ulong total = 0;
        for (var i = 0; i < weightedClusters.Clusters.Count; i++)
        {
            var cluster = weightedClusters.Clusters[i];
            var clusterPath = $"{path}.clusters[{i}]";
            var weight = cluster.Weight ?? 0;
            total += weight;
            var overrides = XdsHttpFilters.ParseOverrides(cluster.TypedPerFilterConfig, $"{clusterPath}.typed_per_filter_config", errors, allowFault: false);
            if (string.IsNullOrWhiteSpace(cluster.Name))
            {
                errors.Add($"{clusterPath}.name = {XdsFields.Quote(cluster.Name)}: is empty; name the cluster to send to");
                continue;
            }

            clusters.Add(new XdsClusterWeight(cluster.Name, weight, overrides));
        }

        if (total == 0)
        {
            errors.Add($"{path}: the weights add up to 0; give at least one cluster a weight above 0");
        }
        else if (total > uint.MaxValue)
        {
            errors.Add($"{path}: the weights add up to {XdsFields.Format(total)}; the sum must be at most {XdsFields.Format(uint.MaxValue)}");
        }

        if (weightedClusters.TotalWeight is { } declared && declared != 0 && declared != total)
        {
            errors.Add($"{path}.total_weight = {XdsFields.Format(declared)}: the weights add up to {XdsFields.Format(total)}; remove total_weight (deprecated) or make it the sum");
        }
    }

    /// <summary>
    /// A retry policy, validated as gRFC A44 says (num_retries at least 1, a back-off base interval above 0 and a max
    /// interval not below it), keeping the HTTP conditions of Envoy's <c>retry_on</c> that the mesh implements.
    /// </summary>
    internal static XdsRetryPolicy? ParseRetryPolicy(RetryPolicy? policy, string path, List<string> errors)
    {
        if (policy is null)
        {
            return null;
        }

        var count = errors.Count;
        var retries = policy.NumRetries ?? 1;
        if (retries == 0)
        {
            errors.Add($"{path}.num_retries = 0: must be at least 1 (gRFC A44); remove retry_policy to disable retries");
        }

        var conditions = new List<string>();
        foreach (var part in policy.RetryOn.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            // Envoy's HTTP conditions and gRPC's status conditions (gRFC A44) the mesh implements; the other HTTP ones
            // (refused-stream, reset-before-request, ...) are ignored, as gRPC ignores what it cannot use.
            var name = part.ToLowerInvariant();
            if (name is "5xx" or "gateway-error" or "reset" or "connect-failure" or "retriable-status-codes" or "retriable-4xx"
                    or "cancelled" or "deadline-exceeded" or "internal" or "resource-exhausted" or "unavailable"
                && !conditions.Contains(name))
            {
                conditions.Add(name);
            }
        }

        var perTry = XdsFields.Duration(policy.PerTryTimeout, $"{path}.per_try_timeout", errors);
        if (perTry == TimeSpan.Zero)
        {
            perTry = null;
        }

        var backoffBase = TimeSpan.FromMilliseconds(25);
        var backoffMax = TimeSpan.FromMilliseconds(250);
        if (policy.RetryBackOff is { } backoff)
        {
            if (backoff.BaseInterval is null)
            {
                errors.Add($"{path}.retry_back_off.base_interval: is not set; it is required when retry_back_off is set (gRFC A44), e.g. \"0.025s\"");
            }
            else if (XdsFields.Duration(backoff.BaseInterval, $"{path}.retry_back_off.base_interval", errors) is { } baseInterval)
            {
                if (baseInterval <= TimeSpan.Zero)
                {
                    errors.Add($"{path}.retry_back_off.base_interval = 0s: must be greater than 0 (gRFC A44), e.g. \"0.025s\"");
                }

                backoffBase = baseInterval;
                backoffMax = TimeSpan.FromTicks(Math.Min(baseInterval.Ticks, TimeSpan.MaxValue.Ticks / 10) * 10);
            }

            if (backoff.MaxInterval is not null && XdsFields.Duration(backoff.MaxInterval, $"{path}.retry_back_off.max_interval", errors) is { } maxInterval)
            {
                if (maxInterval <= TimeSpan.Zero)
                {
                    errors.Add($"{path}.retry_back_off.max_interval = 0s: must be greater than 0 (gRFC A44)");
                }
                else if (maxInterval < backoffBase)
                {
                    errors.Add($"{path}.retry_back_off.max_interval = {XdsFields.Format(maxInterval)}: must be at least base_interval ({XdsFields.Format(backoffBase)}) (gRFC A44)");
                }

                backoffMax = maxInterval;
            }

            // gRFC A44: intervals below 1 ms count as 1 ms.
            var millisecond = TimeSpan.FromMilliseconds(1);
            backoffBase = backoffBase < millisecond ? millisecond : backoffBase;
            backoffMax = backoffMax < millisecond ? millisecond : backoffMax;
        }

        var codes = ImmutableArray.CreateBuilder<int>(policy.RetriableStatusCodes.Count);
        for (var i = 0; i < policy.RetriableStatusCodes.Count; i++)
        {
            var code = policy.RetriableStatusCodes[i];
            if (code is < 100 or > 599)
            {
                errors.Add($"{path}.retriable_status_codes[{i}] = {XdsFields.Format(code)}: must be an HTTP status code from 100 to 599");
            }
            else if (!codes.Contains((int)code))
            {
                codes.Add((int)code);
            }
        }

        if (errors.Count != count || conditions.Count == 0)
        {
            // gRFC A44: without a condition the client can act on, the route has no retry policy.
            return null;
        }

        // Envoy uses the status codes only under retriable-status-codes.
        var retriable = conditions.Contains("retriable-status-codes") ? codes.ToImmutable() : [];
        return new XdsRetryPolicy(string.Join(',', conditions), (int)Math.Min(retries, MaxRetries), perTry, retriable, backoffBase, backoffMax);
    }

    private static ImmutableArray<XdsHashPolicy> ParseHashPolicies(RouteAction action, string path, List<string> errors)
    {
        var result = ImmutableArray.CreateBuilder<XdsHashPolicy>(action.HashPolicy.Count);
        for (var i = 0; i < action.HashPolicy.Count; i++)
        {
            var policy = action.HashPolicy[i];
            var policyPath = $"{path}.hash_policy[{i}]";
            switch (policy.PolicySpecifierCase)
            {
                case RouteAction.Types.HashPolicy.PolicySpecifierOneofCase.Header:
                    // regex_rewrite is not applied: the hash groups requests by the raw header value instead.
                    Add(XdsHashPolicyKind.Header, policy.Header.HeaderName, $"{policyPath}.header.header_name");
                    break;
                case RouteAction.Types.HashPolicy.PolicySpecifierOneofCase.Cookie:
                    Add(XdsHashPolicyKind.Cookie, policy.Cookie.Name, $"{policyPath}.cookie.name");
                    break;
                case RouteAction.Types.HashPolicy.PolicySpecifierOneofCase.QueryParameter:
                    Add(XdsHashPolicyKind.QueryParameter, policy.QueryParameter.Name, $"{policyPath}.query_parameter.name");
                    break;
                default:
                    // connection_properties, filter_state and unknown kinds produce no hash (gRFC A42).
                    break;
            }

            void Add(XdsHashPolicyKind kind, string name, string namePath)
            {
                if (string.IsNullOrEmpty(name))
                {
                    errors.Add($"{namePath}: is empty; name what to hash");
                }
                else
                {
                    result.Add(new XdsHashPolicy(kind, name, policy.Terminal));
                }
            }
        }

        return result.ToImmutable();
    }
}
