using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.ControlPlane.Security;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Security;

[TestFixture]
public sealed class CertificateAuthorityTests
{
    private static readonly SpiffeId Caller = SpiffeId.ForServiceAccount("cluster.local", "demo", "backend");

    [Test]
    public void Sign_CsrAsksForAdminAndDnsNames_LeafHasOnlyTheCallersId()
    {
        // Arrange
        using var ca = CertificateAuthority.Generate(new CertificateAuthorityOptions());
        var csr = CaTestSupport.Csr(["spiffe://cluster.local/ns/kube-system/sa/admin"], ["kubernetes.default", "evil.example"], "CN=admin, O=system:masters");

        // Act
        var result = ca.Sign(csr, Caller, TimeSpan.Zero);

        // Assert
        Assert.That(result.IsIssued, Is.True, result.Error);
        var chain = CaTestSupport.Certificates(result.CertificateChain);
        var leaf = chain[0];
        var validation = SpiffeValidator.Validate(leaf, [.. chain.Skip(1)], ca.TrustBundle, DateTimeOffset.UtcNow);
        Assert.Multiple(() =>
        {
            Assert.That(SpiffeCertificates.GetSubjectAltNames(leaf), Is.EqualTo(new[] { Caller.Value }), "exactly one SAN, the caller's ID; no DNS name");
            Assert.That(leaf.Subject, Is.Empty, "the CSR's subject is ignored");
            Assert.That(validation.IsValid, Is.True, validation.Error);
            Assert.That(validation.SpiffeId, Is.EqualTo(Caller));
            Assert.That(chain, Has.Length.EqualTo(2), "leaf, then the root");
            Assert.That(chain[^1].RawData, Is.EqualTo(ca.Root.RawData), "the root is last");
        });
    }

    [Test]
    public void Sign_Issued_LeafHasTheExtensionsOfAnX509Svid()
    {
        // Arrange
        using var ca = CertificateAuthority.Generate(new CertificateAuthorityOptions());

        // Act
        var leaf = CaTestSupport.Certificates(ca.Sign(CaTestSupport.Csr(), Caller, TimeSpan.Zero).CertificateChain)[0];

        // Assert
        var basic = leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        var usage = leaf.Extensions.OfType<X509KeyUsageExtension>().Single();
        var eku = leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();
        var aki = leaf.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().Single();
        var caSki = ca.Root.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single();
        var serial = leaf.SerialNumberBytes.ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(basic.CertificateAuthority, Is.False);
            Assert.That(basic.Critical, Is.True);
            Assert.That(usage.KeyUsages, Is.EqualTo(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment));
            Assert.That(usage.Critical, Is.True);
            Assert.That(eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value), Is.EquivalentTo(new[] { "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2" }));
            Assert.That(aki.KeyIdentifier?.ToArray(), Is.EqualTo(caSki.SubjectKeyIdentifierBytes.ToArray()), "AKI = the CA's SKI");
            Assert.That(serial, Has.Length.EqualTo(16));
            Assert.That(serial[0] & 0x80, Is.Zero, "the serial is positive (SerialNumberBytes is big-endian: the sign bit is in the first byte)");
            Assert.That(serial[0], Is.Not.Zero, "a minimal DER INTEGER of 16 bytes");
        });
    }

    [Test]
    public void Sign_ZeroTtl_DefaultOf24HoursFromOneMinuteAgo()
    {
        // Arrange
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));
        using var ca = CertificateAuthority.Generate(new CertificateAuthorityOptions(), time);

        // Act
        var result = ca.Sign(CaTestSupport.Csr(), Caller, TimeSpan.Zero);

        // Assert
        var leaf = CaTestSupport.Certificates(result.CertificateChain)[0];
        Assert.Multiple(() =>
        {
            Assert.That(leaf.NotBefore.ToUniversalTime(), Is.EqualTo(time.GetUtcNow().UtcDateTime.AddMinutes(-1)));
            Assert.That(leaf.NotAfter.ToUniversalTime(), Is.EqualTo(time.GetUtcNow().UtcDateTime.AddHours(24)));
            Assert.That(result.NotAfter, Is.EqualTo(time.GetUtcNow().AddHours(24)));
        });
    }

    [Test]
    public void Sign_TtlAboveMaximum_RejectedNamingValidityDurationRequestedAndMaximum()
    {
        // Arrange
        var options = new CertificateAuthorityOptions { MaxTtl = TimeSpan.FromHours(48) };
        using var ca = CertificateAuthority.Generate(options);

        // Act
        var result = ca.Sign(CaTestSupport.Csr(), Caller, TimeSpan.FromHours(49));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(CertificateSigningOutcome.InvalidRequest));
            Assert.That(result.Field, Is.EqualTo("validity_duration"));
            Assert.That(result.Error, Does.StartWith("validity_duration = 176400 s is above the maximum of 172800 s (2d)"));
        });
    }

    [Test]
    public void Sign_TtlBeyondTheCaCertificate_LeafEndsWhenTheCaEnds()
    {
        // Arrange: an intermediate of 30 days signs; 60 days are asked for (below the 90-day maximum).
        var pki = TestPki.Create();
        var intermediate = pki.IssueIntermediate();
        using var directory = CaTestSupport.WriteCaFiles(pki, intermediate);
        using var ca = CertificateAuthority.LoadFromDirectory(directory.Path, new CertificateAuthorityOptions());

        // Act
        var result = ca.Sign(CaTestSupport.Csr(), Caller, TimeSpan.FromDays(60));

        // Assert
        var chain = CaTestSupport.Certificates(result.CertificateChain);
        Assert.Multiple(() =>
        {
            Assert.That(result.IsIssued, Is.True, result.Error);
            Assert.That(chain[0].NotAfter, Is.EqualTo(intermediate.NotAfter), "the leaf never outlives its CA");
            Assert.That(chain, Has.Length.EqualTo(3), "leaf, intermediate, root");
            Assert.That(chain[1].RawData, Is.EqualTo(intermediate.RawData));
            Assert.That(chain[2].RawData, Is.EqualTo(pki.Root.RawData));
            Assert.That(SpiffeValidator.Validate(chain[0], [chain[1]], pki.Bundle, DateTimeOffset.UtcNow).IsValid, Is.True);
        });
    }

    [Test]
    public void Sign_Rsa1024Csr_RejectedNamingCsr()
    {
        // Arrange
        using var ca = CertificateAuthority.Generate(new CertificateAuthorityOptions());
        using var weak = RSA.Create(1024);
        var csr = new CertificateRequest("CN=weak", weak, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem();

        // Act
        var result = ca.Sign(csr, Caller, TimeSpan.Zero);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Field, Is.EqualTo("csr"));
            Assert.That(result.Error, Does.Contain("RSA key of 1024 bits").And.Contain("at least 2048"));
        });
    }

    [Test]
    public void Sign_CsrWithForeignSignature_RejectedNamingCsr()
    {
        // Arrange: the CSR's public key is replaced, so its signature no longer verifies (the caller lacks the key).
        using var ca = CertificateAuthority.Generate(new CertificateAuthorityOptions());
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var der = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var swapped = Replace(der, key.ExportSubjectPublicKeyInfo(), other.ExportSubjectPublicKeyInfo());
        Assert.That(swapped, Is.Not.Null, "the CSR holds the key's SubjectPublicKeyInfo");
        var forged = PemEncoding.WriteString("CERTIFICATE REQUEST", swapped);

        // Act
        var result = ca.Sign(forged, Caller, TimeSpan.Zero);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(CertificateSigningOutcome.InvalidRequest));
            Assert.That(result.Field, Is.EqualTo("csr"));
            Assert.That(result.Error, Does.StartWith("csr is not a valid PEM PKCS#10 certificate signing request"));
        });
    }

    [Test]
    public void Sign_RsaCaAndRsa2048Csr_IssuesAValidSvid()
    {
        // Arrange: an RSA root in the plug-in layout (ca-cert.pem = root-cert.pem).
        using var rootKey = RSA.Create(2048);
        var rootRequest = new CertificateRequest("CN=RSA test root", rootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        using var directory = new Infrastructure.ManifestTestDirectory();
        directory.Write("ca-cert.pem", root.ExportCertificatePem() + "\n");
        directory.Write("root-cert.pem", root.ExportCertificatePem() + "\n");
        directory.Write("ca-key.pem", rootKey.ExportPkcs8PrivateKeyPem());
        using var ca = CertificateAuthority.LoadFromDirectory(directory.Path, new CertificateAuthorityOptions());
        using var workloadKey = RSA.Create(2048);
        var csr = new CertificateRequest("CN=w", workloadKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem();

        // Act
        var result = ca.Sign(csr, Caller, TimeSpan.FromHours(1));

        // Assert
        Assert.That(result.IsIssued, Is.True, result.Error);
        var chain = CaTestSupport.Certificates(result.CertificateChain);
        var validation = SpiffeValidator.Validate(chain[0], [], TrustBundle.FromPem("cluster.local", root.ExportCertificatePem()), DateTimeOffset.UtcNow);
        Assert.Multiple(() =>
        {
            Assert.That(validation.IsValid, Is.True, validation.Error);
            Assert.That(chain, Has.Length.EqualTo(2), "leaf and root; the root is not repeated as an intermediate");
        });
    }

    [Test]
    public void LoadFromDirectory_MissingFiles_ErrorNamesEachFileAndTheFix()
    {
        // Arrange
        using var directory = new Infrastructure.ManifestTestDirectory();
        directory.Write("ca-cert.pem", TestPki.Create().RootPem);

        // Act
        var error = Assert.Throws<CertificateAuthorityException>(() => CertificateAuthority.LoadFromDirectory(directory.Path, new CertificateAuthorityOptions()));

        // Assert
        Assert.That(error!.Message, Does.Contain($"file {Path.Combine(directory.Path, "ca-key.pem")} is missing")
            .And.Contain($"file {Path.Combine(directory.Path, "root-cert.pem")} is missing")
            .And.Contain("put the file in"));
    }

    [Test]
    public void LoadFromDirectory_KeyOfAnotherCertificate_ErrorSaysTheKeyDoesNotMatch()
    {
        // Arrange
        var pki = TestPki.Create();
        using var directory = CaTestSupport.WriteCaFiles(pki);
        directory.Write("ca-key.pem", TestPki.Create().Root.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

        // Act
        var error = Assert.Throws<CertificateAuthorityException>(() => CertificateAuthority.LoadFromDirectory(directory.Path, new CertificateAuthorityOptions()));

        // Assert
        Assert.That(error!.Message, Does.Contain($"file {Path.Combine(directory.Path, "ca-key.pem")} does not match file {Path.Combine(directory.Path, "ca-cert.pem")}")
            .And.Contain("give the key the certificate was issued for"));
    }

    [Test]
    public void LoadFromDirectory_LeafAsCaCert_ErrorSaysItIsNotACa()
    {
        // Arrange
        var pki = TestPki.Create();
        using var directory = CaTestSupport.WriteCaFiles(pki, pki.IssueLeaf([pki.IdOf("demo", "backend")]));

        // Act
        var error = Assert.Throws<CertificateAuthorityException>(() => CertificateAuthority.LoadFromDirectory(directory.Path, new CertificateAuthorityOptions()));

        // Assert
        Assert.That(error!.Message, Does.Contain($"file {Path.Combine(directory.Path, "ca-cert.pem")}").And.Contain("is not a CA certificate (basicConstraints CA=true is missing)"));
    }

    [Test]
    public void LoadFromDirectory_ExpiredCaCertificate_ErrorSaysWhenAndTheFix()
    {
        // Arrange: the test root lasts a year; the clock is two years on.
        var pki = TestPki.Create();
        using var directory = CaTestSupport.WriteCaFiles(pki);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddYears(2));

        // Act
        var error = Assert.Throws<CertificateAuthorityException>(() => CertificateAuthority.LoadFromDirectory(directory.Path, new CertificateAuthorityOptions(), time));

        // Assert
        Assert.That(error!.Message, Does.Contain($"file {Path.Combine(directory.Path, "ca-cert.pem")}").And.Contain("expired at").And.Contain("issue a new CA certificate"));
    }

    [Test]
    public void LoadFromDirectory_IntermediateWithoutChain_ErrorNamesCertChainPem()
    {
        // Arrange: ca-cert.pem is an intermediate, and cert-chain.pem is absent; root-cert.pem holds another root.
        var pki = TestPki.Create();
        using var directory = CaTestSupport.WriteCaFiles(pki, pki.IssueIntermediate());
        directory.Delete("cert-chain.pem");
        directory.Write("root-cert.pem", TestPki.Create().RootPem);

        // Act
        var error = Assert.Throws<CertificateAuthorityException>(() => CertificateAuthority.LoadFromDirectory(directory.Path, new CertificateAuthorityOptions()));

        // Assert
        Assert.That(error!.Message, Does.Contain("does not chain to a root of").And.Contain("cert-chain.pem"));
    }

    [Test]
    public void Generate_Default_P256RootForTenYearsWithTheTrustDomainId()
    {
        // Act
        using var ca = CertificateAuthority.Generate(new CertificateAuthorityOptions { TrustDomain = "example.org" });

        // Assert
        using var key = ca.Root.GetECDsaPublicKey()!;
        Assert.Multiple(() =>
        {
            Assert.That(ca.IsGenerated, Is.True);
            Assert.That(ca.Source, Is.EqualTo("generated, not persisted"));
            Assert.That(key.KeySize, Is.EqualTo(256));
            Assert.That(ca.Root.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority, Is.True);
            Assert.That(ca.Root.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages, Is.EqualTo(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign));
            Assert.That(ca.Root.NotAfter - ca.Root.NotBefore, Is.EqualTo(TimeSpan.FromDays(3650) + TimeSpan.FromMinutes(1)));
            Assert.That(SpiffeCertificates.GetUriSubjectAltNames(ca.Root), Is.EqualTo(new[] { "spiffe://example.org" }));
        });
    }

    private static byte[]? Replace(byte[] data, byte[] find, byte[] with)
    {
        var at = data.AsSpan().IndexOf(find);
        return at < 0 || find.Length != with.Length ? null : [.. data[..at], .. with, .. data[(at + find.Length)..]];
    }
}
