using System.Globalization;
using Envoy.Config.Rbac.V3;
using Envoy.Config.Route.V3;
using Mesh.Authorization;
using RbacFilter = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using StringMatcher = Envoy.Type.Matcher.V3.StringMatcher;

namespace Mesh.Xds.Resources;

/// <summary>
/// Translates the RBAC HTTP filter (<c>envoy.extensions.filters.http.rbac.v3.RBAC</c>, gRFC A41) into the mesh's
/// <see cref="RbacEngine"/>. Supported: principals <c>any</c>, <c>authenticated.principal_name</c>, <c>and_ids</c>,
/// <c>or_ids</c>, <c>not_id</c>; permissions <c>any</c>, <c>url_path</c>, <c>header</c> on <c>:method</c>,
/// <c>and_rules</c>, <c>or_rules</c>, <c>not_rule</c>. The rest (addresses, ports, other headers, metadata, CEL
/// conditions) is rejected, since a Mesh server evaluates a request by its peer identity, method and path only.
/// </summary>
internal static class XdsRbac
{
    /// <summary>How deep a permission or principal tree may nest.</summary>
    private const int MaxDepth = 32;

    /// <summary>
    /// The engine of one RBAC filter; <see langword="null"/> when the filter enforces nothing (no <c>rules</c>, or the
    /// LOG action) or when it is invalid (the problems are added to <paramref name="errors"/>). <c>shadow_rules</c>
    /// enforce nothing and are ignored.
    /// </summary>
    public static RbacEngine? Translate(string filterName, RbacFilter filter, string path, List<string> errors)
    {
        if (filter.Rules is not { } rules)
        {
            return null;
        }

        var rulesPath = $"{path}.rules";
        AuthorizationAction action;
        switch (rules.Action)
        {
            case RBAC.Types.Action.Allow:
                action = AuthorizationAction.Allow;
                break;
            case RBAC.Types.Action.Deny:
                action = AuthorizationAction.Deny;
                break;
            case RBAC.Types.Action.Log:
                return null;
            default:
                errors.Add($"{rulesPath}.action = {((int)rules.Action).ToString(CultureInfo.InvariantCulture)}: must be ALLOW, DENY or LOG");
                return null;
        }

        var count = errors.Count;
        var policies = new List<RbacPolicy>(rules.Policies.Count);
        foreach (var name in rules.Policies.Keys.Order(StringComparer.Ordinal))
        {
            var policy = rules.Policies[name];
            var policyPath = $"{rulesPath}.policies[{XdsFields.Quote(name)}]";
            if (policy.Condition is not null || policy.CheckedCondition is not null)
            {
                errors.Add($"{policyPath}: has a CEL condition; conditions are not supported (gRFC A41), remove condition and checked_condition");
            }

            var permissions = new List<RbacPermission>(policy.Permissions.Count);
            for (var i = 0; i < policy.Permissions.Count; i++)
            {
                if (Permission(policy.Permissions[i], $"{policyPath}.permissions[{i.ToString(CultureInfo.InvariantCulture)}]", 0, errors) is { } permission)
                {
                    permissions.Add(permission);
                }
            }

            var principals = new List<RbacPrincipal>(policy.Principals.Count);
            for (var i = 0; i < policy.Principals.Count; i++)
            {
                if (Principal(policy.Principals[i], $"{policyPath}.principals[{i.ToString(CultureInfo.InvariantCulture)}]", 0, errors) is { } principal)
                {
                    principals.Add(principal);
                }
            }

            policies.Add(new RbacPolicy(name, permissions, principals));
        }

        return errors.Count == count ? new RbacEngine(filterName, action, policies) : null;
    }

    private static RbacPermission? Permission(Permission permission, string path, int depth, List<string> errors)
    {
        if (depth > MaxDepth)
        {
            errors.Add($"{path}: nests deeper than {MaxDepth.ToString(CultureInfo.InvariantCulture)} levels");
            return null;
        }

        switch (permission.RuleCase)
        {
            case Envoy.Config.Rbac.V3.Permission.RuleOneofCase.Any:
                if (!permission.Any)
                {
                    errors.Add($"{path}.any: is false; set it to true to match every request");
                    return null;
                }

                return RbacPermission.Any;
            case Envoy.Config.Rbac.V3.Permission.RuleOneofCase.AndRules:
            case Envoy.Config.Rbac.V3.Permission.RuleOneofCase.OrRules:
                var and = permission.RuleCase == Envoy.Config.Rbac.V3.Permission.RuleOneofCase.AndRules;
                var set = and ? permission.AndRules : permission.OrRules;
                var setPath = and ? $"{path}.and_rules.rules" : $"{path}.or_rules.rules";
                var rules = new List<RbacPermission>(set.Rules.Count);
                for (var i = 0; i < set.Rules.Count; i++)
                {
                    if (Permission(set.Rules[i], $"{setPath}[{i.ToString(CultureInfo.InvariantCulture)}]", depth + 1, errors) is { } rule)
                    {
                        rules.Add(rule);
                    }
                }

                return and ? RbacPermission.And(rules) : RbacPermission.Or(rules);
            case Envoy.Config.Rbac.V3.Permission.RuleOneofCase.NotRule:
                return Permission(permission.NotRule, $"{path}.not_rule", depth + 1, errors) is { } inner ? RbacPermission.Not(inner) : null;
            case Envoy.Config.Rbac.V3.Permission.RuleOneofCase.UrlPath:
                if (permission.UrlPath.RuleCase != Envoy.Type.Matcher.V3.PathMatcher.RuleOneofCase.Path)
                {
                    errors.Add($"{path}.url_path: has no path matcher; set url_path.path");
                    return null;
                }

                return String(permission.UrlPath.Path, $"{path}.url_path.path", errors) is { } pathMatcher ? RbacPermission.Path(pathMatcher) : null;
            case Envoy.Config.Rbac.V3.Permission.RuleOneofCase.Header:
                return MethodHeader(permission.Header, $"{path}.header", errors);
            default:
                errors.Add($"{path}: the permission {XdsFields.Quote(permission.RuleCase.ToString())} is not supported; a Mesh server matches requests by url_path and the :method header (with any, and_rules, or_rules, not_rule)");
                return null;
        }
    }

    private static RbacPermission? MethodHeader(HeaderMatcher header, string path, List<string> errors)
    {
        if (header.Name != ":method")
        {
            errors.Add($"{path}.name = {XdsFields.Quote(header.Name)}: only the :method header is supported in permissions");
            return null;
        }

        RbacStringMatcher? matcher;
        switch (header.HeaderMatchSpecifierCase)
        {
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch:
                matcher = String(header.StringMatch, $"{path}.string_match", errors);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.ExactMatch:
                matcher = RbacStringMatcher.Exact(header.ExactMatch);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.PrefixMatch:
                matcher = RbacStringMatcher.Prefix(header.PrefixMatch);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.SuffixMatch:
                matcher = RbacStringMatcher.Suffix(header.SuffixMatch);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.ContainsMatch:
                matcher = RbacStringMatcher.Contains(header.ContainsMatch);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.SafeRegexMatch:
                matcher = Regex(header.SafeRegexMatch?.Regex, $"{path}.safe_regex_match", errors);
                break;
            case HeaderMatcher.HeaderMatchSpecifierOneofCase.PresentMatch:
                // :method is always present.
                return header.PresentMatch != header.InvertMatch ? RbacPermission.Any : RbacPermission.Not(RbacPermission.Any);
            default:
                errors.Add($"{path}: has no supported matcher; set string_match (range_match is not supported for :method)");
                return null;
        }

        return matcher is null ? null : RbacPermission.Method(matcher, header.InvertMatch);
    }

    private static RbacPrincipal? Principal(Principal principal, string path, int depth, List<string> errors)
    {
        if (depth > MaxDepth)
        {
            errors.Add($"{path}: nests deeper than {MaxDepth.ToString(CultureInfo.InvariantCulture)} levels");
            return null;
        }

        switch (principal.IdentifierCase)
        {
            case Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.Any:
                if (!principal.Any)
                {
                    errors.Add($"{path}.any: is false; set it to true to match every peer");
                    return null;
                }

                return RbacPrincipal.Any;
            case Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.AndIds:
            case Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.OrIds:
                var and = principal.IdentifierCase == Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.AndIds;
                var set = and ? principal.AndIds : principal.OrIds;
                var setPath = and ? $"{path}.and_ids.ids" : $"{path}.or_ids.ids";
                var ids = new List<RbacPrincipal>(set.Ids.Count);
                for (var i = 0; i < set.Ids.Count; i++)
                {
                    if (Principal(set.Ids[i], $"{setPath}[{i.ToString(CultureInfo.InvariantCulture)}]", depth + 1, errors) is { } id)
                    {
                        ids.Add(id);
                    }
                }

                return and ? RbacPrincipal.And(ids) : RbacPrincipal.Or(ids);
            case Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.NotId:
                return Principal(principal.NotId, $"{path}.not_id", depth + 1, errors) is { } inner ? RbacPrincipal.Not(inner) : null;
            case Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.Authenticated:
                if (principal.Authenticated.PrincipalName is not { } name)
                {
                    return RbacPrincipal.Authenticated(null);
                }

                return String(name, $"{path}.authenticated.principal_name", errors) is { } matcher ? RbacPrincipal.Authenticated(matcher) : null;
            default:
                errors.Add($"{path}: the principal {XdsFields.Quote(principal.IdentifierCase.ToString())} is not supported; a Mesh server matches peers by authenticated.principal_name (with any, and_ids, or_ids, not_id)");
                return null;
        }
    }

    private static RbacStringMatcher? String(StringMatcher matcher, string path, List<string> errors)
    {
        var ignoreCase = matcher.IgnoreCase;
        switch (matcher.MatchPatternCase)
        {
            case StringMatcher.MatchPatternOneofCase.Exact:
                return RbacStringMatcher.Exact(matcher.Exact, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.Prefix:
                return RbacStringMatcher.Prefix(matcher.Prefix, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.Suffix:
                return RbacStringMatcher.Suffix(matcher.Suffix, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.Contains:
                return RbacStringMatcher.Contains(matcher.Contains, ignoreCase);
            case StringMatcher.MatchPatternOneofCase.SafeRegex:
                return Regex(matcher.SafeRegex?.Regex, $"{path}.safe_regex", errors);
            default:
                errors.Add($"{path}: has no pattern; set exact, prefix, suffix, contains or safe_regex");
                return null;
        }
    }

    private static RbacStringMatcher? Regex(string? pattern, string path, List<string> errors)
    {
        if (string.IsNullOrEmpty(pattern))
        {
            errors.Add($"{path}.regex: is empty; set an RE2 expression");
            return null;
        }

        var matcher = RbacStringMatcher.Regex(pattern, out var error);
        if (matcher is null)
        {
            errors.Add($"{path}.regex = {XdsFields.Quote(pattern)}: is not a supported regular expression ({error})");
        }

        return matcher;
    }
}
