using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Http.Tests.Resilience;

namespace Mesh.Http.Tests.Telemetry;

/// <summary>The span tree of a retried request: one request span, one child per attempt, the retry as an event.</summary>
[TestFixture]
public sealed class AttemptSpanTests
{
    private static readonly ActivitySource TestSource = new("Mesh.Http.Tests.Attempts");

    [Test]
    public async Task SendAsync_RetriedRequest_HasOneChildSpanPerAttemptAndARetryEvent()
    {
        // Arrange: one endpoint always 503, one healthy; a retry on 5xx goes to the endpoint not yet tried.
        await using var failing = await FaultyBackend.StartAsync("failing", BackendBehavior.Unavailable);
        await using var healthy = await FaultyBackend.StartAsync("healthy");
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Mesh" or "Mesh.Http.Tests.Attempts",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = new()
        {
            Endpoints = { new() { Address = failing.Address }, new() { Address = healthy.Address } },
            Routes = { new() { Name = "retried", Destinations = { new() }, Retries = new() { Attempts = 1, RetryOn = "5xx" } } },
        });
        using var client = mesh.CreateClient();

        // Act: round robin sends the first try of at least one of two requests to the failing endpoint.
        ActivityTraceId trace;
        using (var parent = TestSource.StartActivity("test"))
        {
            trace = parent!.TraceId;
            for (var i = 0; i < 2; i++)
            {
                using var response = await client.GetAsync("/").WaitAsync(Timeouts.Default);
                response.EnsureSuccessStatusCode();
            }
        }

        // Assert
        var mine = stopped.Where(a => a.Source.Name == "Mesh" && a.TraceId == trace).ToList();
        var requests = mine.Where(a => a.OperationName == "mesh.request").ToList();
        var retried = requests.First(r => mine.Count(a => a.OperationName == "mesh.attempt" && a.ParentSpanId == r.SpanId) == 2);
        var attempts = mine.Where(a => a.OperationName == "mesh.attempt" && a.ParentSpanId == retried.SpanId).OrderBy(a => a.StartTimeUtc).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(requests, Has.Count.EqualTo(2));
            Assert.That(attempts.Select(a => a.GetTagItem("http.response.status_code")), Is.EqualTo(new object[] { 503, 200 }));
            Assert.That(attempts.Select(a => a.GetTagItem("server.port")), Is.EqualTo(new object[] { failing.Port, healthy.Port }));
            Assert.That(attempts.Select(a => a.GetTagItem("mesh.attempt")), Is.EqualTo(new object[] { 0, 1 }));
            Assert.That(retried.GetTagItem("http.response.status_code"), Is.EqualTo(200));
            Assert.That(retried.Events.Select(e => e.Name), Is.EqualTo(new[] { "mesh.retry" }));
            Assert.That(retried.Events.Single().Tags.Select(t => t.Key), Is.EquivalentTo(new[] { "mesh.attempt", "mesh.retry.backoff_ms" }));
        });
    }
}
