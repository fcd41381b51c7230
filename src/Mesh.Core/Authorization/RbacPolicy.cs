using System.Text.RegularExpressions;
using Mesh.Identity;

namespace Mesh.Authorization;

/// <summary>
/// One policy of an Envoy RBAC filter (<c>envoy.config.rbac.v3.Policy</c>, gRFC A41), already validated: it matches a
/// request when any of its permissions and any of its principals match. Holds the trees that
/// <see cref="AuthorizationPolicyOptions"/> cannot express (and/or/not of paths, methods and principals).
/// </summary>
/// <param name="Name">The policy's key in the RBAC <c>policies</c> map, reported in decisions.</param>
/// <param name="Permissions">What the request does; any may match.</param>
/// <param name="Principals">Who sends it; any may match.</param>
internal sealed record RbacPolicy(string Name, IReadOnlyList<RbacPermission> Permissions, IReadOnlyList<RbacPrincipal> Principals)
{
    /// <summary>Whether the request matches.</summary>
    public bool Matches(SpiffeId? peer, string method, string path)
    {
        var permitted = false;
        foreach (var permission in Permissions)
        {
            if (permission.Matches(method, path))
            {
                permitted = true;
                break;
            }
        }

        if (!permitted)
        {
            return false;
        }

        foreach (var principal in Principals)
        {
            if (principal.Matches(peer))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// An RBAC filter's engine: its action and its policies, in the order the filter chain runs them. An ALLOW engine
/// denies the requests no policy matches; a DENY engine denies the ones a policy matches.
/// </summary>
/// <param name="Name">The filter instance name, for decisions.</param>
/// <param name="Action">ALLOW or DENY.</param>
/// <param name="Policies">The policies, ordered by name (Envoy's map has no order; the first match is only reported).</param>
internal sealed record RbacEngine(string Name, AuthorizationAction Action, IReadOnlyList<RbacPolicy> Policies);

/// <summary>A <c>StringMatcher</c> (exact, prefix, suffix, contains, safe_regex), with <c>ignore_case</c>.</summary>
internal sealed class RbacStringMatcher
{
    private readonly Kind _kind;
    private readonly string _value;
    private readonly Regex? _regex;
    private readonly StringComparison _comparison;

    private RbacStringMatcher(Kind kind, string value, bool ignoreCase, Regex? regex)
    {
        _kind = kind;
        _value = value;
        _regex = regex;
        _comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
    }

    private enum Kind
    {
        Exact,
        Prefix,
        Suffix,
        Contains,
        Regex,
    }

    /// <summary>The value equals <paramref name="value"/>.</summary>
    public static RbacStringMatcher Exact(string value, bool ignoreCase = false) => new(Kind.Exact, value, ignoreCase, null);

    /// <summary>The value starts with <paramref name="value"/>.</summary>
    public static RbacStringMatcher Prefix(string value, bool ignoreCase = false) => new(Kind.Prefix, value, ignoreCase, null);

    /// <summary>The value ends with <paramref name="value"/>.</summary>
    public static RbacStringMatcher Suffix(string value, bool ignoreCase = false) => new(Kind.Suffix, value, ignoreCase, null);

    /// <summary>The value contains <paramref name="value"/>.</summary>
    public static RbacStringMatcher Contains(string value, bool ignoreCase = false) => new(Kind.Contains, value, ignoreCase, null);

    /// <summary>
    /// The whole value matches the RE2 expression <paramref name="pattern"/>; <see langword="null"/> with
    /// <paramref name="error"/> when .NET's non-backtracking engine (which, as RE2, has no backreferences or
    /// lookarounds) cannot compile it.
    /// </summary>
    public static RbacStringMatcher? Regex(string pattern, out string? error)
    {
        try
        {
            var regex = new Regex($"^(?:{pattern})\\z", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking, TimeSpan.FromSeconds(1));
            error = null;
            return new RbacStringMatcher(Kind.Regex, pattern, false, regex);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            error = e.Message;
            return null;
        }
    }

    /// <summary>Whether <paramref name="candidate"/> matches.</summary>
    public bool Matches(string candidate) => _kind switch
    {
        Kind.Exact => candidate.Equals(_value, _comparison),
        Kind.Prefix => candidate.StartsWith(_value, _comparison),
        Kind.Suffix => candidate.EndsWith(_value, _comparison),
        Kind.Contains => candidate.Contains(_value, _comparison),
        _ => _regex!.IsMatch(candidate),
    };

    /// <inheritdoc/>
    public override string ToString() => $"{_kind.ToString().ToLowerInvariant()} '{_value}'";
}

/// <summary>An RBAC <c>Permission</c> the mesh can evaluate: any, the path, the method, and/or/not.</summary>
internal abstract class RbacPermission
{
    /// <summary>Matches every request.</summary>
    public static RbacPermission Any { get; } = new AnyPermission();

    /// <summary>The request path (without the query) matches.</summary>
    public static RbacPermission Path(RbacStringMatcher matcher) => new PathPermission(matcher);

    /// <summary>The <c>:method</c> pseudo-header matches (inverted when <paramref name="invert"/>).</summary>
    public static RbacPermission Method(RbacStringMatcher matcher, bool invert = false) => new MethodPermission(matcher, invert);

    /// <summary>Every rule matches.</summary>
    public static RbacPermission And(IReadOnlyList<RbacPermission> rules) => new SetPermission(rules, true);

    /// <summary>Any rule matches.</summary>
    public static RbacPermission Or(IReadOnlyList<RbacPermission> rules) => new SetPermission(rules, false);

    /// <summary>The rule does not match.</summary>
    public static RbacPermission Not(RbacPermission rule) => new NotPermission(rule);

    /// <summary>Whether the request matches.</summary>
    public abstract bool Matches(string method, string path);

    private sealed class AnyPermission : RbacPermission
    {
        public override bool Matches(string method, string path) => true;
    }

    private sealed class PathPermission(RbacStringMatcher matcher) : RbacPermission
    {
        public override bool Matches(string method, string path) => matcher.Matches(path);
    }

    private sealed class MethodPermission(RbacStringMatcher matcher, bool invert) : RbacPermission
    {
        public override bool Matches(string method, string path) => matcher.Matches(method) != invert;
    }

    private sealed class SetPermission(IReadOnlyList<RbacPermission> rules, bool all) : RbacPermission
    {
        public override bool Matches(string method, string path)
        {
            foreach (var rule in rules)
            {
                if (rule.Matches(method, path) != all)
                {
                    return !all;
                }
            }

            // An empty and_rules matches (every rule of none); an empty or_rules does not.
            return all;
        }
    }

    private sealed class NotPermission(RbacPermission rule) : RbacPermission
    {
        public override bool Matches(string method, string path) => !rule.Matches(method, path);
    }
}

/// <summary>An RBAC <c>Principal</c> the mesh can evaluate: any, the authenticated peer's name, and/or/not.</summary>
internal abstract class RbacPrincipal
{
    /// <summary>Matches every peer, plaintext ones included.</summary>
    public static RbacPrincipal Any { get; } = new AnyPrincipal();

    /// <summary>
    /// An mTLS peer whose certificate's URI SAN (its SPIFFE ID, with <c>spiffe://</c>) matches; any mTLS peer when
    /// <paramref name="principalName"/> is <see langword="null"/>. A plaintext peer never matches.
    /// </summary>
    public static RbacPrincipal Authenticated(RbacStringMatcher? principalName) => new AuthenticatedPrincipal(principalName);

    /// <summary>Every id matches.</summary>
    public static RbacPrincipal And(IReadOnlyList<RbacPrincipal> ids) => new SetPrincipal(ids, true);

    /// <summary>Any id matches.</summary>
    public static RbacPrincipal Or(IReadOnlyList<RbacPrincipal> ids) => new SetPrincipal(ids, false);

    /// <summary>The id does not match.</summary>
    public static RbacPrincipal Not(RbacPrincipal id) => new NotPrincipal(id);

    /// <summary>Whether the peer matches; <paramref name="peer"/> is <see langword="null"/> for plaintext.</summary>
    public abstract bool Matches(SpiffeId? peer);

    private sealed class AnyPrincipal : RbacPrincipal
    {
        public override bool Matches(SpiffeId? peer) => true;
    }

    private sealed class AuthenticatedPrincipal(RbacStringMatcher? name) : RbacPrincipal
    {
        public override bool Matches(SpiffeId? peer) => peer is not null && (name is null || name.Matches(peer.Value));
    }

    private sealed class SetPrincipal(IReadOnlyList<RbacPrincipal> ids, bool all) : RbacPrincipal
    {
        public override bool Matches(SpiffeId? peer)
        {
            foreach (var id in ids)
            {
                if (id.Matches(peer) != all)
                {
                    return !all;
                }
            }

            return all;
        }
    }

    private sealed class NotPrincipal(RbacPrincipal id) : RbacPrincipal
    {
        public override bool Matches(SpiffeId? peer) => !id.Matches(peer);
    }
}
