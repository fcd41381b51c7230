using System.Collections.Immutable;

namespace Mesh.ControlPlane.Model;

/// <summary>DestinationRule <c>trafficPolicy.tls.mode</c>, the modes the mesh supports.</summary>
internal enum ClientTlsModelMode
{
    /// <summary>DISABLE: plaintext.</summary>
    Disable,

    /// <summary>SIMPLE: TLS; the server is verified against the mesh's trust bundle.</summary>
    Simple,

    /// <summary>ISTIO_MUTUAL: mutual TLS with the mesh's workload certificates.</summary>
    IstioMutual,
}

/// <summary>A DestinationRule's <c>trafficPolicy.tls</c> (top level, per port or per subset).</summary>
/// <param name="Mode">The mode.</param>
/// <param name="SubjectAltNames">The server must have one of these names (exact); empty: for ISTIO_MUTUAL the destination's service accounts, else any.</param>
/// <param name="Sni">The SNI to send, or <see langword="null"/> for the endpoint's host.</param>
internal sealed record ClientTlsModel(ClientTlsModelMode Mode, ImmutableArray<string> SubjectAltNames, string? Sni);

/// <summary>PeerAuthentication <c>spec.mtls.mode</c>.</summary>
internal enum PeerAuthenticationMode
{
    /// <summary>UNSET (or no mtls): inherits from the namespace's, then the mesh's policy.</summary>
    Unset,

    /// <summary>DISABLE: the workloads accept plaintext only.</summary>
    Disable,

    /// <summary>PERMISSIVE: the workloads accept mutual TLS and plaintext.</summary>
    Permissive,

    /// <summary>STRICT: the workloads accept mutual TLS only.</summary>
    Strict,
}

/// <summary>A <c>security.istio.io</c> PeerAuthentication: how the selected workloads accept connections.</summary>
/// <param name="Namespace">The namespace; a policy without selector in the root namespace applies to the whole mesh.</param>
/// <param name="Name">The name.</param>
/// <param name="Origin">Where it came from, for messages.</param>
/// <param name="Selector">The workload labels it applies to; <see langword="null"/> for every workload of the namespace.</param>
/// <param name="Mode">The mode.</param>
internal sealed record PeerAuthenticationModel(string Namespace, string Name, string Origin, ImmutableDictionary<string, string>? Selector, PeerAuthenticationMode Mode);

/// <summary>AuthorizationPolicy <c>spec.action</c>.</summary>
internal enum AuthorizationAction
{
    /// <summary>ALLOW (the default): requests that match a rule are allowed; once any ALLOW policy selects a workload, other requests are denied.</summary>
    Allow,

    /// <summary>DENY: requests that match a rule are denied; DENY policies are evaluated first.</summary>
    Deny,
}

/// <summary><c>rules[].from[].source</c>: every given list must match (values are Istio's: exact, <c>*</c> prefix or suffix).</summary>
internal sealed record AuthorizationSourceModel(
    ImmutableArray<string> Principals,
    ImmutableArray<string> NotPrincipals,
    ImmutableArray<string> Namespaces,
    ImmutableArray<string> NotNamespaces);

/// <summary><c>rules[].to[].operation</c>: every given list must match.</summary>
internal sealed record AuthorizationOperationModel(
    ImmutableArray<string> Paths,
    ImmutableArray<string> NotPaths,
    ImmutableArray<string> Methods,
    ImmutableArray<string> NotMethods);

/// <summary>One <c>rules[]</c> entry: a request matches when one of <see cref="From"/> and one of <see cref="To"/> match (an empty list matches all).</summary>
internal sealed record AuthorizationRuleModel(ImmutableArray<AuthorizationSourceModel> From, ImmutableArray<AuthorizationOperationModel> To);

/// <summary>A <c>security.istio.io</c> AuthorizationPolicy (the subset the mesh supports).</summary>
/// <param name="Namespace">The namespace; a policy in the root namespace applies to the whole mesh.</param>
/// <param name="Name">The name.</param>
/// <param name="Origin">Where it came from, for messages.</param>
/// <param name="Selector">The workload labels it applies to; <see langword="null"/> for every workload of the namespace.</param>
/// <param name="Action">ALLOW or DENY.</param>
/// <param name="Rules">The rules; none: ALLOW matches nothing (denies all), DENY matches nothing.</param>
internal sealed record AuthorizationPolicyModel(
    string Namespace,
    string Name,
    string Origin,
    ImmutableDictionary<string, string>? Selector,
    AuthorizationAction Action,
    ImmutableArray<AuthorizationRuleModel> Rules);
