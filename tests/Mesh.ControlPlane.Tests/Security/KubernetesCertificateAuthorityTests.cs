using Grpc.Core;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Testing;

namespace Mesh.ControlPlane.Tests.Security;

/// <summary>
/// The CA with a cluster: callers authenticated by TokenReview and the CA key read from a Secret, through the real
/// KubernetesClient against the wire-level fake API server (reached through a kubeconfig file).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class KubernetesCertificateAuthorityTests
{
    private const string BackendToken = "eyJhbGciOiJSUzI1NiJ9.backend";

    [Test]
    public async Task CreateCertificate_ServiceAccountToken_IssuesItsIdentityAfterATokenReviewForIstioCa()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();
        cluster.Server.AddToken(BackendToken, "system:serviceaccount:demo:backend", ["istio-ca"]);
        await using var cp = await cluster.StartControlPlaneAsync();

        // Act
        var response = await cp.CreateAsync(CaTestSupport.Csr(["spiffe://cluster.local/ns/kube-system/sa/admin"]), BackendToken);

        // Assert
        var chain = CaTestSupport.Certificates(response.CertChain);
        var validation = SpiffeValidator.Validate(chain[0], [.. chain.Skip(1)], cp.App.CertificateAuthority!.TrustBundle, DateTimeOffset.UtcNow);
        Assert.Multiple(() =>
        {
            Assert.That(validation.IsValid, Is.True, validation.Error);
            Assert.That(SpiffeCertificates.GetSubjectAltNames(chain[0]), Is.EqualTo(new[] { "spiffe://cluster.local/ns/demo/sa/backend" }));
            Assert.That(cluster.Server.TokenReviews.Single().Audiences, Is.EqualTo(new[] { "istio-ca" }));
        });
    }

    [Test]
    public async Task CreateCertificate_TokenReviewNotAuthenticated_Unauthenticated()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();
        await using var cp = await cluster.StartControlPlaneAsync();

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr(), "expired-or-forged"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Does.StartWith("the bearer token is not valid: the Kubernetes API server did not authenticate it ([invalid bearer token"));
        });
    }

    [Test]
    public async Task CreateCertificate_TokenForAnotherAudience_UnauthenticatedNamingTheAudience()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();
        cluster.Server.AddToken(BackendToken, "system:serviceaccount:demo:backend", ["https://kubernetes.default.svc"]);
        await using var cp = await cluster.StartControlPlaneAsync();

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr(), BackendToken));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Does.Contain("is invalid for the target audiences").And.EndsWith("with audience istio-ca"));
        });
    }

    [Test]
    public async Task CreateCertificate_TokenOfAUser_UnauthenticatedNotAServiceAccount()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();
        cluster.Server.AddToken("alice-token", "alice");
        await using var cp = await cluster.StartControlPlaneAsync();

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr(), "alice-token"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Does.StartWith("the token belongs to 'alice', which is not a service account"));
        });
    }

    [Test]
    public async Task CreateCertificate_TokenReviewForbidden_UnauthenticatedNamingTheApiErrorAndTheFix()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();
        cluster.Server.AddToken(BackendToken, "system:serviceaccount:demo:backend");
        cluster.Server.ForbidTokenReviews = true;
        await using var cp = await cluster.StartControlPlaneAsync();

        // Act
        var error = Assert.ThrowsAsync<RpcException>(() => cp.CreateAsync(CaTestSupport.Csr(), BackendToken));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Does.Contain("TokenReview failed with 403 Forbidden").And.Contain("system:auth-delegator"));
        });
    }

    [Test]
    public async Task StartAsync_CaFromSecret_IssuesAChainToTheSecretsRoot()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();
        var pki = TestPki.Create();
        var intermediate = pki.IssueIntermediate();
        cluster.Server.SetSecret("istio-system", "cacerts", CaTestSupport.CaFilesOf(pki, intermediate));
        cluster.Server.AddToken(BackendToken, "system:serviceaccount:demo:backend");
        await using var cp = await cluster.StartControlPlaneAsync(o => o.Ca.KubernetesSecretName = "cacerts");

        // Act
        var response = await cp.CreateAsync(CaTestSupport.Csr(), BackendToken);

        // Assert
        var chain = CaTestSupport.Certificates(response.CertChain);
        Assert.Multiple(() =>
        {
            Assert.That(cp.App.CertificateAuthority!.Source, Is.EqualTo("Secret istio-system/cacerts"));
            Assert.That(chain.Select(c => c.Thumbprint), Is.EqualTo(new[] { chain[0].Thumbprint, intermediate.Thumbprint, pki.Root.Thumbprint }));
            Assert.That(SpiffeValidator.Validate(chain[0], [chain[1]], pki.Bundle, DateTimeOffset.UtcNow).IsValid, Is.True);
        });
    }

    [Test]
    public async Task StartAsync_SecretMissing_FailsNamingTheSecretAndTheFix()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();

        // Act
        var error = Assert.ThrowsAsync<CertificateAuthorityException>(() => cluster.StartControlPlaneAsync(o => o.Ca.KubernetesSecretName = "cacerts"));

        // Assert
        Assert.That(error!.Message, Does.StartWith("The Secret istio-system/cacerts (--ca-secret) does not exist: create it with 'kubectl create secret generic cacerts -n istio-system --from-file=ca-cert.pem"));
    }

    [Test]
    public async Task StartAsync_SecretWithoutTheKey_FailsNamingTheSecretKey()
    {
        // Arrange
        await using var cluster = await Cluster.StartAsync();
        var files = CaTestSupport.CaFilesOf(TestPki.Create());
        files.Remove("ca-key.pem");
        cluster.Server.SetSecret("istio-system", "cacerts", files);

        // Act
        var error = Assert.ThrowsAsync<CertificateAuthorityException>(() => cluster.StartControlPlaneAsync(o => o.Ca.KubernetesSecretName = "cacerts"));

        // Assert
        Assert.That(error!.Message, Does.Contain("Secret istio-system/cacerts key 'ca-key.pem' is missing: add the key to the Secret"));
    }

    /// <summary>A fake API server and a kubeconfig file pointing at it.</summary>
    private sealed class Cluster : IAsyncDisposable
    {
        private readonly string _kubeconfig;

        private Cluster(FakeKubeApiServer server, string kubeconfig)
        {
            Server = server;
            _kubeconfig = kubeconfig;
        }

        public FakeKubeApiServer Server { get; }

        public static async Task<Cluster> StartAsync()
        {
            var server = await FakeKubeApiServer.StartAsync().WaitAsync(TestWait.Timeout);
            var kubeconfig = Path.Combine(Path.GetTempPath(), $"mesh-kubeconfig-{Guid.NewGuid():N}.yaml");
            await File.WriteAllTextAsync(kubeconfig, $"""
                apiVersion: v1
                kind: Config
                clusters:
                  - name: fake
                    cluster:
                      server: {server.Address.ToString().TrimEnd('/')}
                users:
                  - name: fake
                    user:
                      token: control-plane-token
                contexts:
                  - name: fake
                    context:
                      cluster: fake
                      user: fake
                current-context: fake
                """).WaitAsync(TestWait.Timeout);
            return new Cluster(server, kubeconfig);
        }

        public Task<CaControlPlane> StartControlPlaneAsync(Action<Hosting.ControlPlaneOptions>? configure = null) =>
            CaControlPlane.StartAsync(o =>
            {
                o.KubeconfigPath = _kubeconfig;
                configure?.Invoke(o);
            });

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
            File.Delete(_kubeconfig);
        }
    }
}
