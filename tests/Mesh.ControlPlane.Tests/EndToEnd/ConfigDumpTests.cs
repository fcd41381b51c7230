using System.Net;
using System.Text.Json;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>The admin server's config dump on the sample manifests, security objects included.</summary>
[CancelAfter(60_000)]
public sealed class ConfigDumpTests
{
    [Test]
    public async Task ConfigDump_SampleManifestsWithMutualTls_DumpsTlsContextsAndServerListeners()
    {
        // Arrange
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { ManifestsDirectory = TranslationTestObjects.SampleManifestsDirectory, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);
        await TestWait.UntilAsync(() => controlPlane.Host.Status.Snapshot is not null, "the first snapshot is published");
        using var admin = new HttpClient { BaseAddress = controlPlane.AdminAddress, Timeout = TestWait.Timeout };

        // Act
        using var response = await admin.GetAsync(new Uri("/debug/config_dump", UriKind.Relative)).WaitAsync(TestWait.Timeout);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TestWait.Timeout);

        // Assert
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        using var dump = JsonDocument.Parse(text);
        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Contain("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"));
            Assert.That(text, Does.Contain("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"));
            Assert.That(text, Does.Contain("type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"));
            Assert.That(text, Does.Contain("grpc/server?xds.resource.listening_address=127.0.0.1:5101"));
        });
    }
}
