using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Xds.Tests.Interop;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>
/// The seed scenario with gRPC's own xDS client, <c>@grpc/grpc-js-xds</c>, against gRPC backends: it must ACK what the
/// control plane sends (listener, RDS, EDS clusters with a least-request policy list) and route as Istio would.
/// </summary>
[NonParallelizable]
public sealed class ControlPlaneGrpcJsXdsTests
{
    [Test]
    public async Task SeedScenario_GrpcJsXds_SplitsEightyTwentyAndRoutesCanaryToV2()
    {
        // Arrange: the seed objects for a gRPC service "backend" on port 8080, with real gRPC backends.
        await using var v1a = await GreeterBackend.StartAsync("v1a");
        await using var v1b = await GreeterBackend.StartAsync("v1b");
        await using var v2 = await GreeterBackend.StartAsync("v2");
        var store = new ConfigStore();
        store.Replace("test", Seed(v1a.Port, v1b.Port, v2.Port));
        store.MarkSynced("test");
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { Store = store, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);
        await TestWait.UntilAsync(() => controlPlane.Host.Status.Published >= 1, "the first snapshot is published");
        var bootstrap = NodeXdsClient.Bootstrap(controlPlane.XdsPort);

        // Act
        var plain = await NodeXdsClient.CallAsync(bootstrap, "backend.demo.svc.cluster.local:8080", calls: 1000);
        var canary = await NodeXdsClient.CallAsync(bootstrap, "backend.demo.svc.cluster.local:8080", calls: 100, metadata: new Dictionary<string, string> { ["x-canary"] = "1" });

        // Assert
        await TestContext.Out.WriteLineAsync($"plain: {plain}; canary: {canary}");
        var v2Share = plain.For("v2") / 1000.0;
        Assert.Multiple(() =>
        {
            Assert.That(plain.Failed, Is.Zero, plain.ToString());
            Assert.That(v2Share, Is.InRange(0.15, 0.25), $"v2 got {v2Share:P1}; the split is 80/20; {plain}");
            Assert.That(plain.For("v1a") + plain.For("v1b") + plain.For("v2"), Is.EqualTo(1000), plain.ToString());
            Assert.That(canary.ByBackend, Is.EqualTo(new Dictionary<string, int> { ["v2"] = 100 }), "x-canary: 1 goes to v2 only");
        });
    }
}
