using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Testing;

namespace Mesh.ControlPlane.Tests.Security;

/// <summary>IstioCertificateService over real gRPC on 127.0.0.1 against a running control plane (manifest mode authenticators).</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class CertificateServiceTests
{
    private const string BackendToken = "backend-bootstrap-token-3f9a1c";

    [Test]
    public async Task CreateCertificate_NoToken_Unauthenticated()
    {
        // Arrange
        using var tokens = Tokens();
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.BootstrapTokensFile = tokens.FullPath("tokens"));

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr()));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Does.StartWith("no bearer token: send 'authorization: Bearer <token>' metadata"));
        });
    }

    [Test]
    public async Task CreateCertificate_WrongBootstrapToken_Unauthenticated()
    {
        // Arrange
        using var tokens = Tokens();
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.BootstrapTokensFile = tokens.FullPath("tokens"));

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr(), token: "guessed-token"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Is.EqualTo("the bearer token is not valid: it is not in the control plane's bootstrap tokens file"));
            Assert.That(cp.Logs.GetSnapshot().Any(r => r.Message.Contains("rejected by bootstrap-token", StringComparison.Ordinal)), Is.True, "the rejection is logged");
            Assert.That(cp.Logs.GetSnapshot().Any(r => r.Message.Contains("guessed-token", StringComparison.Ordinal)), Is.False, "no token is logged");
        });
    }

    [Test]
    public async Task CreateCertificate_CsrAsksForAdmin_CertificateHasOnlyTheCallersIdAndChainsToTheServedRoot()
    {
        // Arrange
        using var tokens = Tokens();
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.BootstrapTokensFile = tokens.FullPath("tokens"));
        var csr = CaTestSupport.Csr(["spiffe://cluster.local/ns/kube-system/sa/admin"], ["kubernetes.default.svc", "admin.example"], "CN=admin");

        // Act
        var response = await cp.CreateAsync(csr, BackendToken);

        // Assert
        var chain = CaTestSupport.Certificates(response.CertChain);
        var bundle = TrustBundle.FromPem("cluster.local", await cp.RootPemAsync());
        var validation = SpiffeValidator.Validate(chain[0], [.. chain.Skip(1)], bundle, DateTimeOffset.UtcNow);
        var issued = cp.Logs.GetSnapshot().Where(r => r.Message.StartsWith("Issued certificate for ", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(SpiffeCertificates.GetSubjectAltNames(chain[0]), Is.EqualTo(new[] { "spiffe://cluster.local/ns/demo/sa/backend" }));
            Assert.That(validation.IsValid, Is.True, validation.Error);
            Assert.That(validation.SpiffeId?.Value, Is.EqualTo("spiffe://cluster.local/ns/demo/sa/backend"));
            Assert.That(chain[^1].RawData, Is.EqualTo(cp.App.CertificateAuthority!.Root.RawData), "the root is last");
            Assert.That(issued, Has.Count.EqualTo(1), "one log line per issuance");
            Assert.That(issued[0].Message, Does.Contain(chain[0].SerialNumber).And.Contain("spiffe://cluster.local/ns/demo/sa/backend"));
        });
    }

    [Test]
    public async Task CreateCertificate_TtlAboveMaximum_InvalidArgumentNamingValidityDurationAndTheMaximum()
    {
        // Arrange
        using var tokens = Tokens();
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.BootstrapTokensFile = tokens.FullPath("tokens"));

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr(), BackendToken, ttlSeconds: 91L * 24 * 3600));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(error.Status.Detail, Does.StartWith("validity_duration = 7862400 s is above the maximum of 7776000 s (90d)"));
        });
    }

    [Test]
    public async Task CreateCertificate_ZeroTtl_Certificate24Hours()
    {
        // Arrange
        using var tokens = Tokens();
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.BootstrapTokensFile = tokens.FullPath("tokens"));

        // Act
        var before = DateTime.UtcNow;
        var response = await cp.CreateAsync(CaTestSupport.Csr(), BackendToken, ttlSeconds: 0);
        var after = DateTime.UtcNow;

        // Assert
        var leaf = CaTestSupport.Certificates(response.CertChain)[0];
        Assert.Multiple(() =>
        {
            Assert.That(leaf.NotAfter - leaf.NotBefore, Is.EqualTo(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1)), "24 h, starting a minute early for clock skew");
            Assert.That(leaf.NotAfter.ToUniversalTime(), Is.InRange(before.AddHours(24).AddSeconds(-1), after.AddHours(24).AddSeconds(1)));
        });
    }

    [Test]
    public async Task CreateCertificate_GarbageCsr_InvalidArgumentNamingCsr()
    {
        // Arrange
        using var tokens = Tokens();
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.BootstrapTokensFile = tokens.FullPath("tokens"));

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync("-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n", BackendToken));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(error.Status.Detail, Does.StartWith("csr is not a valid PEM PKCS#10 certificate signing request"));
        });
    }

    [Test]
    public async Task CreateCertificate_InsecureDevelopmentIdentities_IssuesTheClaimedIdentityAndWarns()
    {
        // Arrange
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.InsecureDevelopmentIdentities = true);

        // Act
        var claimed = await cp.CreateAsync(CaTestSupport.Csr(), metadata: [("x-mesh-namespace", "shop"), ("x-mesh-service-account", "cart")]);
        var unclaimed = await cp.CreateAsync(CaTestSupport.Csr());

        // Assert
        var warnings = cp.Logs.GetSnapshot().Where(r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning && r.Message.StartsWith("INSECURE, development only", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(SpiffeCertificates.GetUriSubjectAltNames(CaTestSupport.Certificates(claimed.CertChain)[0]), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/cart" }));
            Assert.That(SpiffeCertificates.GetUriSubjectAltNames(CaTestSupport.Certificates(unclaimed.CertChain)[0]), Is.EqualTo(new[] { "spiffe://cluster.local/ns/default/sa/default" }));
            Assert.That(warnings, Has.Count.EqualTo(3), "one warning at start-up and one per issuance");
            Assert.That(cp.Logs.GetSnapshot().Any(r => r.Message.Contains("generated, not persisted", StringComparison.Ordinal)), Is.True, "the generated root is logged as such");
        });
    }

    [Test]
    public async Task CreateCertificate_ClaimedNamespaceWithASlash_Unauthenticated()
    {
        // Arrange
        await using var cp = await CaControlPlane.StartAsync(o => o.Ca.InsecureDevelopmentIdentities = true);

        // Act: "kube-system/sa/admin" would make the ID spiffe://cluster.local/ns/kube-system/sa/admin/sa/default.
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr(), metadata: [("x-mesh-namespace", "kube-system/sa/admin")]));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Does.Contain("cannot be a SPIFFE ID: each must be one path segment"));
        });
    }

    [Test]
    public async Task CreateCertificate_CaFromDirectoryWithIntermediate_ChainIsLeafIntermediateRoot()
    {
        // Arrange
        var pki = TestPki.Create();
        var intermediate = pki.IssueIntermediate();
        using var caFiles = CaTestSupport.WriteCaFiles(pki, intermediate);
        using var tokens = Tokens();
        await using var cp = await CaControlPlane.StartAsync(o =>
        {
            o.Ca.CertificatesDirectory = caFiles.Path;
            o.Ca.BootstrapTokensFile = tokens.FullPath("tokens");
        });

        // Act
        var response = await cp.CreateAsync(CaTestSupport.Csr(), BackendToken, ttlSeconds: 3600);

        // Assert
        var chain = CaTestSupport.Certificates(response.CertChain);
        var servedRoot = await cp.RootPemAsync();
        Assert.Multiple(() =>
        {
            Assert.That(chain, Has.Length.EqualTo(3));
            Assert.That(chain[1].RawData, Is.EqualTo(intermediate.RawData));
            Assert.That(chain[2].RawData, Is.EqualTo(pki.Root.RawData));
            Assert.That(chain[0].NotAfter - chain[0].NotBefore, Is.EqualTo(TimeSpan.FromMinutes(61)));
            Assert.That(SpiffeValidator.Validate(chain[0], [chain[1]], pki.Bundle, DateTimeOffset.UtcNow).IsValid, Is.True);
            Assert.That(servedRoot.Trim(), Is.EqualTo(pki.RootPem.Trim()), "/ca/root-cert.pem serves root-cert.pem");
        });
    }

    [Test]
    public void StartAsync_CaDirectoryWithAKeyOfAnotherCertificate_FailsNamingTheFileAndTheFix()
    {
        // Arrange
        var pki = TestPki.Create();
        using var caFiles = CaTestSupport.WriteCaFiles(pki);
        caFiles.Write("ca-key.pem", TestPki.Create().Root.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

        // Act
        var error = Assert.ThrowsAsync<CertificateAuthorityException>(() => CaControlPlane.StartAsync(o =>
        {
            o.Ca.CertificatesDirectory = caFiles.Path;
            o.Ca.InsecureDevelopmentIdentities = true;
        }));

        // Assert
        Assert.That(error!.Message, Does.Contain($"The certificate authority cannot load its key and certificates from directory {caFiles.Path}")
            .And.Contain($"file {caFiles.FullPath("ca-key.pem")} does not match"));
    }

    [Test]
    public void Validate_CaWithoutClusterOrTokens_ErrorNamesBothOptions()
    {
        // Arrange
        var options = new ControlPlaneOptions { ManifestsDirectory = "manifests" };
        options.Ca.Enabled = true;

        // Act
        var error = options.Validate();

        // Assert
        Assert.That(error, Does.Contain("--bootstrap-tokens FILE").And.Contain("--insecure-dev-identities"));
    }

    [Test]
    public void TryParse_CaFlags_SetTheCaOptions()
    {
        // Act
        var error = ControlPlaneOptions.TryParse(
            ["--kubeconfig", "k.yaml", "--ca-secret", "mesh-system/mesh-ca", "--trust-domain", "example.org", "--ca-default-ttl", "12h", "--ca-max-ttl", "7d", "--ca-token-audiences", "a,b"],
            out var options);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Null);
            Assert.That(options.Ca.IsEnabled, Is.True);
            Assert.That(options.Ca.KubernetesSecretNamespace, Is.EqualTo("mesh-system"));
            Assert.That(options.Ca.KubernetesSecretName, Is.EqualTo("mesh-ca"));
            Assert.That(options.Ca.TrustDomain, Is.EqualTo("example.org"));
            Assert.That(options.Ca.DefaultTtl, Is.EqualTo(TimeSpan.FromHours(12)));
            Assert.That(options.Ca.MaxTtl, Is.EqualTo(TimeSpan.FromDays(7)));
            Assert.That(options.Ca.TokenAudiences, Is.EqualTo(new[] { "a", "b" }));
            Assert.That(ControlPlaneOptions.TryParse(["--manifests", "m", "--ca", "--ca-max-ttl", "soon"], out _), Does.StartWith("--ca-max-ttl = soon: must be a duration such as 3600s, 30m, 24h or 90d"));
            Assert.That(ControlPlaneOptions.TryParse(["--manifests", "m", "--ca-secret", "cacerts", "--insecure-dev-identities"], out _), Does.Contain("--ca-secret istio-system/cacerts needs a cluster"));
        });
    }

    private static ManifestTestDirectory Tokens()
    {
        var directory = new ManifestTestDirectory();
        directory.Write("tokens", $"# token namespace serviceAccount\n{BackendToken} demo backend\n");
        return directory;
    }
}
