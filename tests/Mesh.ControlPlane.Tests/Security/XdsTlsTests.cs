using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Tests.EndToEnd;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Security;

/// <summary>
/// The xDS and CA port over TLS (<c>--xds-tls</c>): a certificate the control plane's CA issues to itself, trusted by
/// clients through the mesh's root in the bootstrap's <c>tls</c> channel credentials (gRFC A65 <c>ca_certificate_file</c>).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class XdsTlsTests
{
    private const string BackendToken = "backend-bootstrap-token-7c21e0";

    [Test]
    public async Task XdsTls_ClientTrustingTheMeshRoot_GetsConfigurationAndItsIdentityOverTls()
    {
        // Arrange
        using var files = new ManifestTestDirectory();
        files.Write("tokens", $"{BackendToken} demo backend\n");
        await using var cp = await StartAsync(files);
        files.Write("root-cert.pem", cp.App.CertificateAuthority!.RootsPem);
        await using var provider = await ClientAsync(Bootstrap(cp.App.XdsPort, files.FullPath("root-cert.pem")));

        // Act: the xDS client and the workload identity (whose CA is the bootstrap's server) both dial the TLS port.
        var state = provider.GetRequiredService<MeshState>();
        var identity = provider.GetRequiredService<IWorkloadIdentityProvider>();
        await TestWait.UntilAsync(() => state.Current.TryGetService(MeshTestClient.Host, out _) && identity.Current is not null, "configuration and a certificate arrive over TLS");

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(cp.App.XdsAddress.Scheme, Is.EqualTo("https"));
            Assert.That(state.Current.Clusters.Keys, Has.Some.StartsWith("outbound|8080|v1|"));
            Assert.That(identity.Current!.SpiffeId!.Value, Is.EqualTo("spiffe://cluster.local/ns/demo/sa/backend"));
            Assert.That(identity.Current.TrustBundle.GetRoots("cluster.local")!.Single().Thumbprint, Is.EqualTo(cp.App.CertificateAuthority.Root.Thumbprint), "the bundle is the bootstrap's roots");
            Assert.That(identity.LastError, Is.Null);
        });
    }

    [Test]
    public async Task XdsTls_PlaintextClient_IsRefused()
    {
        // Arrange
        using var files = new ManifestTestDirectory();
        files.Write("tokens", $"{BackendToken} demo backend\n");
        await using var cp = await StartAsync(files);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{cp.App.XdsPort}");
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel);

        // Act: depending on when the failed HTTP/2 preface is noticed, the write or the read fails.
        var error = Assert.CatchAsync(async () =>
        {
            using var call = client.StreamAggregatedResources(deadline: DateTime.UtcNow.AddSeconds(10));
            await call.RequestStream.WriteAsync(new DiscoveryRequest { TypeUrl = "type.googleapis.com/envoy.config.listener.v3.Listener" });
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });

        // Assert: h2c to a TLS port never becomes an xDS stream.
        Assert.That(error, Is.InstanceOf<RpcException>().Or.InstanceOf<HttpIOException>());
        Assert.That(cp.App.Cache.Clients, Is.Empty, "no client was served");
    }

    [Test]
    public async Task XdsTls_ClientTrustingAnotherRoot_RejectsTheServer()
    {
        // Arrange
        using var files = new ManifestTestDirectory();
        files.Write("tokens", $"{BackendToken} demo backend\n");
        await using var cp = await StartAsync(files);
        var other = TestPki.Create();
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => CaTestSupport.ChainsTo(certificate, other.Root);
        using var channel = GrpcChannel.ForAddress($"https://127.0.0.1:{cp.App.XdsPort}", new GrpcChannelOptions { HttpHandler = handler });
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel);

        // Act
        var error = Assert.CatchAsync(async () =>
        {
            using var call = client.StreamAggregatedResources(deadline: DateTime.UtcNow.AddSeconds(10));
            await call.RequestStream.WriteAsync(new DiscoveryRequest { TypeUrl = "type.googleapis.com/envoy.config.listener.v3.Listener" });
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });

        // Assert: the handshake fails on the client's check of the server's chain.
        var cause = error is RpcException rpc ? rpc.Status.DebugException : error;
        Assert.That(cause, Is.InstanceOf<HttpRequestException>().With.Property(nameof(HttpRequestException.HttpRequestError)).EqualTo(HttpRequestError.SecureConnectionError), error?.ToString());
        Assert.That(cp.App.Cache.Clients, Is.Empty, "no client was served");
    }

    [Test]
    public void ServingCertificate_NamesAndRenewal_ForTheDialedNamesRenewedAfterHalfItsLife()
    {
        // Arrange
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var authority = CertificateAuthority.Generate(new CertificateAuthorityOptions { Enabled = true }, time);
        var serving = new ServingCertificate(authority, ["mesh-control-plane.mesh-system.svc"], [IPAddress.Loopback], time, NullLogger.Instance);

        // Act
        var first = serving.Current.TargetCertificate;
        time.Advance(ServingCertificate.Lifetime / 2 - TimeSpan.FromMinutes(5));
        var beforeHalf = serving.Current.TargetCertificate;
        time.Advance(TimeSpan.FromMinutes(10));
        var afterHalf = serving.Current.TargetCertificate;

        // Assert
        var names = new X509SubjectAlternativeNameExtension(first.Extensions["2.5.29.17"]!.RawData);
        Assert.Multiple(() =>
        {
            Assert.That(names.EnumerateDnsNames(), Is.EqualTo(new[] { "mesh-control-plane.mesh-system.svc" }));
            Assert.That(names.EnumerateIPAddresses(), Is.EqualTo(new[] { IPAddress.Loopback }));
            Assert.That(first.HasPrivateKey, Is.True);
            Assert.That(CaTestSupport.ChainsTo(first, authority.Root), Is.True);
            Assert.That(beforeHalf.SerialNumber, Is.EqualTo(first.SerialNumber), "not renewed before half its life");
            Assert.That(afterHalf.SerialNumber, Is.Not.EqualTo(first.SerialNumber), "renewed after half its life");
        });
    }

    [Test]
    public void Options_XdsTlsWithoutCa_RejectedNamingTheFix()
    {
        // Act
        var error = ControlPlane.Hosting.ControlPlaneOptions.TryParse(["--manifests", "m", "--xds-tls"], out _);

        // Assert
        Assert.That(error, Does.StartWith("--xds-tls needs the CA (--ca, --ca-dir or --ca-secret)"));
    }

    private static Task<CaControlPlane> StartAsync(ManifestTestDirectory files) => CaControlPlane.StartAsync(o =>
    {
        o.Ca.BootstrapTokensFile = files.FullPath("tokens");
        o.XdsTls = true;
    }, seed: TranslationTestObjects.Seed());

    private static string Bootstrap(int port, string rootFile) => $$"""
        { "xds_servers": [ { "server_uri": "127.0.0.1:{{port}}",
            "channel_creds": [ { "type": "tls", "config": { "ca_certificate_file": "{{rootFile.Replace("\\", "\\\\", StringComparison.Ordinal)}}" } } ] } ],
          "node": { "id": "tls-client", "cluster": "backend" } }
        """;

    private static async Task<ServiceProvider> ClientAsync(string bootstrap)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh()
            .AddXds(o =>
            {
                o.Targets.Add(MeshTestClient.Target);
                o.Bootstrap = bootstrap;
            })
            .AddWorkloadIdentity(o => o.Token = BackendToken);
        var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(TestWait.Timeout);
        }

        return provider;
    }
}
