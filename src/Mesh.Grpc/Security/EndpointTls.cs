using Mesh.Identity;

namespace Mesh.Grpc.Security;

/// <summary>
/// How connections to one endpoint of a channel are secured: the TLS policy every cluster of the channel's service that
/// has the endpoint agrees on, or why they disagree (then the mesh refuses to connect rather than guess).
/// Plaintext endpoints have none.
/// </summary>
internal sealed class EndpointTls
{
    private EndpointTls(string cluster, ClientTlsPolicy? policy, string? conflict)
    {
        Cluster = cluster;
        Policy = policy;
        Conflict = conflict;
    }

    /// <summary>The (first) cluster the endpoint belongs to, for messages.</summary>
    public string Cluster { get; }

    /// <summary>The policy; <see langword="null"/> only with a <see cref="Conflict"/>.</summary>
    public ClientTlsPolicy? Policy { get; }

    /// <summary>Why no single policy applies, or <see langword="null"/>.</summary>
    public string? Conflict { get; }

    public static EndpointTls For(string cluster, ClientTlsPolicy policy) => new(cluster, policy, null);

    public static EndpointTls Conflicting(string cluster, string conflict) => new(cluster, null, conflict);

    /// <summary>Whether connections made for one are good for the other.</summary>
    public static bool Same(EndpointTls? a, EndpointTls? b) =>
        a is null ? b is null : b is not null && Equals(a.Policy, b.Policy) && a.Conflict == b.Conflict;
}
