using System.Formats.Asn1;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Mesh.Identity;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The control plane's certificate authority: the signing key and certificate, the chain up to the root, and the
/// roots workloads trust. It issues X509-SVIDs whose only identity is the one the caller was authenticated as: every
/// name and extension a CSR asks for is ignored, only its public key is used.
/// </summary>
/// <remarks>
/// Sources: a root generated in memory (development; not persisted, so each start has a new root), a directory or a
/// Kubernetes Secret in Istio's plug-in CA layout (<see cref="CaFiles"/>).
/// </remarks>
internal sealed class CertificateAuthority : IDisposable
{
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private const string RsaPublicKeyOid = "1.2.840.113549.1.1.1";
    private const string P256Oid = "1.2.840.10045.3.1.7";
    private const string P384Oid = "1.3.132.0.34";
    private const int MinimumRsaBits = 2048;

    /// <summary>Leaves start this far in the past, so a peer whose clock is a little behind accepts them.</summary>
    internal static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    /// <summary>How long a generated root lasts.</summary>
    internal static readonly TimeSpan GeneratedRootLifetime = TimeSpan.FromDays(3650);

    private readonly X509Certificate2 _signingCertificate;
    private readonly AsymmetricAlgorithm _key;
    private readonly X509SignatureGenerator _generator;
    private readonly HashAlgorithmName _hash;
    private readonly X509AuthorityKeyIdentifierExtension _authorityKeyIdentifier;
    private readonly List<string> _chainPem;
    private readonly DateTimeOffset _chainNotAfter;
    private readonly TimeProvider _time;

    private CertificateAuthority(
        string source,
        X509Certificate2 signingCertificate,
        AsymmetricAlgorithm key,
        X509Certificate2Collection intermediates,
        X509Certificate2 anchor,
        X509Certificate2Collection roots,
        CertificateAuthorityOptions options,
        TimeProvider time)
    {
        Source = source;
        Intermediates = intermediates;
        _signingCertificate = signingCertificate;
        _key = key;
        _time = time;
        TrustDomain = options.TrustDomain;
        DefaultTtl = options.DefaultTtl;
        MaxTtl = options.MaxTtl;
        Roots = roots;
        Root = anchor;
        (_generator, _hash) = key switch
        {
            ECDsa ec => (X509SignatureGenerator.CreateForECDsa(ec), ec.KeySize switch { 384 => HashAlgorithmName.SHA384, 521 => HashAlgorithmName.SHA512, _ => HashAlgorithmName.SHA256 }),
            RSA rsa => (X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1), HashAlgorithmName.SHA256),
            _ => throw new ArgumentException($"unsupported CA key {key.GetType().Name}", nameof(key)),
        };
        var ski = signingCertificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault()
                  ?? new X509SubjectKeyIdentifierExtension(signingCertificate.PublicKey, false);
        _authorityKeyIdentifier = X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ski);

        // The response carries the signing certificate and intermediates (not a root), then the root that anchors them.
        var chain = new List<string>();
        var notAfter = new DateTimeOffset(anchor.NotAfter.ToUniversalTime());
        foreach (var certificate in intermediates)
        {
            chain.Add(certificate.ExportCertificatePem());
            notAfter = Min(notAfter, certificate.NotAfter.ToUniversalTime());
        }

        chain.Add(anchor.ExportCertificatePem());
        _chainPem = chain;
        _chainNotAfter = Min(notAfter, signingCertificate.NotAfter.ToUniversalTime());
        var rootsPem = new StringBuilder();
        foreach (var root in Roots)
        {
            rootsPem.Append(root.ExportCertificatePem()).Append('\n');
        }

        RootsPem = rootsPem.ToString();
        TrustBundle = TrustBundle.FromPem(TrustDomain, RootsPem);
        static DateTimeOffset Min(DateTimeOffset a, DateTime b) => a < b ? a : new DateTimeOffset(b, TimeSpan.Zero);
    }

    /// <summary>Where the key came from, for logs and errors (e.g. <c>directory /etc/cacerts</c>, <c>Secret istio-system/cacerts</c>).</summary>
    public string Source { get; }

    /// <summary>Whether the key was generated at start-up (not persisted).</summary>
    public bool IsGenerated => Source == GeneratedSource;

    /// <summary>The trust domain of issued certificates.</summary>
    public string TrustDomain { get; }

    /// <summary>The lifetime of a certificate when the request asks for 0.</summary>
    public TimeSpan DefaultTtl { get; }

    /// <summary>The longest lifetime a request may ask for.</summary>
    public TimeSpan MaxTtl { get; }

    /// <summary>The certificate that signs leaves (the root itself for a generated CA).</summary>
    public X509Certificate2 SigningCertificate => _signingCertificate;

    /// <summary>The root the signing certificate chains to.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>Every root of <c>root-cert.pem</c> (more than one while a root is rotated).</summary>
    public X509Certificate2Collection Roots { get; }

    /// <summary>The roots as PEM, for <c>/ca/root-cert.pem</c> and trust bundles.</summary>
    public string RootsPem { get; }

    /// <summary>The roots as a trust bundle of <see cref="TrustDomain"/>.</summary>
    public TrustBundle TrustBundle { get; }

    private const string GeneratedSource = "generated, not persisted";

    /// <summary>
    /// A new self-signed root in memory: ECDSA P-256, 10 years, CA=true, keyCertSign|cRLSign, the trust domain's
    /// SPIFFE ID as its URI SAN. For local runs: a restart makes a new root, which workloads must fetch again.
    /// </summary>
    public static CertificateAuthority Generate(CertificateAuthorityOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        time ??= TimeProvider.System;
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Mesh development root CA, O={options.TrustDomain}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(UriSubjectAltName("spiffe://" + options.TrustDomain, critical: false));
        var now = time.GetUtcNow();
        var root = request.CreateSelfSigned(now - ClockSkew, now + GeneratedRootLifetime);
        var publicRoot = X509CertificateLoader.LoadCertificate(root.RawData);
        root.Dispose();
        return new CertificateAuthority(GeneratedSource, publicRoot, key, [], publicRoot, [publicRoot], options, time);
    }

    /// <summary>Loads Istio's plug-in CA layout from a directory (<see cref="CaFiles"/>).</summary>
    /// <exception cref="CertificateAuthorityException">A file is missing or wrong; the message names every one, the problem and the fix.</exception>
    public static CertificateAuthority LoadFromDirectory(string directory, CertificateAuthorityOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(options);
        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            throw new CertificateAuthorityException(
                $"The CA directory {full} (--ca-dir) does not exist: create it with {CaFiles.Layout}, or leave out --ca-dir to generate a development root.");
        }

        string? Read(string name)
        {
            var path = Path.Combine(full, name);
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }

        return FromPem(
            $"directory {full}",
            name => $"file {Path.Combine(full, name)}",
            $"put the file in {full}",
            new CaPem(Read(CaFiles.CaCert), Read(CaFiles.CaKey), Read(CaFiles.RootCert), Read(CaFiles.CertChain)),
            options,
            time ?? TimeProvider.System);
    }

    /// <summary>
    /// Builds the CA from PEM texts; <paramref name="originOf"/> names a key (<c>ca-cert.pem</c>) the way the operator
    /// finds it (a file path, a Secret key) and <paramref name="addMissing"/> says how to add a missing one.
    /// </summary>
    internal static CertificateAuthority FromPem(string source, Func<string, string> originOf, string addMissing, CaPem pem, CertificateAuthorityOptions options, TimeProvider time)
    {
        var errors = new List<string>();
        foreach (var (name, text) in (ReadOnlySpan<(string, string?)>)[(CaFiles.CaCert, pem.CaCert), (CaFiles.CaKey, pem.CaKey), (CaFiles.RootCert, pem.RootCert)])
        {
            if (text is null)
            {
                errors.Add($"{originOf(name)} is missing: {addMissing} ({CaFiles.Layout})");
            }
        }

        if (errors.Count > 0)
        {
            throw Failure(source, errors);
        }

        var now = time.GetUtcNow();
        var caCert = ReadCertificates(pem.CaCert!, originOf(CaFiles.CaCert), errors) is [var first, ..] ? first : null;
        var roots = ReadCertificates(pem.RootCert!, originOf(CaFiles.RootCert), errors);
        var chain = pem.CertChain is null ? [] : ReadCertificates(pem.CertChain, originOf(CaFiles.CertChain), errors);
        AsymmetricAlgorithm? key = null;
        if (caCert is not null)
        {
            CheckSigningCertificate(caCert, originOf(CaFiles.CaCert), now, errors);
            key = ReadKey(pem.CaKey!, caCert, originOf(CaFiles.CaKey), originOf(CaFiles.CaCert), errors);
        }

        for (var i = 0; i < roots.Count; i++)
        {
            if (roots[i].Extensions["2.5.29.19"] is not X509BasicConstraintsExtension { CertificateAuthority: true })
            {
                errors.Add($"{originOf(CaFiles.RootCert)}: certificate {i + 1} ('{roots[i].Subject}') is not a CA (basicConstraints CA=true is missing): put only root CA certificates in it");
            }
        }

        X509Certificate2Collection intermediates = [];
        X509Certificate2? anchor = null;
        if (errors.Count == 0)
        {
            (intermediates, anchor) = BuildChain(caCert!, chain, roots, now, originOf, errors);
        }

        if (errors.Count > 0)
        {
            key?.Dispose();
            throw Failure(source, errors);
        }

        return new CertificateAuthority(source, caCert!, key!, intermediates, anchor!, roots, options, time);
    }

    /// <summary>
    /// Signs a PEM CSR for <paramref name="identity"/>. The CSR's signature is verified and its key checked (ECDSA
    /// P-256/P-384 or RSA of at least 2048 bits); its subject and extensions are ignored.
    /// </summary>
    public CertificateSigningResult Sign(string csrPem, SpiffeId identity, TimeSpan requestedTtl)
    {
        ArgumentNullException.ThrowIfNull(identity);
        if (string.IsNullOrWhiteSpace(csrPem))
        {
            return CertificateSigningResult.Invalid("csr", "csr is empty: send a PEM PKCS#10 certificate signing request ('-----BEGIN CERTIFICATE REQUEST-----')");
        }

        CertificateRequest csr;
        try
        {
            // Default options verify the CSR's signature: the caller holds the private key of the key it asks to certify.
            csr = CertificateRequest.LoadSigningRequestPem(csrPem, _hash, CertificateRequestLoadOptions.Default, RSASignaturePadding.Pkcs1);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            return CertificateSigningResult.Invalid("csr", $"csr is not a valid PEM PKCS#10 certificate signing request with a verifiable signature ({ex.Message})");
        }

        return Sign(csr, identity, requestedTtl);
    }

    /// <summary>Signs a CSR already loaded (its signature was checked when it was loaded); only its public key is used.</summary>
    public CertificateSigningResult Sign(CertificateRequest csr, SpiffeId identity, TimeSpan requestedTtl)
    {
        ArgumentNullException.ThrowIfNull(csr);
        ArgumentNullException.ThrowIfNull(identity);
        if (!string.Equals(identity.TrustDomain, TrustDomain, StringComparison.Ordinal))
        {
            throw new ArgumentException($"{identity} is not in the CA's trust domain '{TrustDomain}'", nameof(identity));
        }

        if (CheckKey(csr.PublicKey) is { } keyError)
        {
            return CertificateSigningResult.Invalid("csr", keyError);
        }

        if (requestedTtl < TimeSpan.Zero)
        {
            return CertificateSigningResult.Invalid("validity_duration", string.Create(CultureInfo.InvariantCulture, $"validity_duration = {(long)requestedTtl.TotalSeconds} s: must not be negative (0 asks for the default, {Seconds(DefaultTtl)})"));
        }

        if (requestedTtl > MaxTtl)
        {
            return CertificateSigningResult.Invalid("validity_duration", string.Create(CultureInfo.InvariantCulture, $"validity_duration = {(long)requestedTtl.TotalSeconds} s is above the maximum of {Seconds(MaxTtl)}: ask for at most that, or 0 for the default ({Seconds(DefaultTtl)})"));
        }

        var ttl = requestedTtl == TimeSpan.Zero ? DefaultTtl : requestedTtl;
        if (IssueLeaf(csr.PublicKey, UriSubjectAltName(identity.Value, critical: true), ttl) is not { } issued)
        {
            return CertificateSigningResult.Unavailable($"the CA certificate ({Source}) expired at {_chainNotAfter:u}: the operator must install a new CA certificate");
        }

        using var leaf = issued.Leaf;
        var chain = new List<string>(_chainPem.Count + 1) { leaf.ExportCertificatePem() };
        chain.AddRange(_chainPem);
        return CertificateSigningResult.Issued(chain, issued.Serial, issued.NotAfter);
    }

    /// <summary>
    /// The control plane's own TLS certificate for its xDS and CA port (as istiod's 15012): the DNS names and
    /// addresses clients dial, a new ECDSA P-256 key, <paramref name="ttl"/> long (never beyond the CA). The
    /// intermediates to send with it are <see cref="Intermediates"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The CA certificate has expired.</exception>
    public X509Certificate2 IssueServingCertificate(IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeSpan ttl)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            names.AddDnsName(name);
        }

        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        var issued = IssueLeaf(new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256).PublicKey, names.Build(critical: true), ttl)
            ?? throw new InvalidOperationException($"the CA certificate ({Source}) expired at {_chainNotAfter:u}: the operator must install a new CA certificate");
        using var leaf = issued.Leaf;
        return leaf.CopyWithPrivateKey(key);
    }

    /// <summary>The certificates a leaf is sent with below the root: the signing certificate when it is an intermediate, and the intermediates above it.</summary>
    public X509Certificate2Collection Intermediates { get; }

    /// <summary>A leaf for <paramref name="key"/> with the given subject alternative name, or <see langword="null"/> once the CA has expired.</summary>
    private (X509Certificate2 Leaf, string Serial, DateTimeOffset NotAfter)? IssueLeaf(PublicKey key, X509Extension subjectAltName, TimeSpan ttl)
    {
        var now = _time.GetUtcNow();
        if (_chainNotAfter <= now)
        {
            return null;
        }

        // A leaf never outlives its CA: peers would reject it once the CA expires anyway.
        var notAfter = now + ttl < _chainNotAfter ? now + ttl : _chainNotAfter;
        var notBefore = now - ClockSkew;
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, _hash);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthOid), new Oid(ClientAuthOid)], false));

        // The subject is empty, so the SAN is critical (RFC 5280 4.2.1.6).
        request.CertificateExtensions.Add(subjectAltName);
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(key, false));
        request.CertificateExtensions.Add(_authorityKeyIdentifier);
        var serial = RandomNumberGenerator.GetBytes(16);

        // Positive (high bit clear) and a full 16 bytes (first byte non-zero), as DER wants a minimal INTEGER.
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return (request.Create(_signingCertificate.SubjectName, _generator, notBefore, notAfter, serial), Convert.ToHexString(serial), notAfter);
    }

    /// <inheritdoc/>
    public void Dispose() => _key.Dispose();

    private static string Seconds(TimeSpan value) =>
        string.Create(CultureInfo.InvariantCulture, $"{(long)value.TotalSeconds} s ({CertificateAuthorityOptions.FormatDuration(value)})");

    private static string? CheckKey(PublicKey key)
    {
        switch (key.Oid.Value)
        {
            case EcPublicKeyOid:
                string? curve = null;
                try
                {
                    curve = key.EncodedParameters?.RawData is { Length: > 0 } parameters ? new AsnReader(parameters, AsnEncodingRules.DER).ReadObjectIdentifier() : null;
                }
                catch (AsnContentException)
                {
                    // Explicit curve parameters: not a named curve, so not one of those accepted.
                }

                return curve is P256Oid or P384Oid ? null : $"csr has an ECDSA key on curve {curve ?? "(explicit parameters)"}: use P-256 or P-384";
            case RsaPublicKeyOid:
                using (var rsa = key.GetRSAPublicKey())
                {
                    return rsa is { KeySize: >= MinimumRsaBits }
                        ? null
                        : string.Create(CultureInfo.InvariantCulture, $"csr has an RSA key of {rsa?.KeySize} bits: use at least {MinimumRsaBits} bits, or ECDSA P-256");
                }

            default:
                return $"csr has a key of algorithm {key.Oid.FriendlyName ?? key.Oid.Value}: use ECDSA P-256/P-384 or RSA of at least {MinimumRsaBits} bits";
        }
    }

    private static X509Extension UriSubjectAltName(string uri, bool critical)
    {
        // Written directly so the URI is exactly the SPIFFE ID (System.Uri would normalise it).
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
        }

        return new X509Extension("2.5.29.17", writer.Encode(), critical);
    }

    private static X509Certificate2Collection ReadCertificates(string pem, string origin, List<string> errors)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            errors.Add($"{origin} is not valid PEM ({ex.Message}): it must hold '-----BEGIN CERTIFICATE-----' blocks");
            return [];
        }

        if (certificates.Count == 0)
        {
            errors.Add($"{origin} has no PEM certificate: it must hold '-----BEGIN CERTIFICATE-----' blocks");
        }

        return certificates;
    }

    private static void CheckSigningCertificate(X509Certificate2 certificate, string origin, DateTimeOffset now, List<string> errors)
    {
        if (certificate.Extensions["2.5.29.19"] is not X509BasicConstraintsExtension { CertificateAuthority: true })
        {
            errors.Add($"{origin} ('{certificate.Subject}') is not a CA certificate (basicConstraints CA=true is missing): a leaf cannot sign certificates; give a CA certificate issued for signing (keyCertSign)");
        }
        else if (certificate.Extensions["2.5.29.15"] is X509KeyUsageExtension usage && (usage.KeyUsages & X509KeyUsageFlags.KeyCertSign) == 0)
        {
            errors.Add($"{origin} ('{certificate.Subject}') does not allow keyCertSign: give a CA certificate whose key usage allows signing certificates");
        }

        if (certificate.NotAfter.ToUniversalTime() <= now.UtcDateTime)
        {
            errors.Add($"{origin} ('{certificate.Subject}') expired at {certificate.NotAfter.ToUniversalTime():u} (now {now.UtcDateTime:u}): issue a new CA certificate and replace it");
        }
        else if (certificate.NotBefore.ToUniversalTime() > now.UtcDateTime)
        {
            errors.Add($"{origin} ('{certificate.Subject}') is not valid before {certificate.NotBefore.ToUniversalTime():u} (now {now.UtcDateTime:u}): check the clock, or use a certificate valid now");
        }
    }

    private static AsymmetricAlgorithm? ReadKey(string pem, X509Certificate2 certificate, string keyOrigin, string certOrigin, List<string> errors)
    {
        AsymmetricAlgorithm key;
        string kind;
        switch (certificate.PublicKey.Oid.Value)
        {
            case EcPublicKeyOid: key = ECDsa.Create(); kind = "EC"; break;
            case RsaPublicKeyOid: key = RSA.Create(); kind = "RSA"; break;
            default:
                errors.Add($"{certOrigin} has a key of algorithm {certificate.PublicKey.Oid.FriendlyName ?? certificate.PublicKey.Oid.Value}: the CA signs with ECDSA or RSA keys only");
                return null;
        }

        try
        {
            key.ImportFromPem(pem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            errors.Add($"{keyOrigin} is not an unencrypted PEM {kind} private key ({ex.Message}): give the key of {certOrigin} as PKCS#8 ('BEGIN PRIVATE KEY') or {(kind == "EC" ? "SEC1 ('BEGIN EC PRIVATE KEY')" : "PKCS#1 ('BEGIN RSA PRIVATE KEY')")}, without a password (openssl pkey -in key.pem -out {CaFiles.CaKey})");
            return null;
        }

        if (!key.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(certificate.PublicKey.ExportSubjectPublicKeyInfo()))
        {
            key.Dispose();
            errors.Add($"{keyOrigin} does not match {certOrigin}: the private key is not the certificate's; give the key the certificate was issued for (openssl x509 -pubkey and openssl pkey -pubout print the same public key for a matching pair)");
            return null;
        }

        return key;
    }

    private static (X509Certificate2Collection Intermediates, X509Certificate2? Anchor) BuildChain(
        X509Certificate2 caCert, X509Certificate2Collection certChain, X509Certificate2Collection roots, DateTimeOffset now, Func<string, string> originOf, List<string> errors)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.ExtraStore.AddRange(certChain);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        if (!chain.Build(caCert))
        {
            var problems = string.Join("; ", chain.ChainStatus.Select(static s => s.StatusInformation.Trim()).Where(static s => s.Length > 0).Distinct(StringComparer.Ordinal));
            errors.Add($"{originOf(CaFiles.CaCert)} does not chain to a root of {originOf(CaFiles.RootCert)} ({problems}): "
                       + $"when it is an intermediate, put the certificates between it and the root in {originOf(CaFiles.CertChain)}, and its root in {CaFiles.RootCert}");
            return ([], null);
        }

        // The elements run from the signing certificate to the root; everything but the root goes in each response.
        var intermediates = new X509Certificate2Collection();
        var elements = chain.ChainElements;
        for (var i = 0; i < elements.Count - 1; i++)
        {
            intermediates.Add(X509CertificateLoader.LoadCertificate(elements[i].Certificate.RawData));
        }

        var anchor = X509CertificateLoader.LoadCertificate(elements[^1].Certificate.RawData);
        return (intermediates, anchor);
    }

    private static CertificateAuthorityException Failure(string source, List<string> errors) =>
        new($"The certificate authority cannot load its key and certificates from {source}:{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", errors)}");
}

/// <summary>Istio's plug-in CA layout (a directory, or the keys of the Secret <c>cacerts</c>).</summary>
internal static class CaFiles
{
    /// <summary>The CA certificate that signs workload certificates (a root, or an intermediate).</summary>
    public const string CaCert = "ca-cert.pem";

    /// <summary>The private key of <see cref="CaCert"/>.</summary>
    public const string CaKey = "ca-key.pem";

    /// <summary>The root(s) workloads trust.</summary>
    public const string RootCert = "root-cert.pem";

    /// <summary>The certificates from <see cref="CaCert"/> up to the root, when it is an intermediate.</summary>
    public const string CertChain = "cert-chain.pem";

    public const string Layout = "ca-cert.pem, ca-key.pem, root-cert.pem, and cert-chain.pem when ca-cert.pem is an intermediate";
}

/// <summary>The PEM texts of the plug-in CA layout; null where absent.</summary>
internal sealed record CaPem(string? CaCert, string? CaKey, string? RootCert, string? CertChain);
