using Mesh.Configuration;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Http.Tests.Resilience;

/// <summary>Fault injection (Istio <c>fault.abort</c>): the mesh answers instead of the backend.</summary>
[TestFixture]
public sealed class FaultInjectionTests
{
    [Test]
    public async Task SendAsync_AbortAllRequests_ReturnsConfiguredStatusWithFaultHeaderAndBackendGetsNothing()
    {
        // Arrange: 500, not the default 503, so the answer shows the configured status is used.
        await using var backend = await FaultyBackend.StartAsync("backend");
        await using var mesh = ResilienceMesh.Create([backend], route: r => r.Fault = new FaultOptions { Abort = new FaultAbortOptions { HttpStatus = 500, Percentage = 100 } });
        using var faults = new MetricCollector<long>(mesh.MeterFactory(), "Mesh", "mesh.client.faults");
        using var client = mesh.CreateClient();

        // Act
        var results = await Load.RunAsync(client, requests: 20, concurrency: 4);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Status), Has.All.EqualTo(500));
            Assert.That(results.Select(r => r.LocalReply), Has.All.EqualTo("fault"), "x-mesh-local-reply");
            Assert.That(backend.Attempts, Is.Zero, "aborted requests never reach the backend");
            Assert.That(faults.GetMeasurementSnapshot().Select(m => m.Tags["mesh.fault.kind"]), Is.EqualTo(Enumerable.Repeat("abort", 20)));
        });
    }

    [Test]
    public async Task SendAsync_AbortHalfOfRequests_AbortsHalfWithinFivePoints()
    {
        // Arrange
        const int Requests = 2_000;
        await using var backend = await FaultyBackend.StartAsync("backend");
        await using var mesh = ResilienceMesh.Create([backend], route: r => r.Fault = new FaultOptions { Abort = new FaultAbortOptions { HttpStatus = 503, Percentage = 50 } });
        using var client = mesh.CreateClient();

        // Act
        var results = await Load.RunAsync(client, Requests, concurrency: 16);

        // Assert: 0.05 is 4.5 standard deviations of a binomial share over 2,000 requests (about 1 false failure in 150,000 runs).
        var aborted = results.Where(r => r.LocalReply == "fault").ToArray();
        var share = (double)aborted.Length / Requests;
        TestContext.Out.WriteLine($"{aborted.Length} of {Requests} aborted ({share:P1})");
        Assert.Multiple(() =>
        {
            Assert.That(share, Is.InRange(0.45, 0.55), "share of requests aborted");
            Assert.That(aborted.Select(r => r.Status), Has.All.EqualTo(503));
            Assert.That(results.Except(aborted).Select(r => r.Backend), Has.All.EqualTo("backend"), "the others were answered by the backend");
            Assert.That(backend.Attempts, Is.EqualTo(Requests - aborted.Length));
        });
    }
}
