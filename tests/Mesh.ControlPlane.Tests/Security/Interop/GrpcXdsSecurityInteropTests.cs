using Grpc.Core;
using Mesh.Authorization;
using Mesh.Configuration;
using Mesh.Identity;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.Model;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.ControlPlane.Tests.Security.Interop;

/// <summary>
/// gRPC's xDS security interop cases (psm-interop: mtls, tls, plaintext, mtls_error, server_authz_error) through the
/// real control plane: DestinationRule / PeerAuthentication manifests → CDS UpstreamTlsContext → a .NET gRPC client
/// (<c>AddGrpcClient(...).AddMeshGrpc()</c>, identity <c>frontend</c> from the control plane's CA) → a .NET gRPC server
/// on Kestrel with <c>UseMeshTls()</c> (identity <c>backend</c> from the same CA).
/// </summary>
[NonParallelizable]
[CancelAfter(60_000)]
public sealed class GrpcXdsSecurityInteropTests
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    [Test]
    public async Task UnaryCall_IstioMutualAndServerStrict_BothSidesSeeEachOthersSpiffeId()
    {
        // Arrange: the client expects exactly the backend's SPIFFE ID; the server requires a client certificate.
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string>
        {
            ["rule.yaml"] = SecureMesh.DestinationRule("ISTIO_MUTUAL", SecureMesh.BackendId),
            ["peers.yaml"] = SecureMesh.PeerAuthentication("STRICT"),
        });
        await using var backend = await StartBackendAsync(mesh, PeerAuthenticationMode.Strict);
        await using var client = await StartClientAsync(mesh);

        // Act
        var reply = await CallAsync(mesh, client);

        // Assert: the server saw the client's ID, and the client accepted the server only because its SAN is the one expected.
        var tls = client.Cluster!.Tls!;
        await TestContext.Out.WriteLineAsync($"cluster tls: {tls}; server saw: {reply.Payload}");
        Assert.Multiple(() =>
        {
            Assert.That(reply.Payload, Is.EqualTo(SecureMesh.FrontendId + "|tls"));
            Assert.That(tls.Mode, Is.EqualTo(TlsMode.Mutual));
            Assert.That(tls.ToString(), Does.Contain(SecureMesh.BackendId));
            Assert.That(SpiffeCertificates.GetSubjectAltNames(backend.Identity.Current!.Certificate), Is.EqualTo(new[] { SecureMesh.BackendId }), "the CA issued the backend its own ID");
            Assert.That(backend.Calls, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task UnaryCall_SimpleAndServerPermissive_TlsWithoutClientIdentity()
    {
        // Arrange
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string> { ["rule.yaml"] = SecureMesh.DestinationRule("SIMPLE") });
        await using var backend = await StartBackendAsync(mesh, PeerAuthenticationMode.Permissive);
        await using var client = await StartClientAsync(mesh);

        // Act
        var reply = await CallAsync(mesh, client);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(client.Cluster!.Tls!.Mode, Is.EqualTo(TlsMode.Simple));
            Assert.That(reply.Payload, Is.EqualTo(MeshTlsBackend.Anonymous + "|tls"));
        });
    }

    [Test]
    public async Task UnaryCall_NoTlsPolicyAndServerPermissive_Plaintext()
    {
        // Arrange: no DestinationRule tls and no PeerAuthentication.
        await using var mesh = await SecureMesh.StartAsync();
        await using var backend = await StartBackendAsync(mesh, PeerAuthenticationMode.Permissive);
        await using var client = await StartClientAsync(mesh);

        // Act
        var reply = await CallAsync(mesh, client);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(client.Cluster!.Tls, Is.Null, "the cluster has no UpstreamTlsContext");
            Assert.That(reply.Payload, Is.EqualTo(MeshTlsBackend.Anonymous + "|plaintext"));
        });
    }

    [Test]
    public async Task UnaryCall_PeerAuthenticationStrictWithoutDestinationRule_AutoMutualTlsNotPlaintext()
    {
        // Arrange: no DestinationRule, but the namespace's workloads are STRICT: auto mTLS, as Istio does.
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string> { ["peers.yaml"] = SecureMesh.PeerAuthentication("STRICT") });
        await using var backend = await StartBackendAsync(mesh, PeerAuthenticationMode.Permissive);
        await using var client = await StartClientAsync(mesh);

        // Act
        var reply = await CallAsync(mesh, client);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(client.Cluster!.Tls!.Mode, Is.EqualTo(TlsMode.Mutual));
            Assert.That(client.Cluster!.Tls!.ToString(), Does.Contain(SecureMesh.BackendId), "auto mTLS expects the WorkloadEntry's service account");
            Assert.That(reply.Payload, Is.EqualTo(SecureMesh.FrontendId + "|tls"));
        });
    }

    [Test]
    public async Task UnaryCall_SimpleAndServerStrict_FailsAndHandlerNeverRuns()
    {
        // Arrange: SIMPLE presents no client certificate; the server requires one.
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string> { ["rule.yaml"] = SecureMesh.DestinationRule("SIMPLE") });
        await using var backend = await StartBackendAsync(mesh, PeerAuthenticationMode.Strict);
        await using var client = await StartClientAsync(mesh);
        var grpc = client.Services.GetRequiredService<TestService.TestServiceClient>();

        // Act
        var failure = Assert.ThrowsAsync<RpcException>(() => grpc.UnaryCallAsync(new SimpleRequest(), deadline: DateTime.UtcNow + CallTimeout).ResponseAsync.WaitAsync(TestWait.Timeout));

        // Assert
        await TestContext.Out.WriteLineAsync($"failure: {Describe(failure!)}");
        Assert.Multiple(() =>
        {
            Assert.That(client.Cluster!.Tls!.Mode, Is.EqualTo(TlsMode.Simple));
            Assert.That(failure!.StatusCode, Is.AnyOf(StatusCode.Unavailable, StatusCode.Internal, StatusCode.Unknown));
            Assert.That(backend.Calls, Is.Zero);
        });
    }

    [Test]
    public async Task UnaryCall_IstioMutualExpectingAnotherSan_FailsWithTheSanReasonAndHandlerNeverRuns()
    {
        // Arrange
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string> { ["rule.yaml"] = SecureMesh.DestinationRule("ISTIO_MUTUAL", SecureMesh.SomeoneElseId) });
        await using var backend = await StartBackendAsync(mesh, PeerAuthenticationMode.Strict);
        await using var client = await StartClientAsync(mesh);
        var grpc = client.Services.GetRequiredService<TestService.TestServiceClient>();

        // Act
        var failure = Assert.ThrowsAsync<RpcException>(() => grpc.UnaryCallAsync(new SimpleRequest(), deadline: DateTime.UtcNow + CallTimeout).ResponseAsync.WaitAsync(TestWait.Timeout));

        // Assert
        var description = Describe(failure!);
        await TestContext.Out.WriteLineAsync($"failure: {description}");
        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
            Assert.That(description, Does.Contain($"server {SecureMesh.BackendId} has no subject alternative name the cluster expects"));
            Assert.That(backend.Calls, Is.Zero);
        });
    }

    /// <summary>Starts the backend and publishes its WorkloadEntry.</summary>
    private static async Task<MeshTlsBackend> StartBackendAsync(SecureMesh mesh, PeerAuthenticationMode mode)
    {
        var backend = await MeshTlsBackend.StartAsync(mesh, mode);
        mesh.AddBackend(backend.Port);
        return backend;
    }

    private static Task<MeshXdsWorkload> StartClientAsync(SecureMesh mesh) =>
        MeshXdsWorkload.StartAsync(mesh, SecureMesh.FrontendToken, s => s.AddGrpcClient<TestService.TestServiceClient>(o => o.Address = new Uri("xds:///" + SecureMesh.Target)).AddMeshGrpc());

    private static async Task<SimpleResponse> CallAsync(SecureMesh mesh, MeshXdsWorkload client)
    {
        var grpc = client.Services.GetRequiredService<TestService.TestServiceClient>();
        try
        {
            return await grpc.UnaryCallAsync(new SimpleRequest(), deadline: DateTime.UtcNow + CallTimeout).ResponseAsync.WaitAsync(TestWait.Timeout);
        }
        catch
        {
            await mesh.WriteLogsAsync();
            throw;
        }
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
}
