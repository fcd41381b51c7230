using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Configuration;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Grpc.Tests.Security;

/// <summary>
/// gRPC's xDS security interop cases (psm-interop: mtls, tls, plaintext, mtls_error, server_authz_error) for mesh channels
/// to <c>xds:///</c> targets, through the client factory and through <c>GrpcChannel.ForAddress</c>, against real Kestrel
/// TLS servers with in-memory SPIFFE certificates; plus certificate rotation and a missing identity.
/// </summary>
public sealed class GrpcClientTlsTests
{
    private const string ServerId = "spiffe://cluster.local/ns/shop/sa/greeter";
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
    [CancelAfter(30_000)]
    public async Task UnaryCall_MutualCluster_ServerSeesClientIdAndClientChecksServerId(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Mutual, ServerId), Identity(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));

        // Act
        var reply = await mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(reply.ServerId, Is.EqualTo("tls"));
            Assert.That(reply.Payload, Does.StartWith(ClientId + "|"));
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_SimpleCluster_ServerAuthenticatedClientPresentsNone(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.AllowCertificate);
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Simple, ServerId), Identity(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));

        // Act
        var reply = await mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);

        // Assert
        Assert.That(reply.Payload, Is.EqualTo("anonymous"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_ClusterWithoutTls_Plaintext(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("plain");
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Disable, null), Identity(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));

        // Act
        var reply = await mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);

        // Assert
        Assert.That(reply.ServerId, Is.EqualTo("plain"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_SimpleClusterToServerRequiringClientCertificate_Fails(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Simple, ServerId), Identity(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));

        // Act
        var failure = Assert.ThrowsAsync<RpcException>(() => mesh.Client.UnaryCallAsync(new SimpleRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken).ResponseAsync);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.AnyOf(StatusCode.Unavailable, StatusCode.Internal, StatusCode.Unknown));
            Assert.That(server.Calls, Is.Zero);
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_ServerSanNotExpected_FailsWithReasonAndServerSeesNoCall(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Mutual, "spiffe://cluster.local/ns/shop/sa/other"), Identity(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));

        // Act
        var failure = Assert.ThrowsAsync<RpcException>(() => mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken).ResponseAsync);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
            Assert.That(Describe(failure), Does.Contain($"server {ServerId} has no subject alternative name the cluster expects"));
            Assert.That(server.Calls, Is.Zero);
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task ForAddress_MutualCluster_ChannelWithServiceProviderSpeaksMutualTls(CancellationToken cancellationToken)
    {
        // Arrange: the channel is made by the application, with the mesh's services; no handler of its own.
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        var services = new ServiceCollection();
        var options = Options(server.Address, TlsMode.Mutual, ServerId);
        services.AddMesh(o => o.Services[MeshGrpcClient.Host] = options.Services[MeshGrpcClient.Host]).AddGrpc();
        services.AddSingleton<IWorkloadIdentityProvider>(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend")));
        await using var provider = services.BuildServiceProvider();
        using var channel = GrpcChannel.ForAddress(MeshGrpcClient.Address, new GrpcChannelOptions { ServiceProvider = provider, Credentials = ChannelCredentials.Insecure });
        var client = new TestService.TestServiceClient(channel.CreateMeshCallInvoker(provider, MeshGrpcClient.Address));

        // Act
        var reply = await client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);

        // Assert
        Assert.That(reply.Payload, Does.StartWith(ClientId + "|"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_ClientCertificateRotated_NewConnectionPresentsNewCertificate(CancellationToken cancellationToken)
    {
        // Arrange
        var first = _pki.IssueIdentity("shop", "frontend");
        var second = _pki.IssueIdentity("shop", "frontend");
        var identity = new TestIdentityProvider(first);
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Mutual, ServerId), Identity(identity));

        // Act: the server closes the connection after the first call; the client reconnects after the rotation.
        var before = await mesh.Client.UnaryCallAsync(new SimpleRequest(), new Metadata { { "rpc-behavior", "close" } }, cancellationToken: cancellationToken);
        identity.Set(second);
        SimpleResponse after;
        do
        {
            // Calls may still reach the closing connection until the client has seen it go; each is bounded by the test's timeout.
            after = await mesh.Client.UnaryCallAsync(new SimpleRequest(), new Metadata { { "rpc-behavior", "close" } }, cancellationToken: cancellationToken);
        }
        while (after.Payload.EndsWith(first.Certificate.SerialNumber, StringComparison.Ordinal));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(before.Payload, Is.EqualTo($"{ClientId}|{first.Certificate.SerialNumber}"));
            Assert.That(after.Payload, Is.EqualTo($"{ClientId}|{second.Certificate.SerialNumber}"));
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_MutualClusterWithoutIdentityYet_FailsWithoutPlaintext(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Mutual, ServerId), Identity(new TestIdentityProvider(lastError: "the CA at istiod:15012 refused the connection")));

        // Act
        var failure = Assert.ThrowsAsync<RpcException>(() => mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken).ResponseAsync);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
            Assert.That(Describe(failure), Does.Contain("Cluster 'greeter.test'").And.Contain("the CA at istiod:15012 refused the connection"));
            Assert.That(server.Calls, Is.Zero);
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_ClusterTlsChanged_ConnectionCheckedForOldSettingsIsNotReused(CancellationToken cancellationToken)
    {
        // Arrange: a working mutual TLS connection, then a snapshot whose cluster expects another server.
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        await using var mesh = MeshGrpcClient.Create(Options(server.Address, TlsMode.Mutual, ServerId), Identity(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));
        await mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);

        // Act
        mesh.Apply(Options(server.Address, TlsMode.Mutual, "spiffe://cluster.local/ns/shop/sa/other"));

        // A call that races the closing of the old connection fails on it (UNAVAILABLE, connection error); the next
        // ones open a new connection and fail its check. None may succeed.
        var failures = new List<string>();
        for (var i = 0; i < 5 && !failures.Any(f => f.Contains("has no subject alternative name the cluster expects", StringComparison.Ordinal)); i++)
        {
            var failure = Assert.ThrowsAsync<RpcException>(() => mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken).ResponseAsync);
            failures.Add(Describe(failure!));
        }

        // Assert: the new settings were checked on a new connection, and the server saw only the first call.
        Assert.Multiple(() =>
        {
            Assert.That(failures, Has.Some.Contains("has no subject alternative name the cluster expects"));
            Assert.That(failures, Has.Count.LessThanOrEqualTo(2), "at most one call races the closing connection");
            Assert.That(server.Calls, Is.EqualTo(1));
        });
    }

    [TestCase("Exact", ServerId, true)]
    [TestCase("Prefix", "spiffe://cluster.local/ns/shop/", true)]
    [TestCase("Regex", @"spiffe://cluster\.local/ns/[a-z]+/sa/greet.*", true)]
    [TestCase("Prefix", "spiffe://cluster.local/ns/payments/", false)]
    [TestCase("Regex", @"spiffe://cluster\.local/ns/shop/sa/front.*", false)]
    [CancelAfter(30_000)]
    public async Task UnaryCall_SanMatcher_AcceptsOnlyMatchingServer(string kind, string value, bool accepted, CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TlsTestServer.StartAsync("tls", _serverCertificate, ClientCertificateMode.RequireCertificate);
        var options = Options(server.Address, TlsMode.Mutual, null);
        options.Services[MeshGrpcClient.Host].Tls!.SubjectAltNames.Add(kind switch
        {
            "Exact" => new StringMatchOptions { Exact = value },
            "Prefix" => new StringMatchOptions { Prefix = value },
            _ => new StringMatchOptions { Regex = value },
        });
        await using var mesh = MeshGrpcClient.Create(options, Identity(new TestIdentityProvider(_pki.IssueIdentity("shop", "frontend"))));

        // Act
        RpcException? failure = null;
        try
        {
            await mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);
        }
        catch (RpcException ex)
        {
            failure = ex;
        }

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(failure, accepted ? Is.Null : Is.Not.Null);
            Assert.That(server.Calls, Is.EqualTo(accepted ? 1 : 0));
        });
    }

    private static string Describe(Exception exception)
    {
        var text = new System.Text.StringBuilder();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            text.Append(e.Message).Append(" | ");
            if (e is RpcException rpc && rpc.Status.DebugException is { } debug)
            {
                text.Append(Describe(debug));
            }
        }

        return text.ToString();
    }

    private static Action<IServiceCollection> Identity(TestIdentityProvider provider) => s => s.AddSingleton<IWorkloadIdentityProvider>(provider);

    private static MeshOptions Options(string address, TlsMode mode, string? serverId)
    {
        var tls = new TlsOptions { Mode = mode };
        if (serverId is not null)
        {
            tls.SubjectAltNames.Add(new StringMatchOptions { Exact = serverId });
        }

        var service = new ServiceOptions { Tls = mode == TlsMode.Disable ? null : tls };
        service.Endpoints.Add(new EndpointOptions { Address = address });
        var options = new MeshOptions();
        options.Services[MeshGrpcClient.Host] = service;
        return options;
    }
}
