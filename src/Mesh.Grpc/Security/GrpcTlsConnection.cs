using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;

namespace Mesh.Grpc.Security;

/// <summary>
/// One TLS connection a mesh channel opens to an endpoint with <see cref="EndpointTls"/>: the policy, the workload
/// identity read when the connection was opened (a rotation applies to the next connection), and why the handshake was
/// rejected, if it was.
/// </summary>
internal sealed class GrpcTlsConnection(EndpointTls tls, ClientTlsPolicy policy, string endpoint, WorkloadIdentity identity, TimeProvider time)
{
    private string? _failure;

    public EndpointTls Tls { get; } = tls;

    public string Endpoint { get; } = endpoint;

    public string? Failure => Volatile.Read(ref _failure);

    /// <summary>The certificate to present: the workload's, only for mutual TLS.</summary>
    public X509Certificate2? SelectClientCertificate() => policy.IsMutual ? identity.Certificate : null;

    /// <summary>Checks the server with the policy against the identity's trust bundle; records the reason when it is rejected.</summary>
    public bool ValidateServer(X509Certificate? certificate, X509Chain? chain)
    {
        var failure = certificate is null
            ? "the server presented no certificate"
            : policy.CheckServer(
                certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()),
                chain?.ChainPolicy.ExtraStore,
                identity.TrustBundle,
                time.GetUtcNow());
        Volatile.Write(ref _failure, failure);
        return failure is null;
    }

    public string Describe(string? fallback) =>
        $"TLS to endpoint {Endpoint} of cluster '{Tls.Cluster}' ({policy}) failed: {Failure ?? fallback ?? "the handshake failed"}";
}
