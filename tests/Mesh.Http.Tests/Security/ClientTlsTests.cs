using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.Configuration;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Resilience;
using Mesh.Telemetry;
using Mesh.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Http.Tests.Security;

/// <summary>
/// The gRPC xDS security interop cases (psm-interop: mtls, tls, plaintext, mtls_error, server_authz_error) for
/// HttpClient, against real Kestrel TLS listeners with in-memory SPIFFE certificates, plus rotation and missing identities.
/// </summary>
[TestFixture]
public sealed class ClientTlsTests
{
    private const string ServerId = "spiffe://cluster.local/ns/shop/sa/backend";
    private const string ClientId = "spiffe://cluster.local/ns/shop/sa/frontend";

    private TestPki _pki = null!;
    private X509Certificate2 _serverCertificate = null!;

    [OneTimeSetUp]
    public void CreatePki()
    {
        _pki = TestPki.Create();
        _serverCertificate = _pki.IssueLeaf([ServerId]);
    }

    [OneTimeTearDown]
    public void DisposePki()
    {
        _serverCertificate.Dispose();
        _pki.Root.Dispose();
    }

    [Test]
    public async Task SendAsync_MutualCluster_ServerSeesClientIdAndClientChecksServerId()
    {
        // Arrange
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Mutual, new StringMatchOptions { Exact = ServerId }, new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")));
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/hello").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        var seen = backend.Requests.Single();
        Assert.Multiple(() =>
        {
            Assert.That(seen.ClientSpiffeId, Is.EqualTo(ClientId));
            Assert.That(seen.Path, Is.EqualTo("/hello"));
            Assert.That(response.RequestMessage!.RequestUri, Is.EqualTo(new Uri("http://backend/hello")), "the caller's message keeps its logical address");
        });
    }

    [Test]
    public async Task SendAsync_MutualClusterWithIstioMetrics_PrincipalsAreTheVerifiedIdentities()
    {
        // Arrange
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        var tls = new TlsOptions { Mode = TlsMode.Mutual };
        tls.SubjectAltNames.Add(new StringMatchOptions { Exact = ServerId });
        await using var mesh = MeshClient.Create(
            o => o.Services["backend"] = Service(backend.Address, tls),
            services: s => new MeshBuilder(s.AddSingleton<IWorkloadIdentityProvider>(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")))).AddIstioMetrics());
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/hello").WaitAsync(Timeouts.Default);

        // Assert: as Istio reports them, the server's SPIFFE ID from the handshake and the client's from its certificate.
        response.EnsureSuccessStatusCode();
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["destination_principal"], Is.EqualTo(ServerId));
            Assert.That(tags["source_principal"], Is.EqualTo(ClientId));
        });
    }

    [Test]
    public async Task SendAsync_SimpleCluster_ServerAuthenticatedClientPresentsNone()
    {
        // Arrange
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.AllowCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Simple, new StringMatchOptions { Exact = ServerId }, new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")));
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/hello").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.That(backend.Requests.Single().ClientSpiffeId, Is.Null);
    }

    [Test]
    public async Task SendAsync_ClusterWithoutTls_SendsPlaintext()
    {
        // Arrange
        await using var backend = await TestBackend.StartAsync("plain");
        await using var mesh = MeshClient.Create(
            o => o.Services["backend"] = Service(backend.Address, tls: null),
            services: s => s.AddSingleton<IWorkloadIdentityProvider>(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/hello").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.That(backend.RequestCount, Is.EqualTo(1));
    }

    [Test]
    public async Task SendAsync_SimpleClusterToServerRequiringClientCertificate_Fails()
    {
        // Arrange
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Simple, new StringMatchOptions { Exact = ServerId }, new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")));
        using var client = mesh.CreateClient();

        // Act
        var failure = Assert.CatchAsync<HttpRequestException>(() => client.GetAsync("/hello").WaitAsync(Timeouts.Default));

        // Assert: under TLS 1.3 the client learns of the refusal after its side of the handshake; either way nothing is served.
        Assert.Multiple(() =>
        {
            Assert.That(failure, Is.Not.Null);
            Assert.That(backend.Requests, Is.Empty);
        });
    }

    [Test]
    public async Task SendAsync_ServerSanNotExpected_FailsWithReasonBeforeTheServerSeesTheRequest()
    {
        // Arrange
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Mutual, new StringMatchOptions { Exact = "spiffe://cluster.local/ns/shop/sa/other" }, new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")));
        using var client = mesh.CreateClient();

        // Act
        var failure = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/hello").WaitAsync(Timeouts.Default));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure!.HttpRequestError, Is.EqualTo(HttpRequestError.SecureConnectionError));
            Assert.That(failure.Message, Does.Contain($"server {ServerId} has no subject alternative name the cluster expects"));
            Assert.That(failure.Message, Does.Contain("cluster 'backend'"));
            Assert.That(MeshHttpHandler.ClassifyException(failure), Is.EqualTo(AttemptFailure.ConnectFailure), "a rejected server is a connect failure for retries and outlier detection");
            Assert.That(backend.Requests, Is.Empty);
        });
    }

    [TestCase("Exact", ServerId, true)]
    [TestCase("Prefix", "spiffe://cluster.local/ns/shop/", true)]
    [TestCase("Regex", @"spiffe://cluster\.local/ns/[a-z]+/sa/back.*", true)]
    [TestCase("Exact", "spiffe://cluster.local/ns/shop/sa/other", false)]
    [TestCase("Prefix", "spiffe://cluster.local/ns/payments/", false)]
    [TestCase("Regex", @"spiffe://cluster\.local/ns/shop/sa/front.*", false)]
    public async Task SendAsync_SanMatcher_AcceptsOnlyMatchingServer(string kind, string value, bool accepted)
    {
        // Arrange
        var matcher = kind switch
        {
            "Exact" => new StringMatchOptions { Exact = value },
            "Prefix" => new StringMatchOptions { Prefix = value },
            _ => new StringMatchOptions { Regex = value },
        };
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Mutual, matcher, new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")));
        using var client = mesh.CreateClient();

        // Act
        Exception? failure = null;
        try
        {
            using var response = await client.GetAsync("/hello").WaitAsync(Timeouts.Default);
            response.EnsureSuccessStatusCode();
        }
        catch (HttpRequestException ex)
        {
            failure = ex;
        }

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure, accepted ? Is.Null : Is.Not.Null);
            Assert.That(backend.Requests, Has.Count.EqualTo(accepted ? 1 : 0));
        });
    }

    [Test]
    public async Task SendAsync_ClientCertificateRotated_NewConnectionPresentsNewCertificate()
    {
        // Arrange
        var first = _pki.IssueIdentity("shop", "frontend");
        var second = _pki.IssueIdentity("shop", "frontend");
        var provider = new TestIdentityProvider(first);
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Mutual, new StringMatchOptions { Exact = ServerId }, provider);
        using var client = mesh.CreateClient();

        // Act: each request closes its connection, so the second one opens a new connection after the rotation.
        await SendClosingAsync(client);
        provider.Set(second);
        await SendClosingAsync(client);

        // Assert
        Assert.That(backend.Requests.Select(r => r.ClientSerial), Is.EqualTo(new[] { first.Certificate.SerialNumber, second.Certificate.SerialNumber }));
    }

    [Test]
    public async Task SendAsync_MutualClusterWithoutIdentityYet_FailsWithoutConnecting()
    {
        // Arrange
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Mutual, new StringMatchOptions { Exact = ServerId }, new TestIdentityProvider(lastError: "the CA at istiod:15012 refused the connection"));
        using var client = mesh.CreateClient();

        // Act
        var failure = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/hello").WaitAsync(Timeouts.Default));

        // Assert: no plaintext attempt, and no attempt at all.
        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.Contain("Cluster 'backend'"));
            Assert.That(failure.Message, Does.Contain("the CA at istiod:15012 refused the connection"));
            Assert.That(failure.InnerException, Is.InstanceOf<MeshException>());
            Assert.That(backend.ConnectionCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_TlsClusterWithoutIdentityProvider_FailsNamingTheRegistration()
    {
        // Arrange
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.AllowCertificate);
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = Service(backend.Address, new TlsOptions { Mode = TlsMode.Simple }));
        using var client = mesh.CreateClient();

        // Act
        var failure = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/hello").WaitAsync(Timeouts.Default));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.Contain("AddWorkloadIdentity"));
            Assert.That(failure.Message, Does.Contain("AddFileWatcherIdentity"));
            Assert.That(backend.ConnectionCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_TwoClustersExpectDifferentServersAtOneEndpoint_ConnectionsAreNotShared()
    {
        // Arrange: "trusting" accepts the server, "strict" expects another; both reach the same endpoint.
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        var trusting = new TlsOptions { Mode = TlsMode.Mutual };
        trusting.SubjectAltNames.Add(new StringMatchOptions { Exact = ServerId });
        var strict = new TlsOptions { Mode = TlsMode.Mutual };
        strict.SubjectAltNames.Add(new StringMatchOptions { Exact = "spiffe://cluster.local/ns/shop/sa/other" });
        await using var mesh = MeshClient.Create(
            o =>
            {
                o.Services["backend"] = Service(backend.Address, trusting);
                o.Services["strict"] = Service(backend.Address, strict);
            },
            services: s => s.AddSingleton<IWorkloadIdentityProvider>(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));
        using var client = mesh.CreateClient();

        // Act: the first request leaves a checked connection in the pool; the second must not ride on it.
        using (var response = await client.GetAsync("/first").WaitAsync(Timeouts.Default))
        {
            response.EnsureSuccessStatusCode();
        }

        var failure = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("http://strict/second").WaitAsync(Timeouts.Default));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.Contain("has no subject alternative name the cluster expects"));
            Assert.That(backend.Requests.Select(r => r.Path), Is.EqualTo(new[] { "/first" }));
            Assert.That(backend.Requests[0].Host, Does.StartWith("outbound-"), "the clusters' own SNI, which SocketsHttpHandler sends as Host as well");
        });
    }

    [Test]
    public async Task SendAsync_ClusterTlsChanged_ConnectionCheckedForOldSettingsIsNotReused()
    {
        // Arrange: a pooled connection checked for the first settings.
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = CreateMesh(backend, TlsMode.Mutual, new StringMatchOptions { Exact = ServerId }, new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")));
        using var client = mesh.CreateClient();
        using (var response = await client.GetAsync("/first").WaitAsync(Timeouts.Default))
        {
            response.EnsureSuccessStatusCode();
        }

        // Act: the cluster now expects another server.
        var strict = new TlsOptions { Mode = TlsMode.Mutual };
        strict.SubjectAltNames.Add(new StringMatchOptions { Exact = "spiffe://cluster.local/ns/shop/sa/other" });
        var options = new MeshOptions();
        options.Services["backend"] = Service(backend.Address, strict);
        Assert.That(mesh.State.Apply(options, "test").Errors, Is.Empty);

        // A request that races the closing of the old connection fails on it; the next ones open a new connection and
        // fail its check. None may reach the backend.
        var failures = new List<string>();
        for (var i = 0; i < 5 && !failures.Any(f => f.Contains("has no subject alternative name the cluster expects", StringComparison.Ordinal)); i++)
        {
            var failure = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/second").WaitAsync(Timeouts.Default));
            failures.Add(failure!.Message);
        }

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failures, Has.Some.Contains("has no subject alternative name the cluster expects"));
            Assert.That(failures, Has.Count.LessThanOrEqualTo(2), "at most one request races the closing connection");
            Assert.That(backend.Requests.Select(r => r.Path), Is.EqualTo(new[] { "/first" }));
        });
    }

    [Test]
    public async Task SslOptionsValidationCallback_SocketsHttpHandler_SenderIsTheSslStreamNotTheRequest()
    {
        // Arrange: why the mesh finds a connection's cluster through its stream rather than through the callback's sender.
        await using var backend = await TlsBackend.StartAsync(_serverCertificate, ClientCertificateMode.NoCertificate);
        object? sender = null;
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (s, certificate, _, _) =>
        {
            sender = s;
            return certificate is not null && certificate.GetRawCertData().AsSpan().SequenceEqual(_serverCertificate.RawData);
        };
        using var client = new HttpClient(handler) { Timeout = Timeouts.Default };

        // Act
        using var response = await client.GetAsync($"https://127.0.0.1:{backend.Port}/").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.That(sender, Is.InstanceOf<SslStream>().And.Not.InstanceOf<HttpRequestMessage>());
    }

    private static async Task SendClosingAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/rotate");
        request.Headers.ConnectionClose = true;
        using var response = await client.SendAsync(request).WaitAsync(Timeouts.Default);
        response.EnsureSuccessStatusCode();
    }

    private static MeshClient CreateMesh(TlsBackend backend, TlsMode mode, StringMatchOptions san, TestIdentityProvider provider)
    {
        var tls = new TlsOptions { Mode = mode };
        tls.SubjectAltNames.Add(san);
        return MeshClient.Create(
            o => o.Services["backend"] = Service(backend.Address, tls),
            services: s => s.AddSingleton<IWorkloadIdentityProvider>(provider));
    }

    private static ServiceOptions Service(string address, TlsOptions? tls)
    {
        var service = new ServiceOptions { Tls = tls };
        service.Endpoints.Add(new EndpointOptions { Address = address });
        return service;
    }
}
