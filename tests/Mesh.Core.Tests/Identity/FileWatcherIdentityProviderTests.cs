using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Identity;

[TestFixture]
public sealed class FileWatcherIdentityProviderTests
{
    private static readonly TestPki Pki = TestPki.Create("cluster.local");
    private static readonly TimeSpan Refresh = FileWatcherIdentityOptions.DefaultRefreshInterval;

    private string _directory = null!;
    private FakeTimeProvider _time = null!;
    private FakeLogger<FileWatcherIdentityProvider> _logger = null!;

    private string CertificateFile => Path.Combine(_directory, "cert-chain.pem");

    private string KeyFile => Path.Combine(_directory, "key.pem");

    private string CaFile => Path.Combine(_directory, "root-cert.pem");

    [SetUp]
    public void SetUp()
    {
        _directory = Directory.CreateTempSubdirectory("mesh-identity-files-").FullName;
        _time = IdentityTestClock.Create();
        _logger = new FakeLogger<FileWatcherIdentityProvider>();
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    private FileWatcherIdentityProvider CreateProvider(string? trustDomain = null) => new(
        new FileWatcherIdentityOptions { CertificateFile = CertificateFile, PrivateKeyFile = KeyFile, CaCertificateFile = CaFile, TrustDomain = trustDomain },
        _time,
        _logger);

    private WorkloadIdentity WriteIdentity(string serviceAccount = "frontend")
    {
        var identity = Pki.IssueIdentity("shop", serviceAccount);
        File.WriteAllText(CertificateFile, identity.Certificate.ExportCertificatePem());
        File.WriteAllText(KeyFile, KeyPem(identity));
        File.WriteAllText(CaFile, Pki.RootPem);
        return identity;
    }

    private static string KeyPem(WorkloadIdentity identity)
    {
        using var key = identity.Certificate.GetECDsaPrivateKey()!;
        return key.ExportPkcs8PrivateKeyPem();
    }

    [Test]
    public async Task Start_ValidFiles_PublishesTheIdentityWithTheCertificatesTrustDomain()
    {
        // Arrange
        var written = WriteIdentity();
        using var provider = CreateProvider();

        // Act
        var identity = await provider.WaitForIdentityAsync(CancellationToken.None).WaitAsync(IdentityBound.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(identity.Certificate.Thumbprint, Is.EqualTo(written.Certificate.Thumbprint));
            Assert.That(identity.Certificate.HasPrivateKey, Is.True);
            Assert.That(identity.SpiffeId?.Value, Is.EqualTo(Pki.IdOf("shop", "frontend")));
            Assert.That(identity.TrustBundle.TrustDomains, Is.EqualTo(new[] { "cluster.local" }));
            Assert.That(provider.LastError, Is.Null);
            Assert.That(SpiffeValidator.Validate(identity.Certificate, identity.Intermediates, identity.TrustBundle, _time.GetUtcNow()).IsValid, Is.True);
        });
    }

    [Test]
    public void Start_TrustDomainOption_NamesTheBundlesDomain()
    {
        // Arrange
        WriteIdentity();
        using var provider = CreateProvider(trustDomain: "mesh.example");

        // Act
        provider.Start();

        // Assert
        Assert.That(provider.Current?.TrustBundle.TrustDomains, Is.EqualTo(new[] { "mesh.example" }));
    }

    [Test]
    public void Refresh_ContentChanged_PublishesTheNewIdentityAtTheRefreshInterval()
    {
        // Arrange
        WriteIdentity();
        using var provider = CreateProvider();
        var changes = new List<WorkloadIdentity>();
        provider.Changed += changes.Add;
        provider.Start();
        var renewed = WriteIdentity("frontend-v2");

        // Act
        _time.Advance(Refresh - TimeSpan.FromSeconds(1));
        var beforeInterval = changes.Count;
        _time.Advance(TimeSpan.FromSeconds(1));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(beforeInterval, Is.EqualTo(1), "the files are read again only at the refresh interval");
            Assert.That(changes, Has.Count.EqualTo(2));
            Assert.That(provider.Current!.Certificate.Thumbprint, Is.EqualTo(renewed.Certificate.Thumbprint));
            Assert.That(provider.Current.SpiffeId?.Value, Is.EqualTo(Pki.IdOf("shop", "frontend-v2")));
        });
    }

    [Test]
    public void Refresh_ContentUnchanged_RaisesNothing()
    {
        // Arrange
        WriteIdentity();
        using var provider = CreateProvider();
        provider.Start();
        var first = provider.Current;
        var changes = 0;
        provider.Changed += _ => changes++;

        // Act: the same content, rewritten, over several intervals.
        File.WriteAllText(CertificateFile, File.ReadAllText(CertificateFile));
        _time.Advance(Refresh * 3);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(changes, Is.Zero);
            Assert.That(provider.Current, Is.SameAs(first));
            Assert.That(_logger.Collector.GetSnapshot().Count(r => r.Id.Id == 50), Is.EqualTo(1));
        });
    }

    [Test]
    public void Refresh_KeyDoesNotMatchTheCertificate_KeepsTheLastGoodIdentityAndNamesTheKeyFile()
    {
        // Arrange: the certificate replaced, the key not yet (a half-finished update).
        WriteIdentity();
        using var provider = CreateProvider();
        provider.Start();
        var good = provider.Current;
        var changes = 0;
        provider.Changed += _ => changes++;
        File.WriteAllText(CertificateFile, Pki.IssueIdentity("shop", "other").Certificate.ExportCertificatePem());

        // Act
        _time.Advance(Refresh);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(provider.Current, Is.SameAs(good));
            Assert.That(changes, Is.Zero);
            Assert.That(provider.LastError, Does.Contain($"private_key_file '{KeyFile}'").And.Contain("does not hold the key of the certificate").And.Contain(CertificateFile));
            Assert.That(_logger.Collector.GetSnapshot().Count(r => r.Id.Id == 51), Is.EqualTo(1));
        });
    }

    [Test]
    public void Refresh_FileMissing_KeepsTheLastGoodIdentityAndNamesTheFile()
    {
        // Arrange
        WriteIdentity();
        using var provider = CreateProvider();
        provider.Start();
        var good = provider.Current;
        File.Delete(CaFile);

        // Act: two intervals with the same problem log it once.
        _time.Advance(Refresh);
        _time.Advance(Refresh);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(provider.Current, Is.SameAs(good));
            Assert.That(provider.LastError, Does.StartWith($"ca_certificate_file '{CaFile}' cannot be read"));
            Assert.That(_logger.Collector.GetSnapshot().Count(r => r.Id.Id == 51), Is.EqualTo(1));
        });
    }

    [Test]
    public void Refresh_CertificateFileWithoutPem_NamesTheCertificateFile()
    {
        // Arrange: a file truncated while being written.
        WriteIdentity();
        using var provider = CreateProvider();
        provider.Start();
        File.WriteAllText(CertificateFile, "-----BEGIN CERT");

        // Act
        _time.Advance(Refresh);

        // Assert
        Assert.That(provider.LastError, Does.StartWith($"certificate_file '{CertificateFile}' has no PEM certificate"));
    }

    [Test]
    public void Refresh_FilesRepaired_PublishesTheNewIdentityAndClearsTheError()
    {
        // Arrange
        WriteIdentity();
        using var provider = CreateProvider();
        provider.Start();
        File.WriteAllText(KeyFile, "not a key");
        _time.Advance(Refresh);
        var error = provider.LastError;

        // Act
        var repaired = WriteIdentity("frontend-v2");
        _time.Advance(Refresh);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error, Does.StartWith($"private_key_file '{KeyFile}' has no PEM private key of the certificate's type"));
            Assert.That(provider.LastError, Is.Null);
            Assert.That(provider.Current!.Certificate.Thumbprint, Is.EqualTo(repaired.Certificate.Thumbprint));
        });
    }

    [Test]
    public void Refresh_FileBackAfterAFailedRead_ClearsTheErrorWithoutRaisingChanged()
    {
        // Arrange
        WriteIdentity();
        using var provider = CreateProvider();
        provider.Start();
        var good = provider.Current;
        var caPem = File.ReadAllText(CaFile);
        File.Delete(CaFile);
        _time.Advance(Refresh);
        var changes = 0;
        provider.Changed += _ => changes++;

        // Act
        File.WriteAllText(CaFile, caPem);
        _time.Advance(Refresh);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(provider.LastError, Is.Null);
            Assert.That(provider.Current, Is.SameAs(good));
            Assert.That(changes, Is.Zero);
        });
    }

    [Test]
    public void Start_FilesMissing_NoIdentityAndTheErrorNamesTheCertificateFile()
    {
        // Arrange
        using var provider = CreateProvider();

        // Act
        provider.Start();

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(provider.Current, Is.Null);
            Assert.That(provider.LastError, Does.StartWith($"certificate_file '{CertificateFile}' cannot be read"));
            Assert.That(_logger.Collector.GetSnapshot().Count(r => r.Id.Id == 52), Is.EqualTo(1));
        });
    }

    [Test]
    public void Dispose_AfterStart_StopsReading()
    {
        // Arrange
        WriteIdentity();
        var provider = CreateProvider();
        provider.Start();
        var first = provider.Current;

        // Act
        provider.Dispose();
        WriteIdentity("frontend-v2");
        _time.Advance(Refresh);

        // Assert
        Assert.That(provider.Current, Is.SameAs(first));
    }
}
