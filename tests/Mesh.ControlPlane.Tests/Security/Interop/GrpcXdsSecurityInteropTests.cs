using System.Diagnostics.Metrics;
using Grpc.Core;
using Mesh.Authorization;
using Mesh.Configuration;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Model;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

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
        using var served = new MetricCollector<long>(backend.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");
        using var servedBytes = new MetricCollector<long>(backend.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_response_bytes");
        using var sent = new MetricCollector<long>(client.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");

        // Act
        var reply = await CallAsync(mesh, client);

        // Assert: the server saw the client's ID, and the client accepted the server only because its SAN is the one expected.
        await TestWait.UntilAsync(() => served.GetMeasurementSnapshot().Count == 1, "the server records the call");
        var server = served.GetMeasurementSnapshot().Single().Tags;
        var caller = sent.GetMeasurementSnapshot().Single().Tags;
        var tls = client.Cluster!.Tls!;
        await TestContext.Out.WriteLineAsync($"cluster tls: {tls}; server saw: {reply.Payload}");
        Assert.Multiple(() =>
        {
            Assert.That(reply.Payload, Is.EqualTo(SecureMesh.FrontendId + "|tls"));
            Assert.That(tls.Mode, Is.EqualTo(TlsMode.Mutual));
            Assert.That(tls.ToString(), Does.Contain(SecureMesh.BackendId));
            Assert.That(SpiffeCertificates.GetSubjectAltNames(backend.Identity.Current!.Certificate), Is.EqualTo(new[] { SecureMesh.BackendId }), "the CA issued the backend its own ID");
            Assert.That(backend.Calls, Is.EqualTo(1));

            // Istio's metrics of both sides, over Grpc.AspNetCore and the mesh's gRPC client: the same edge, each principal verified.
            Assert.That(server["reporter"], Is.EqualTo("destination"));
            Assert.That(server["request_protocol"], Is.EqualTo("grpc"));
            Assert.That(server["grpc_response_status"], Is.EqualTo("0"));
            Assert.That(server["connection_security_policy"], Is.EqualTo("mutual_tls"));
            Assert.That(server["source_principal"], Is.EqualTo(SecureMesh.FrontendId));
            Assert.That(server["source_workload"], Is.EqualTo("frontend"), "from the metadata exchange header");
            Assert.That(server["destination_principal"], Is.EqualTo(SecureMesh.BackendId));
            Assert.That(servedBytes.GetMeasurementSnapshot().Single().Value, Is.GreaterThan(5), "at least one framed message");
            Assert.That(caller["destination_workload"], Is.EqualTo("backend"), "from the server's answer");
            Assert.That(caller["destination_principal"], Is.EqualTo(SecureMesh.BackendId));
            Assert.That(caller["source_principal"], Is.EqualTo(SecureMesh.FrontendId));
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
