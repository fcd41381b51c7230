using System.Diagnostics.CodeAnalysis;
using Mesh.Identity;

namespace Mesh.Authorization;

/// <summary>
/// A validated, immutable set of authorization policies, evaluated as Istio does: any matching DENY policy denies;
/// otherwise, when ALLOW policies exist, one must match; otherwise the request is allowed. Build one with
/// <see cref="Create"/> or <see cref="TryCreate"/>; <see cref="Evaluate"/> is safe to call concurrently.
/// </summary>
public sealed partial class AuthorizationPolicySet
{
    private const string SpiffePrefix = "spiffe://";
    private const string NoPoliciesReason = "allowed: no authorization policy applies";

    private readonly CompiledPolicy[] _deny;
    private readonly CompiledPolicy[] _allow;
    private readonly string _noAllowMatchedReason;

    private AuthorizationPolicySet(CompiledPolicy[] deny, CompiledPolicy[] allow)
    {
        _deny = deny;
        _allow = allow;
        var names = new string[allow.Length];
        for (var i = 0; i < allow.Length; i++)
        {
            names[i] = "'" + allow[i].Name + "'";
        }

        _noAllowMatchedReason = $"denied: no ALLOW policy matched (ALLOW policies: {string.Join(", ", names)})";
    }

    /// <summary>No policies: every request is allowed.</summary>
    public static AuthorizationPolicySet Empty { get; } = new([], []);

    /// <summary>How many policies the set has.</summary>
    public int Count => _deny.Length + _allow.Length + RbacPolicyCount;

    /// <summary>
    /// Validates and compiles <paramref name="policies"/>; throws <see cref="ArgumentException"/> listing every
    /// problem, each with its configuration path under <paramref name="path"/>.
    /// </summary>
    public static AuthorizationPolicySet Create(IEnumerable<AuthorizationPolicyOptions> policies, string path = "AuthorizationPolicies")
        => TryCreate(policies, path, out var set, out var errors)
            ? set
            : throw new ArgumentException($"Invalid authorization policies:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}", nameof(policies));

    /// <summary>
    /// Validates and compiles <paramref name="policies"/>; on failure <paramref name="errors"/> lists every problem,
    /// e.g. <c>Mesh:Server:AuthorizationPolicies[1] (deny-admin):Rules[0]:To[0]:Methods[0] = '': must be an HTTP method such as GET</c>.
    /// </summary>
    public static bool TryCreate(
        IEnumerable<AuthorizationPolicyOptions> policies,
        string path,
        [NotNullWhen(true)] out AuthorizationPolicySet? set,
        out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(path);
        var problems = new List<string>();
        var deny = new List<CompiledPolicy>();
        var allow = new List<CompiledPolicy>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var policy in policies)
        {
            var policyPath = $"{path}[{index}]";
            index++;
            if (policy is null)
            {
                problems.Add($"{policyPath}: the policy is empty; give it a Name, an Action and Rules");
                continue;
            }

            if (string.IsNullOrWhiteSpace(policy.Name))
            {
                problems.Add($"{policyPath}:Name = '{policy.Name}': a policy needs a name (denials report it)");
            }
            else
            {
                policyPath = $"{policyPath} ({policy.Name})";
                if (!names.Add(policy.Name))
                {
                    problems.Add($"{policyPath}:Name = '{policy.Name}': another policy has this name; names must be unique");
                }
            }

            if (!Enum.IsDefined(policy.Action))
            {
                problems.Add($"{policyPath}:Action = '{policy.Action}': must be Allow or Deny");
            }

            var rules = new CompiledRule[policy.Rules?.Count ?? 0];
            for (var r = 0; r < rules.Length; r++)
            {
                rules[r] = CompileRule(policy.Rules![r], $"{policyPath}:Rules[{r}]", problems);
            }

            var name = policy.Name ?? string.Empty;
            if (policy.Action == AuthorizationAction.Deny)
            {
                deny.Add(new CompiledPolicy(name, rules, $"denied by DENY policy '{name}'"));
            }
            else
            {
                allow.Add(new CompiledPolicy(name, rules, $"allowed by ALLOW policy '{name}'"));
            }
        }

        if (problems.Count > 0)
        {
            set = null;
            errors = problems;
            return false;
        }

        set = deny.Count == 0 && allow.Count == 0 ? Empty : new AuthorizationPolicySet([.. deny], [.. allow]);
        errors = [];
        return true;
    }

    /// <summary>
    /// Decides one request. <paramref name="principal"/> is the mTLS peer's SPIFFE ID, or <see langword="null"/> for a
    /// plaintext (unauthenticated) peer; <paramref name="path"/> is the request path without the query.
    /// </summary>
    public AuthorizationDecision Evaluate(SpiffeId? principal, string method, string path)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(path);
        if (_rbac is not null)
        {
            return EvaluateRbac(principal, method, path);
        }

        if (_deny.Length == 0 && _allow.Length == 0)
        {
            return AuthorizationDecision.Allow(null, NoPoliciesReason);
        }

        var peer = new Peer(principal);
        foreach (var policy in _deny)
        {
            if (policy.Matches(in peer, method, path))
            {
                return AuthorizationDecision.Deny(policy.Name, policy.Reason);
            }
        }

        if (_allow.Length == 0)
        {
            return AuthorizationDecision.Allow(null, NoPoliciesReason);
        }

        foreach (var policy in _allow)
        {
            if (policy.Matches(in peer, method, path))
            {
                return AuthorizationDecision.Allow(policy.Name, policy.Reason);
            }
        }

        return AuthorizationDecision.Deny(null, _noAllowMatchedReason);
    }

    private static CompiledRule CompileRule(AuthorizationRuleOptions? rule, string path, List<string> problems)
    {
        if (rule is null)
        {
            return new CompiledRule([], []);
        }

        var from = new CompiledSource[rule.From?.Count ?? 0];
        for (var i = 0; i < from.Length; i++)
        {
            var source = rule.From![i] ?? new AuthorizationSourceOptions();
            var sourcePath = $"{path}:From[{i}]";
            from[i] = new CompiledSource(
                Principals(source.Principals, $"{sourcePath}:Principals", problems),
                Principals(source.NotPrincipals, $"{sourcePath}:NotPrincipals", problems),
                Names(source.Namespaces, $"{sourcePath}:Namespaces", problems),
                Names(source.NotNamespaces, $"{sourcePath}:NotNamespaces", problems));
        }

        var to = new CompiledOperation[rule.To?.Count ?? 0];
        for (var i = 0; i < to.Length; i++)
        {
            var operation = rule.To![i] ?? new AuthorizationOperationOptions();
            var operationPath = $"{path}:To[{i}]";
            to[i] = new CompiledOperation(
                Paths(operation.Paths, $"{operationPath}:Paths", problems),
                Paths(operation.NotPaths, $"{operationPath}:NotPaths", problems),
                Methods(operation.Methods, $"{operationPath}:Methods", problems),
                Methods(operation.NotMethods, $"{operationPath}:NotMethods", problems));
        }

        return new CompiledRule(from, to);
    }

    private static StringMatcher[] Principals(List<string>? values, string path, List<string> problems)
        => Compile(values, path, problems, static value => value.StartsWith(SpiffePrefix, StringComparison.OrdinalIgnoreCase)
            ? $"write the principal without '{SpiffePrefix}', as Istio does: '{value[SpiffePrefix.Length..]}'"
            : null);

    private static StringMatcher[] Names(List<string>? values, string path, List<string> problems)
        => Compile(values, path, problems, static value => value.Contains('/', StringComparison.Ordinal)
            ? "must be a Kubernetes namespace name such as 'shop' (no '/')"
            : null);

    private static StringMatcher[] Paths(List<string>? values, string path, List<string> problems)
        => Compile(values, path, problems, static value => value[0] is '/' or '*'
            ? null
            : $"must be a request path starting with '/' (such as '/api/*'), or '*suffix'");

    private static StringMatcher[] Compile(List<string>? values, string path, List<string> problems, Func<string, string?> check)
    {
        if (values is null || values.Count == 0)
        {
            return [];
        }

        var matchers = new StringMatcher[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            var value = values[i];
            if (string.IsNullOrEmpty(value))
            {
                problems.Add($"{path}[{i}] = '': must not be empty (use '*' to match any value)");
                continue;
            }

            if (value.Length > 1 && value.AsSpan(1, value.Length - 2).Contains('*'))
            {
                problems.Add($"{path}[{i}] = '{value}': '*' may only be the first or the last character (exact, 'prefix*', '*suffix' or '*')");
                continue;
            }

            if (value.Length > 1 && value[0] == '*' && value[^1] == '*')
            {
                problems.Add($"{path}[{i}] = '{value}': '*' may be at the start or at the end, not both");
                continue;
            }

            if (check(value) is { } error)
            {
                problems.Add($"{path}[{i}] = '{value}': {error}");
                continue;
            }

            matchers[i] = StringMatcher.Create(value);
        }

        return matchers;
    }

    private static StringMatcher[] Methods(List<string>? values, string path, List<string> problems)
    {
        if (values is null || values.Count == 0)
        {
            return [];
        }

        var matchers = new StringMatcher[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            var value = values[i];
            if (string.IsNullOrEmpty(value) || !IsToken(value))
            {
                problems.Add($"{path}[{i}] = '{value}': must be an HTTP method such as GET");
                continue;
            }

            matchers[i] = new StringMatcher(MatchKind.Exact, value.ToUpperInvariant());
        }

        return matchers;
    }

    private static bool IsToken(string value)
    {
        foreach (var c in value)
        {
            if (c is not (>= 'A' and <= 'Z' or >= 'a' and <= 'z'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The caller as the matchers see it: principal and namespace as spans of the SPIFFE ID.</summary>
    private readonly ref struct Peer
    {
        public Peer(SpiffeId? id)
        {
            if (id is null)
            {
                return;
            }

            IsAuthenticated = true;
            Principal = id.Value.AsSpan(SpiffePrefix.Length);
            var path = id.Path.AsSpan();
            if (path.StartsWith("/ns/"))
            {
                var rest = path[4..];
                var slash = rest.IndexOf('/');
                if (slash > 0 && rest[slash..].StartsWith("/sa/") && rest.Length > slash + 4 && rest[(slash + 4)..].IndexOf('/') < 0)
                {
                    Namespace = rest[..slash];
                    HasNamespace = true;
                }
            }
        }

        public bool IsAuthenticated { get; }

        public ReadOnlySpan<char> Principal { get; }

        public bool HasNamespace { get; }

        public ReadOnlySpan<char> Namespace { get; }
    }

    private sealed class CompiledPolicy(string name, CompiledRule[] rules, string reason)
    {
        public string Name { get; } = name;

        public string Reason { get; } = reason;

        public bool Matches(in Peer peer, string method, string path)
        {
            foreach (var rule in rules)
            {
                if (rule.Matches(in peer, method, path))
                {
                    return true;
                }
            }

            return false;
        }
    }

    private sealed class CompiledRule(CompiledSource[] from, CompiledOperation[] to)
    {
        public bool Matches(in Peer peer, string method, string path)
        {
            if (from.Length > 0)
            {
                var any = false;
                foreach (var source in from)
                {
                    if (source.Matches(in peer))
                    {
                        any = true;
                        break;
                    }
                }

                if (!any)
                {
                    return false;
                }
            }

            if (to.Length > 0)
            {
                foreach (var operation in to)
                {
                    if (operation.Matches(method, path))
                    {
                        return true;
                    }
                }

                return false;
            }

            return true;
        }
    }

    private sealed class CompiledSource(StringMatcher[] principals, StringMatcher[] notPrincipals, StringMatcher[] namespaces, StringMatcher[] notNamespaces)
    {
        public bool Matches(in Peer peer)
        {
            // A plaintext peer has no principal or namespace: any condition on them, negative ones included, fails (Istio).
            if (principals.Length > 0 && (!peer.IsAuthenticated || !StringMatcher.Any(principals, peer.Principal)))
            {
                return false;
            }

            if (notPrincipals.Length > 0 && (!peer.IsAuthenticated || StringMatcher.Any(notPrincipals, peer.Principal)))
            {
                return false;
            }

            if (namespaces.Length > 0 && (!peer.HasNamespace || !StringMatcher.Any(namespaces, peer.Namespace)))
            {
                return false;
            }

            return notNamespaces.Length == 0 || (peer.HasNamespace && !StringMatcher.Any(notNamespaces, peer.Namespace));
        }
    }

    private sealed class CompiledOperation(StringMatcher[] paths, StringMatcher[] notPaths, StringMatcher[] methods, StringMatcher[] notMethods)
    {
        public bool Matches(string method, string path)
        {
            return (paths.Length == 0 || StringMatcher.Any(paths, path))
                && (notPaths.Length == 0 || !StringMatcher.Any(notPaths, path))
                && (methods.Length == 0 || StringMatcher.AnyIgnoreCase(methods, method))
                && (notMethods.Length == 0 || !StringMatcher.AnyIgnoreCase(notMethods, method));
        }
    }

    private enum MatchKind
    {
        Exact,
        Prefix,
        Suffix,
        Presence,
    }

    /// <summary>Istio's string forms: exact, <c>prefix*</c>, <c>*suffix</c>, <c>*</c> (any non-empty value).</summary>
    private readonly struct StringMatcher(MatchKind kind, string value)
    {
        public static StringMatcher Create(string pattern) => pattern switch
        {
            "*" => new(MatchKind.Presence, string.Empty),
            [.. var prefix, '*'] => new(MatchKind.Prefix, prefix),
            ['*', .. var suffix] => new(MatchKind.Suffix, suffix),
            _ => new(MatchKind.Exact, pattern),
        };

        public static bool Any(StringMatcher[] matchers, ReadOnlySpan<char> value)
        {
            foreach (var matcher in matchers)
            {
                if (matcher.Matches(value, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        public static bool AnyIgnoreCase(StringMatcher[] matchers, ReadOnlySpan<char> value)
        {
            foreach (var matcher in matchers)
            {
                if (matcher.Matches(value, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }

            return false;
        }

        private bool Matches(ReadOnlySpan<char> candidate, StringComparison comparison) => kind switch
        {
            MatchKind.Exact => candidate.Equals(value, comparison),
            MatchKind.Prefix => candidate.StartsWith(value, comparison),
            MatchKind.Suffix => candidate.EndsWith(value, comparison),
            _ => !candidate.IsEmpty,
        };
    }
}
