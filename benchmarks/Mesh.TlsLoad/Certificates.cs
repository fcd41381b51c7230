using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;

namespace Mesh.TlsLoad;

/// <summary>
/// The benchmark's PKI, made in memory: one root (ECDSA P-256), a server X509-SVID and a client X509-SVID. The server
/// process gets the root and the server's certificate and key as PEM; every listener serves that one certificate. A second
/// client certificate with the same SPIFFE ID stands for the client's next one after a rotation.
/// </summary>
internal sealed record Certificates(string RootPem, string ServerCertificatePem, string ServerKeyPem, string ClientCertificatePem, string ClientKeyPem, string RotatedClientCertificatePem, string RotatedClientKeyPem)
{
    public const string TrustDomain = "cluster.local";
    public const string ServerId = "spiffe://cluster.local/ns/bench/sa/server";
    public const string ClientId = "spiffe://cluster.local/ns/bench/sa/client";

    public static Certificates Create()
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Mesh.TlsLoad root, O=Mesh benchmarks", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var root = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        var (serverCert, serverKey) = IssueLeaf(root, ServerId, now);
        var (clientCert, clientKey) = IssueLeaf(root, ClientId, now);
        var (rotatedCert, rotatedKey) = IssueLeaf(root, ClientId, now);
        return new Certificates(root.ExportCertificatePem(), serverCert, serverKey, clientCert, clientKey, rotatedCert, rotatedKey);
    }

    /// <summary>The server's identity (certificate with key, root as trust bundle), as the mesh listener serves it.</summary>
    public WorkloadIdentity ServerIdentity() => WorkloadIdentity.FromPem(ServerCertificatePem, ServerKeyPem, RootPem, TrustDomain);

    /// <summary>The client's identity, as the mesh presents it and as the plain mTLS client presents its certificate.</summary>
    public WorkloadIdentity ClientIdentity() => WorkloadIdentity.FromPem(ClientCertificatePem, ClientKeyPem, RootPem, TrustDomain);

    /// <summary>The client's identity after a rotation: same SPIFFE ID, new key and serial number.</summary>
    public WorkloadIdentity RotatedClientIdentity() => WorkloadIdentity.FromPem(RotatedClientCertificatePem, RotatedClientKeyPem, RootPem, TrustDomain);

    private static (string Certificate, string Key) IssueLeaf(X509Certificate2 issuer, string spiffeId, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(string.Empty, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(san.Build(critical: true));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var certificate = request.Create(issuer, now.AddMinutes(-5), now.AddDays(1), serial);
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }
}
