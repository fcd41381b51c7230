using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Mesh.Model;

namespace Mesh.Http.Security;

/// <summary>
/// One TLS connection the mesh opens to an endpoint of a cluster with <see cref="ClusterModel.Tls"/>: the cluster's
/// policy and the workload identity read when the connection was opened (so a rotation applies to the next connection),
/// and, after a rejected handshake, why it was rejected.
/// </summary>
internal sealed class ClientTlsConnection(ClusterModel cluster, ClientTlsPolicy policy, string endpoint, WorkloadIdentity? identity, TimeProvider time)
{
    private string? _failure;

    public ClusterModel Cluster { get; } = cluster;

    public ClientTlsPolicy Policy { get; } = policy;

    /// <summary>The endpoint's host and port.</summary>
    public string Endpoint { get; } = endpoint;

    public WorkloadIdentity? Identity { get; } = identity;

    /// <summary>Why the handshake was rejected, or <see langword="null"/>.</summary>
    public string? Failure => Volatile.Read(ref _failure);

    /// <summary>The certificate to present: the workload's, only to clusters with mutual TLS.</summary>
    public X509Certificate2? SelectClientCertificate() => Policy.IsMutual ? Identity?.Certificate : null;

    /// <summary>Checks the server with the cluster's policy against the identity's trust bundle; records the reason when it is rejected.</summary>
    public bool ValidateServer(X509Certificate? certificate, X509Chain? chain)
    {
        string? failure;
        if (Identity is null)
        {
            failure = "no workload identity to check the server against";
        }
        else if (certificate is null)
        {
            failure = "the server presented no certificate";
        }
        else
        {
            var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());

            // SslStream puts the certificates the server sent besides its leaf in the chain's extra store.
            var intermediates = chain?.ChainPolicy.ExtraStore;
            failure = Policy.CheckServer(leaf, intermediates, Identity.TrustBundle, time.GetUtcNow());
        }

        Volatile.Write(ref _failure, failure);
        return failure is null;
    }

    /// <summary>The message of a failed handshake: the cluster, the endpoint and the reason.</summary>
    public string Describe(string? fallback) =>
        $"TLS to endpoint {Endpoint} of cluster '{Cluster.Name}' ({Policy}) failed: {Failure ?? fallback ?? "the handshake failed"}";
}
