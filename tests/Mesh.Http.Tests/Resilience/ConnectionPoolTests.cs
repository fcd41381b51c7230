using Mesh.Configuration;
using Mesh.Http.Tests.Infrastructure;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Http.Tests.Resilience;

/// <summary>Connection-pool circuit breaking (Envoy max_requests / max_pending_requests) against a backend that holds requests.</summary>
[TestFixture]
public sealed class ConnectionPoolTests
{
    // Scenario 3.
    [Test]
    public async Task SendAsync_MaxRequestsInFlightAndNoPending_BackendNeverSeesMoreAndTheRestFailFastWithOverflowUnretried()
    {
        // Arrange
        const int MaxRequests = 4;
        const int Burst = 16;
        await using var backend = await FaultyBackend.StartAsync("held", BackendBehavior.HoldUntilReleased);
        await using var mesh = ResilienceMesh.Create(
            [backend],
            route: r => r.Retries = new RetryOptions { Attempts = 3, RetryOn = "5xx,gateway-error,reset,connect-failure" },
            service: s => s.ConnectionPool = new ConnectionPoolOptions { MaxRequests = MaxRequests, MaxPendingRequests = 0 });
        using var overflows = new MetricCollector<long>(mesh.MeterFactory(), "Mesh", "mesh.client.overflows");
        using var retries = new MetricCollector<long>(mesh.MeterFactory(), "Mesh", "mesh.client.retries");
        using var client = mesh.CreateClient();

        // Act: a burst while the backend holds whatever reaches it.
        var sends = Enumerable.Range(0, Burst).Select(_ => Task.Run(() => Load.SendAsync(client, new HttpRequestMessage(HttpMethod.Get, "/hold")))).ToArray();
        await Poll.UntilAsync(() => backend.InFlight == MaxRequests && sends.Count(t => t.IsCompleted) == Burst - MaxRequests, $"{MaxRequests} requests are held and the other {Burst - MaxRequests} have failed");
        var failedWhileHeld = sends.Where(t => t.IsCompleted).Select(t => t.Result).ToArray();
        backend.ReleaseHeld();
        var all = await Task.WhenAll(sends).WaitAsync(Timeouts.Default);
        var attempts = backend.Attempts;
        var after = await Load.SendAsync(client, new HttpRequestMessage(HttpMethod.Get, "/hold"));

        // Assert
        var slowestFailure = failedWhileHeld.Max(r => r.Elapsed);
        TestContext.Out.WriteLine($"max in flight at the backend {backend.MaxInFlight}; {failedWhileHeld.Length} overflowed, the slowest after {slowestFailure.TotalMilliseconds:F1} ms");
        Assert.Multiple(() =>
        {
            Assert.That(backend.MaxInFlight, Is.EqualTo(MaxRequests), "requests in flight at the backend");
            Assert.That(attempts, Is.EqualTo(MaxRequests), "no overflowed request was retried into the backend");
            Assert.That(all.Count(r => r.Succeeded), Is.EqualTo(MaxRequests), "the admitted requests complete once released");
            Assert.That(failedWhileHeld.Select(r => r.Error), Has.All.TypeOf<HttpRequestException>());
            Assert.That(failedWhileHeld.Select(r => r.MeshFailure?.Reason), Has.All.EqualTo(MeshFailureReason.Overflow));
            Assert.That(failedWhileHeld.Select(r => r.MeshFailure?.Service), Has.All.EqualTo("backend"));
            Assert.That(failedWhileHeld.Select(r => r.Error!.Message), Has.All.Contains($"limit of {MaxRequests} requests in flight"));
            Assert.That(slowestFailure, Is.LessThan(TimeSpan.FromSeconds(2)), "overflows fail fast, not after a timeout");
            Assert.That(retries.GetMeasurementSnapshot(), Is.Empty, "mesh.client.retries");
            Assert.That(overflows.GetMeasurementSnapshot().Select(m => m.Tags["mesh.overflow.kind"]), Is.EqualTo(Enumerable.Repeat("max_requests", Burst - MaxRequests)));
            Assert.That(after.Succeeded, Is.True, "the pool's slots are free again after the held requests complete");
        });
    }
}
