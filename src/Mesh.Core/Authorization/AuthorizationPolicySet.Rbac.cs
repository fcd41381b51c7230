using Mesh.Identity;

namespace Mesh.Authorization;

/// <summary>
/// A policy set made of Envoy RBAC filters (gRFC A41), as an xDS server delivers them: the filters run in order, and
/// the first that denies decides; a request every filter lets through is allowed.
/// </summary>
public sealed partial class AuthorizationPolicySet
{
    private readonly RbacEngine[]? _rbac;
    private readonly string[]? _rbacNoMatchReasons;

    private AuthorizationPolicySet(RbacEngine[] engines)
        : this([], [])
    {
        _rbac = engines;
        _rbacNoMatchReasons = new string[engines.Length];
        for (var i = 0; i < engines.Length; i++)
        {
            var names = new string[engines[i].Policies.Count];
            for (var p = 0; p < names.Length; p++)
            {
                names[p] = "'" + engines[i].Policies[p].Name + "'";
            }

            _rbacNoMatchReasons[i] = engines[i].Action == AuthorizationAction.Allow
                ? $"denied: no policy of the ALLOW RBAC filter '{engines[i].Name}' matched (policies: {string.Join(", ", names)})"
                : string.Empty;
        }
    }

    private int RbacPolicyCount
    {
        get
        {
            var count = 0;
            foreach (var engine in _rbac ?? [])
            {
                count += engine.Policies.Count;
            }

            return count;
        }
    }

    /// <summary>A set that runs <paramref name="engines"/> in order; none: every request is allowed.</summary>
    internal static AuthorizationPolicySet FromRbac(IReadOnlyList<RbacEngine> engines)
    {
        ArgumentNullException.ThrowIfNull(engines);
        return engines.Count == 0 ? Empty : new AuthorizationPolicySet([.. engines]);
    }

    private AuthorizationDecision EvaluateRbac(SpiffeId? principal, string method, string path)
    {
        var engines = _rbac!;
        for (var i = 0; i < engines.Length; i++)
        {
            var engine = engines[i];
            RbacPolicy? matched = null;
            foreach (var policy in engine.Policies)
            {
                if (policy.Matches(principal, method, path))
                {
                    matched = policy;
                    break;
                }
            }

            if (engine.Action == AuthorizationAction.Deny && matched is not null)
            {
                return AuthorizationDecision.Deny(matched.Name, $"denied by policy '{matched.Name}' of the DENY RBAC filter '{engine.Name}'");
            }

            if (engine.Action == AuthorizationAction.Allow && matched is null)
            {
                return AuthorizationDecision.Deny(null, _rbacNoMatchReasons![i]);
            }
        }

        return AuthorizationDecision.Allow(null, "allowed: no RBAC filter denied the request");
    }
}
