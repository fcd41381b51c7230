using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Identity;

/// <summary>
/// What a workload proves itself with at one moment: its X.509-SVID (the leaf with its private key and the
/// intermediates up to the root), and the trust bundle it checks peers against. Immutable; a rotation makes a
/// new one. The TLS certificate context is built once per identity, so handshakes do not rebuild the chain.
/// </summary>
public sealed class WorkloadIdentity
{
    private SslStreamCertificateContext? _context;

    /// <summary>Creates an identity; the certificate must carry its private key.</summary>
    public WorkloadIdentity(X509Certificate2 certificate, X509Certificate2Collection intermediates, TrustBundle trustBundle)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(intermediates);
        ArgumentNullException.ThrowIfNull(trustBundle);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException($"The workload certificate '{certificate.Subject}' has no private key.", nameof(certificate));
        }

        Certificate = certificate;
        Intermediates = intermediates;
        TrustBundle = trustBundle;
        SpiffeId = SpiffeCertificates.TryGetSpiffeId(certificate, out var id, out _) ? id : null;
    }

    /// <summary>The leaf certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The certificates between the leaf and the root (may be empty).</summary>
    public X509Certificate2Collection Intermediates { get; }

    /// <summary>The roots peers are checked against.</summary>
    public TrustBundle TrustBundle { get; }

    /// <summary>The leaf's SPIFFE ID, or <see langword="null"/> when it has none (a plain TLS certificate).</summary>
    public SpiffeId? SpiffeId { get; }

    /// <summary>When the leaf becomes valid.</summary>
    public DateTimeOffset NotBefore => Certificate.NotBefore.ToUniversalTime();

    /// <summary>When the leaf expires.</summary>
    public DateTimeOffset NotAfter => Certificate.NotAfter.ToUniversalTime();

    /// <summary>The leaf and intermediates ready for <see cref="SslStream"/>; built on first use.</summary>
    public SslStreamCertificateContext CertificateContext
        => _context ??= SslStreamCertificateContext.Create(Certificate, Intermediates, offline: true);

    /// <summary>
    /// Builds an identity from PEM text: the certificate chain (leaf first), the leaf's private key (PKCS#8,
    /// SEC1 or PKCS#1) and the trust bundle's roots for <paramref name="trustDomain"/> (when
    /// <see langword="null"/>, the leaf's own SPIFFE trust domain).
    /// </summary>
    public static WorkloadIdentity FromPem(string certificateChainPem, string privateKeyPem, string rootsPem, string? trustDomain = null)
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(certificateChainPem);
        if (chain.Count == 0)
        {
            throw new FormatException("The certificate chain has no PEM certificate (expected '-----BEGIN CERTIFICATE-----' blocks).");
        }

        var leaf = X509Certificate2.CreateFromPem(chain[0].ExportCertificatePem(), privateKeyPem);
        leaf = SpiffeCertificates.WithUsableKey(leaf);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        if (trustDomain is null)
        {
            if (!SpiffeCertificates.TryGetSpiffeId(leaf, out var id, out var error))
            {
                throw new FormatException($"The trust domain cannot be taken from the certificate: {error}. Give the trust domain explicitly.");
            }

            trustDomain = id.TrustDomain;
        }

        return new WorkloadIdentity(leaf, intermediates, TrustBundle.FromPem(trustDomain, rootsPem));
    }
}
