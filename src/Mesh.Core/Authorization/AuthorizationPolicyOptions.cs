namespace Mesh.Authorization;

/// <summary>What a matching <see cref="AuthorizationPolicyOptions"/> does to a request (Istio's <c>action</c>).</summary>
public enum AuthorizationAction
{
    /// <summary>The request is allowed when it matches; once any ALLOW policy exists, requests matching none are denied.</summary>
    Allow,

    /// <summary>The request is denied when it matches; DENY is checked before ALLOW.</summary>
    Deny,
}

/// <summary>
/// One authorization policy, as Istio's <c>AuthorizationPolicy</c>: a name, an action and rules. A DENY policy that
/// matches denies the request; when any ALLOW policy exists, a request is allowed only if one matches. A policy
/// without rules matches nothing, so an ALLOW policy without rules denies everything.
/// </summary>
/// <example><code>
/// new AuthorizationPolicyOptions
/// {
///     Name = "frontend-reads",
///     Action = AuthorizationAction.Allow,
///     Rules = [new() { From = [new() { Principals = ["cluster.local/ns/shop/sa/frontend"] }], To = [new() { Methods = ["GET"], Paths = ["/api/*"] }] }],
/// }
/// </code></example>
public sealed class AuthorizationPolicyOptions
{
    /// <summary>The policy's name, reported in denials and logs; required and unique.</summary>
    public string? Name { get; set; }

    /// <summary>ALLOW (the default) or DENY.</summary>
    public AuthorizationAction Action { get; set; } = AuthorizationAction.Allow;

    /// <summary>The rules; the policy matches a request when any rule matches.</summary>
    public List<AuthorizationRuleOptions> Rules { get; set; } = [];
}

/// <summary>
/// A rule: it matches when a <see cref="From"/> entry matches the caller (or there is none) and a <see cref="To"/>
/// entry matches the operation (or there is none). An empty rule matches every request.
/// </summary>
public sealed class AuthorizationRuleOptions
{
    /// <summary>Who may call; any entry may match.</summary>
    public List<AuthorizationSourceOptions> From { get; set; } = [];

    /// <summary>What is called; any entry may match.</summary>
    public List<AuthorizationOperationOptions> To { get; set; } = [];
}

/// <summary>
/// The caller, as its mTLS peer identity. Every non-empty list must match. Principals are SPIFFE IDs without
/// <c>spiffe://</c> (<c>cluster.local/ns/shop/sa/frontend</c>); principals and namespaces accept Istio's forms:
/// exact, <c>prefix*</c>, <c>*suffix</c> and <c>*</c> (any authenticated peer). A plaintext caller has no principal
/// or namespace, so none of these conditions (the <c>Not*</c> ones included) match it.
/// </summary>
public sealed class AuthorizationSourceOptions
{
    /// <summary>The caller's principal is one of these.</summary>
    public List<string> Principals { get; set; } = [];

    /// <summary>The caller's principal is none of these.</summary>
    public List<string> NotPrincipals { get; set; } = [];

    /// <summary>The caller's Kubernetes namespace (from its SPIFFE ID) is one of these.</summary>
    public List<string> Namespaces { get; set; } = [];

    /// <summary>The caller's Kubernetes namespace is none of these.</summary>
    public List<string> NotNamespaces { get; set; } = [];
}

/// <summary>
/// The operation. Every non-empty list must match. Paths are the request path without the query (for gRPC
/// <c>/package.Service/Method</c>) and accept exact, <c>prefix*</c>, <c>*suffix</c> and <c>*</c>; methods are HTTP
/// methods (gRPC calls are <c>POST</c>), compared case-insensitively.
/// </summary>
public sealed class AuthorizationOperationOptions
{
    /// <summary>The path is one of these.</summary>
    public List<string> Paths { get; set; } = [];

    /// <summary>The path is none of these.</summary>
    public List<string> NotPaths { get; set; } = [];

    /// <summary>The HTTP method is one of these.</summary>
    public List<string> Methods { get; set; } = [];

    /// <summary>The HTTP method is none of these.</summary>
    public List<string> NotMethods { get; set; } = [];
}
