namespace Mesh.Authorization;

/// <summary>
/// The outcome of evaluating an <see cref="AuthorizationPolicySet"/> for one request: a value, so the allowed path
/// does not allocate (the reasons are built once, with the policy set).
/// </summary>
public readonly struct AuthorizationDecision
{
    private AuthorizationDecision(bool allowed, string? policyName, string reason)
    {
        Allowed = allowed;
        PolicyName = policyName;
        Reason = reason;
    }

    /// <summary>Whether the request may proceed.</summary>
    public bool Allowed { get; }

    /// <summary>The policy that decided (the matching DENY or ALLOW policy), or <see langword="null"/> when none did.</summary>
    public string? PolicyName { get; }

    /// <summary>Why, in a short sentence suitable for a log line or a response body.</summary>
    public string Reason { get; }

    /// <summary>An allowed decision.</summary>
    public static AuthorizationDecision Allow(string? policyName, string reason) => new(true, policyName, reason);

    /// <summary>A denied decision.</summary>
    public static AuthorizationDecision Deny(string? policyName, string reason) => new(false, policyName, reason);

    /// <inheritdoc/>
    public override string ToString() => Reason;
}
