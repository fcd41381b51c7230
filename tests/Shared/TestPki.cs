using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;

namespace Mesh.Testing;

/// <summary>
/// Certificates for tests, made in memory: a root per trust domain, optional intermediates, and leaf
/// X509-SVIDs (or deliberately broken ones). ECDSA P-256 throughout, as the mesh issues.
/// </summary>
internal sealed class TestPki
{
    private TestPki(string trustDomain, X509Certificate2 root)
    {
        TrustDomain = trustDomain;
        Root = root;
    }

    public string TrustDomain { get; }

    /// <summary>The self-signed root, with its private key.</summary>
    public X509Certificate2 Root { get; }

    public TrustBundle Bundle => TrustBundle.ForTrustDomain(TrustDomain, [X509CertificateLoader.LoadCertificate(Root.RawData)]);

    public string RootPem => Root.ExportCertificatePem();

    public static TestPki Create(string trustDomain = "cluster.local", string? commonName = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName ?? "Test root " + trustDomain}, O=Mesh tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return new TestPki(trustDomain, request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1)));
    }

    /// <summary>The SPIFFE ID of a service account in this trust domain.</summary>
    public string IdOf(string @namespace, string serviceAccount) => $"spiffe://{TrustDomain}/ns/{@namespace}/sa/{serviceAccount}";

    /// <summary>A workload identity (leaf SVID + bundle) for a service account.</summary>
    public WorkloadIdentity IssueIdentity(string @namespace = "default", string serviceAccount = "default", TimeSpan? lifetime = null, DateTimeOffset? notBefore = null)
    {
        var leaf = IssueLeaf([IdOf(@namespace, serviceAccount)], lifetime: lifetime, notBefore: notBefore);
        return new WorkloadIdentity(leaf, [], Bundle);
    }

    /// <summary>
    /// A leaf certificate with the given URI SANs (and DNS names), signed by the root or by <paramref name="issuer"/>.
    /// </summary>
    public X509Certificate2 IssueLeaf(
        IReadOnlyList<string> uris,
        IReadOnlyList<string>? dnsNames = null,
        TimeSpan? lifetime = null,
        DateTimeOffset? notBefore = null,
        bool isCa = false,
        X509KeyUsageFlags usage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
        X509Certificate2? issuer = null)
    {
        issuer ??= Root;
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(isCa ? $"CN=Test intermediate {TrustDomain}, O=Mesh tests" : string.Empty, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(SubjectAltNames(uris, dnsNames ?? []));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var start = notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-5);
        var end = start + (lifetime ?? TimeSpan.FromHours(24));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var signed = request.Create(issuer, start, end, serial);
        var withKey = signed.CopyWithPrivateKey(key);
        key.Dispose();
        return OperatingSystem.IsWindows() ? X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null) : withKey;
    }

    /// <summary>An intermediate CA under the root.</summary>
    public X509Certificate2 IssueIntermediate() => IssueLeaf([$"spiffe://{TrustDomain}"], isCa: true, usage: X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, lifetime: TimeSpan.FromDays(30));

    private static X509Extension SubjectAltNames(IReadOnlyList<string> uris, IReadOnlyList<string> dnsNames)
    {
        // SubjectAlternativeNameBuilder has no way to add several URIs in a given order with DNS names, so the extension is encoded here.
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var dns in dnsNames)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, dns, new Asn1Tag(TagClass.ContextSpecific, 2));
            }

            foreach (var uri in uris)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
            }
        }

        return new X509Extension("2.5.29.17", writer.Encode(), critical: false);
    }
}
