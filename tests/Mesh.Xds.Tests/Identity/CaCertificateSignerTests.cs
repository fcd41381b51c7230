using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Mesh.Identity;
using Mesh.Testing;
using Mesh.Xds.Identity;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Xds.Tests.Identity;

[TestFixture]
public sealed class CaCertificateSignerTests
{
    private static readonly TestPki Pki = TestPki.Create("cluster.local");

    private TestCaServer _ca = null!;
    private string _directory = null!;

    [SetUp]
    public async Task SetUp()
    {
        _ca = await TestCaServer.StartAsync(Pki);
        _directory = Directory.CreateTempSubdirectory("mesh-ca-signer-").FullName;
    }

    [TearDown]
    public async Task TearDown()
    {
        await _ca.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static string NewCsr()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest(string.Empty, key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
    }

    private static CaCertificateSigner CreateSigner(string address, WorkloadIdentityOptions options)
        => CaCertificateSigner.Create(new Uri(address), options, rootsPem: null, NullLoggerFactory.Instance);

    [Test]
    public async Task SignAsync_AcceptedToken_ReturnsTheChainLeafFirstRootLast()
    {
        // Arrange
        using var signer = CreateSigner(_ca.Address, new WorkloadIdentityOptions { Token = "token-1" });
        var csr = NewCsr();

        // Act
        var chain = await signer.SignAsync(csr, TimeSpan.FromHours(2), CancellationToken.None).WaitAsync(TestCaServer.Timeout);

        // Assert
        using var leaf = X509Certificate2.CreateFromPem(chain[0]);
        var request = _ca.Requests.Single();
        Assert.Multiple(() =>
        {
            Assert.That(chain, Has.Count.EqualTo(2));
            Assert.That(SpiffeCertificates.GetUriSubjectAltNames(leaf), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/frontend" }));
            Assert.That(chain[^1], Is.EqualTo(Pki.RootPem));
            Assert.That(request.Authorization, Is.EqualTo("Bearer token-1"));
            Assert.That(request.ValidityDuration, Is.EqualTo(7200));
            Assert.That(request.Csr, Is.EqualTo(csr));
            Assert.That(request.Namespace, Is.Null);
            Assert.That(request.ServiceAccount, Is.Null);
            Assert.That(signer.Description, Is.EqualTo($"CA {_ca.Address}"));
        });
    }

    [Test]
    public async Task SignAsync_TokenFileRewritten_SendsTheTokenOfTheMomentEachTime()
    {
        // Arrange: a projected token, rotated by the kubelet between two requests.
        var tokenFile = Path.Combine(_directory, "istio-token");
        await File.WriteAllTextAsync(tokenFile, "token-1\n");
        using var signer = CreateSigner(_ca.Address, new WorkloadIdentityOptions { TokenFile = tokenFile });

        // Act
        await signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout);
        await File.WriteAllTextAsync(tokenFile, "token-2\n");
        _ca.AcceptedToken = "token-2";
        await signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout);

        // Assert
        Assert.That(_ca.Requests.Select(r => r.Authorization), Is.EqualTo(new[] { "Bearer token-1", "Bearer token-2" }));
    }

    [Test]
    public void SignAsync_TokenRefused_ThrowsNamingTheCaAndTheStatus()
    {
        // Arrange
        using var signer = CreateSigner(_ca.Address, new WorkloadIdentityOptions { Token = "stale" });

        // Act
        var e = Assert.ThrowsAsync<CertificateSigningException>(() => signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(e!.Message, Does.StartWith($"CA {_ca.Address}: CreateCertificate failed with status Unauthenticated: the token is not valid"));
            Assert.That(e.Message, Does.Contain("the token was read from the Token option"));
            Assert.That(e.InnerException, Is.InstanceOf<RpcException>());
        });
    }

    [Test]
    public void SignAsync_TokenFileMissing_ThrowsNamingTheFile()
    {
        // Arrange
        var tokenFile = Path.Combine(_directory, "missing-token");
        using var signer = CreateSigner(_ca.Address, new WorkloadIdentityOptions { TokenFile = tokenFile });

        // Act
        var e = Assert.ThrowsAsync<CertificateSigningException>(() => signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout));

        // Assert
        Assert.That(e!.Message, Does.StartWith($"CA {_ca.Address}: the token file '{tokenFile}' cannot be read"));
        Assert.That(_ca.Requests, Is.Empty);
    }

    [Test]
    public async Task SignAsync_NamespaceAndServiceAccountConfigured_SendsTheMeshMetadata()
    {
        // Arrange
        using var signer = CreateSigner(_ca.Address, new WorkloadIdentityOptions { Token = "token-1", Namespace = "payments", ServiceAccount = "ledger" });

        // Act
        var chain = await signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout);

        // Assert
        using var leaf = X509Certificate2.CreateFromPem(chain[0]);
        var request = _ca.Requests.Single();
        Assert.Multiple(() =>
        {
            Assert.That(request.Namespace, Is.EqualTo("payments"));
            Assert.That(request.ServiceAccount, Is.EqualTo("ledger"));
            Assert.That(SpiffeCertificates.GetUriSubjectAltNames(leaf), Is.EqualTo(new[] { "spiffe://cluster.local/ns/payments/sa/ledger" }));
        });
    }

    [Test]
    public void SignAsync_NothingListening_ThrowsUnavailableNamingTheAddress()
    {
        // Arrange: a port nothing listens on.
        int port;
        using (var closed = new TcpListener(IPAddress.Loopback, 0))
        {
            closed.Start();
            port = ((IPEndPoint)closed.LocalEndpoint).Port;
        }

        var address = $"http://127.0.0.1:{port}";
        using var signer = CreateSigner(address, new WorkloadIdentityOptions { Token = "token-1" });

        // Act
        var e = Assert.ThrowsAsync<CertificateSigningException>(() => signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout));

        // Assert
        Assert.That(e!.Message, Does.StartWith($"CA {address}: CreateCertificate failed with status Unavailable").And.Contain("reachable"));
    }

    [Test]
    public async Task SignAsync_HttpsCaWithACertificateOfTheMeshRoot_IsTrustedThroughTheRootsGiven()
    {
        // Arrange: a CA serving TLS with a certificate of the mesh's root, which the system does not trust.
        using var serving = Pki.IssueLeaf([], dnsNames: ["localhost"]);
        await using var tlsCa = await TestCaServer.StartAsync(Pki, serving);
        using var signer = CaCertificateSigner.Create(new Uri(tlsCa.Address), new WorkloadIdentityOptions { Token = "token-1" }, Pki.RootPem, NullLoggerFactory.Instance);

        // Act
        var chain = await signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout);

        // Assert
        Assert.That(chain, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task SignAsync_HttpsCaWithACertificateOfAnotherRoot_FailsWithoutSendingTheRequest()
    {
        // Arrange
        var other = TestPki.Create("cluster.local", "Other root");
        using var serving = other.IssueLeaf([], dnsNames: ["localhost"]);
        await using var tlsCa = await TestCaServer.StartAsync(Pki, serving);
        using var signer = CaCertificateSigner.Create(new Uri(tlsCa.Address), new WorkloadIdentityOptions { Token = "token-1" }, Pki.RootPem, NullLoggerFactory.Instance);

        // Act
        var e = Assert.ThrowsAsync<CertificateSigningException>(() => signer.SignAsync(NewCsr(), TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TestCaServer.Timeout));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(e!.Message, Does.StartWith($"CA {tlsCa.Address}: CreateCertificate failed with status"));
            Assert.That(e.Message, Does.Contain("the CA's TLS certificate is not trusted (it must chain to the roots of RootCertificateFile"));
            Assert.That(tlsCa.Requests, Is.Empty);
        });
    }
}
