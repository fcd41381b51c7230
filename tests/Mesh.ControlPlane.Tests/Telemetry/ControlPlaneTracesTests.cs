using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Telemetry;
using Mesh.ControlPlane.Tests.EndToEnd;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Xds.Server;

namespace Mesh.ControlPlane.Tests.Telemetry;

/// <summary>Traces of the control plane's work: a span per rebuild, and a span per push linked to the rebuild that published it.</summary>
[NonParallelizable]
[CancelAfter(60_000)]
public sealed class ControlPlaneTracesTests
{
    [Test]
    public async Task Rebuild_ClientConnected_RebuildSpanAndLinkedPushSpansForEveryType()
    {
        // Arrange
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is ControlPlaneTelemetry.ActivitySourceName or XdsServerTelemetry.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var directory = new ManifestTestDirectory();
        foreach (var file in new[] { "backend.yaml", "routing.yaml" })
        {
            directory.Write(file, File.ReadAllText(Path.Combine(TranslationTestObjects.SampleManifestsDirectory, file)));
        }

        // Act
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { ManifestsDirectory = directory.Path, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);
        await using var client = await MeshTestClient.StartAsync(controlPlane.XdsPort, nodeId: "traced").WaitAsync(TestWait.Timeout);
        string[] types = [XdsResourceSnapshot.ListenerTypeUrl, XdsResourceSnapshot.RouteConfigurationTypeUrl, XdsResourceSnapshot.ClusterTypeUrl, XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl];
        await TestWait.UntilAsync(
            () => types.All(t => spans.Any(s => s.OperationName == "mesh.xds.push" && (string?)s.GetTagItem(XdsServerTelemetry.TypeUrlTag) == t)),
            "a push span for every resource type");

        // Assert: every push to this client links to the rebuild that published its snapshot (spans of other control
        // planes in the process, if any, are told apart by the node id and the link).
        var rebuilds = spans.Where(s => s.OperationName == "mesh.control_plane.rebuild").ToDictionary(s => s.Context);
        var pushes = spans.Where(s => s.OperationName == "mesh.xds.push" && (string?)s.GetTagItem("xds.node_id") == "traced").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(pushes.Select(p => (string?)p.GetTagItem(XdsServerTelemetry.TypeUrlTag)), Is.SupersetOf(types));
            foreach (var push in pushes)
            {
                Assert.That(push.Kind, Is.EqualTo(ActivityKind.Producer));
                Assert.That(push.Parent, Is.Null, "a push is a root span, not a child of the long-lived stream");
                Assert.That(push.Links.Count(), Is.EqualTo(1));
                Assert.That(rebuilds.TryGetValue(push.Links.Single().Context, out var rebuild), Is.True, "linked to the rebuild that published its snapshot");
                Assert.That(rebuild!.GetTagItem(ControlPlaneTelemetry.ResultTag), Is.EqualTo(ControlPlaneTelemetry.Published));
                Assert.That(rebuild.GetTagItem("mesh.config.objects"), Is.EqualTo(6), "the Service, three WorkloadEntries, the VirtualService and the DestinationRule");
                Assert.That(rebuild.GetTagItem("xds.version"), Is.Not.Null);
                Assert.That((int)push.GetTagItem("xds.resources")!, Is.GreaterThan(0));
            }
        });
    }
}
