using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
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
        if (!ControlPlaneNodeInterop.NodeAvailable)
        {
            Assert.Fail("Node.js is not on PATH; the interop tests drive @grpc/grpc-js-xds and need Node.js 20 or later");
        }

        // Arrange: the seed objects for a gRPC service "backend" on port 8080, backends from backend.js.
        using var v1a = await ControlPlaneNodeInterop.StartBackendAsync("v1a");
        using var v1b = await ControlPlaneNodeInterop.StartBackendAsync("v1b");
        using var v2 = await ControlPlaneNodeInterop.StartBackendAsync("v2");
        var store = new ConfigStore();
        store.Replace("test", Seed(v1a.Port, v1b.Port, v2.Port));
        store.MarkSynced("test");
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { Store = store, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(ControlPlaneTestBackend.Timeout);
        await ControlPlaneTestBackend.UntilAsync(() => controlPlane.Host.Status.Published >= 1, "the first snapshot is published");

        // Act
        var plain = await ControlPlaneNodeInterop.CallAsync(controlPlane.XdsPort, "backend.demo.svc.cluster.local:8080", 1000);
        var canary = await ControlPlaneNodeInterop.CallAsync(controlPlane.XdsPort, "backend.demo.svc.cluster.local:8080", 100, new Dictionary<string, string> { ["x-canary"] = "1" });

        // Assert
        TestContext.Out.WriteLine($"plain: {string.Join(", ", plain.OrderBy(p => p.Key))}; canary: {string.Join(", ", canary.OrderBy(p => p.Key))}");
        var v2Share = plain.GetValueOrDefault("v2") / 1000.0;
        Assert.Multiple(() =>
        {
            Assert.That(plain.GetValueOrDefault("failed"), Is.Zero, $"answers: {string.Join(", ", plain)}");
            Assert.That(v2Share, Is.InRange(0.15, 0.25), $"v2 got {v2Share:P1}; the split is 80/20; answers: {string.Join(", ", plain)}");
            Assert.That(plain.GetValueOrDefault("v1a") + plain.GetValueOrDefault("v1b") + plain.GetValueOrDefault("v2"), Is.EqualTo(1000));
            Assert.That(canary, Is.EqualTo(new Dictionary<string, int> { ["v2"] = 100 }), "x-canary: 1 goes to v2 only");
        });
    }
}
