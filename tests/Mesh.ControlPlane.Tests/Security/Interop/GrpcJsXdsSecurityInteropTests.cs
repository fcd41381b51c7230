using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Authorization;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Xds.Server;
using IstioCa = Istio.V1.Auth;

namespace Mesh.ControlPlane.Tests.Security.Interop;

/// <summary>
/// gRPC's own xDS client for Node.js, <c>@grpc/grpc-js-xds</c>, with <c>XdsChannelCredentials</c> against our control
/// plane: its certificate (service account <c>node-client</c>) is issued by the control plane's CA, it gets CDS with an
/// UpstreamTlsContext from a DestinationRule ISTIO_MUTUAL, and calls a .NET server (Kestrel, <c>UseMeshTls()</c>, STRICT)
/// over mutual TLS; with a DestinationRule expecting another server identity, its calls fail.
/// </summary>
[NonParallelizable]
[CancelAfter(120_000)]
public sealed class GrpcJsXdsSecurityInteropTests
{
    private const int Calls = 50;

    [Test]
    public async Task SayHello_GrpcJsXdsWithXdsCredentialsAndIstioMutual_MutualTlsAndServerSeesNodeClientId()
    {
        // Arrange
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string> { ["rule.yaml"] = SecureMesh.DestinationRule("ISTIO_MUTUAL", SecureMesh.BackendId) });
        await using var backend = await MeshTlsBackend.StartAsync(mesh, PeerAuthenticationMode.Strict);
        mesh.AddBackend(backend.Port);
        var leaf = await IssueNodeCertificateAsync(mesh);
        var bootstrap = NodeXdsCredentialsClient.Bootstrap(mesh.ControlPlane.XdsPort, mesh.Files.FullPath("node/cert-chain.pem"), mesh.Files.FullPath("node/key.pem"), mesh.Files.FullPath("node/root-cert.pem"));
        await WaitForEndpointAsync(mesh, backend.Port);

        // Act
        var result = await NodeXdsCredentialsClient.CallAsync(bootstrap, SecureMesh.Target, Calls, concurrency: 5, rpcTimeout: TimeSpan.FromSeconds(10));

        // Assert
        await TestContext.Out.WriteLineAsync($"node client certificate {leaf.SerialNumber} ({string.Join(", ", SpiffeCertificates.GetSubjectAltNames(leaf))}); node client: {result}; server saw: {string.Join(", ", backend.Peers.Distinct())}");
        Assert.Multiple(() =>
        {
            Assert.That(result.Ok, Is.EqualTo(Calls), result.ToString());
            Assert.That(result.ByBackend, Is.EqualTo(new Dictionary<string, int> { [SecureMesh.NodeClientId + "|tls"] = Calls }), "the server's answers name the client it saw");
            Assert.That(backend.Peers, Has.Count.EqualTo(Calls).And.All.EqualTo(SecureMesh.NodeClientId + "|tls"));
            Assert.That(backend.ClientSerials.Keys, Is.EqualTo(new[] { leaf.SerialNumber }), "the client presented the certificate our CA issued");
        });
    }

    [Test]
    public async Task SayHello_GrpcJsXdsWithDestinationRuleExpectingAnotherSan_CallsFailAndServerSeesNone()
    {
        // Arrange: first a working configuration, then the DestinationRule expects another server identity.
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string> { ["rule.yaml"] = SecureMesh.DestinationRule("ISTIO_MUTUAL", SecureMesh.BackendId) });
        await using var backend = await MeshTlsBackend.StartAsync(mesh, PeerAuthenticationMode.Strict);
        mesh.AddBackend(backend.Port);
        await IssueNodeCertificateAsync(mesh);
        var bootstrap = NodeXdsCredentialsClient.Bootstrap(mesh.ControlPlane.XdsPort, mesh.Files.FullPath("node/cert-chain.pem"), mesh.Files.FullPath("node/key.pem"), mesh.Files.FullPath("node/root-cert.pem"));
        await WaitForEndpointAsync(mesh, backend.Port);
        var before = await NodeXdsCredentialsClient.CallAsync(bootstrap, SecureMesh.Target, 5, concurrency: 1, rpcTimeout: TimeSpan.FromSeconds(10));
        var callsBefore = backend.Calls;
        mesh.Manifests.Write("rule.yaml", SecureMesh.DestinationRule("ISTIO_MUTUAL", SecureMesh.SomeoneElseId));
        await WaitForExpectedSanAsync(mesh, SecureMesh.SomeoneElseId);

        // Act
        var after = await NodeXdsCredentialsClient.CallAsync(bootstrap, SecureMesh.Target, 20, concurrency: 2, rpcTimeout: TimeSpan.FromSeconds(3));

        // Assert
        await TestContext.Out.WriteLineAsync($"before: {before}; after: {after}");
        Assert.Multiple(() =>
        {
            Assert.That(before.Ok, Is.EqualTo(5), "the working configuration first: " + before);
            Assert.That(after.Ok, Is.Zero, after.ToString());
            Assert.That(after.Failed, Is.EqualTo(20), after.ToString());
            Assert.That(after.Errors.Keys, Has.All.Contain("No matching subject alternative name"), "grpc-js-xds rejects the server by its SAN");
            Assert.That(backend.Calls, Is.EqualTo(callsBefore), "no call reached the server's handler");
        });
    }

    /// <summary>
    /// Makes a key and a CSR, has the control plane's CA sign it for the bootstrap token of <c>node-client</c> (as an
    /// Istio agent would), and writes the Node client's files: the chain without the root, the key, and the root.
    /// </summary>
    private static async Task<X509Certificate2> IssueNodeCertificateAsync(SecureMesh mesh)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(SecureMesh.NodeClientId));
        request.CertificateExtensions.Add(names.Build(critical: true));
        using var channel = GrpcChannel.ForAddress(mesh.ControlPlane.XdsAddress);
        var ca = new IstioCa.IstioCertificateService.IstioCertificateServiceClient(channel);
        var response = await ca.CreateCertificateAsync(
            new IstioCa.IstioCertificateRequest { Csr = request.CreateSigningRequestPem(), ValidityDuration = 3600 },
            new Metadata { { "authorization", "Bearer " + SecureMesh.NodeClientToken } },
            deadline: DateTime.UtcNow + TestWait.Timeout).ResponseAsync.WaitAsync(TestWait.Timeout);
        var chain = response.CertChain.ToList();
        var leaf = X509Certificate2.CreateFromPem(chain[0]);
        Assert.That(SpiffeCertificates.GetSubjectAltNames(leaf), Is.EqualTo(new[] { SecureMesh.NodeClientId }), "the CA issues the token's identity");
        mesh.Files.Write("node/cert-chain.pem", string.Concat(chain.Take(Math.Max(1, chain.Count - 1)).Select(pem => pem.TrimEnd() + "\n")));
        mesh.Files.Write("node/key.pem", key.ExportPkcs8PrivateKeyPem() + "\n");
        mesh.Files.Write("node/root-cert.pem", mesh.RootPem);
        return leaf;
    }

    /// <summary>Waits until the control plane serves the backend's endpoint (the Node client reads it when it starts).</summary>
    private static Task WaitForEndpointAsync(SecureMesh mesh, int port) =>
        TestWait.UntilAsync(
            () => Served<ClusterLoadAssignment>(mesh, XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl)
                .Any(a => a.Endpoints.SelectMany(l => l.LbEndpoints).Any(e => e.Endpoint.Address.SocketAddress.PortValue == port)),
            $"the control plane serves the backend's endpoint 127.0.0.1:{port}");

    /// <summary>Waits until the control plane serves the backend's cluster expecting exactly <paramref name="san"/> of the server.</summary>
    private static Task WaitForExpectedSanAsync(SecureMesh mesh, string san) =>
        TestWait.UntilAsync(
            () => Served<Cluster>(mesh, XdsResourceSnapshot.ClusterTypeUrl)
                .Where(c => c.Name == SecureMesh.Cluster && c.TransportSocket is not null)
                .Select(c => c.TransportSocket.TypedConfig.Unpack<UpstreamTlsContext>())
                .Any(t => t.CommonTlsContext.ValidationContext.MatchSubjectAltNames.Select(m => m.Exact).SequenceEqual([san])),
            $"the control plane serves the cluster expecting {san}");

    /// <summary>The resources of one type in the snapshot the control plane serves.</summary>
    private static IEnumerable<T> Served<T>(SecureMesh mesh, string typeUrl)
        where T : IMessage, new()
    {
        var snapshot = mesh.ControlPlane.Host.Status.Snapshot;
        return snapshot is null ? [] : [.. snapshot.GetResources(typeUrl).Resources.Values.Select(r => r.Resource.Unpack<T>())];
    }
}
