using Mesh.Configuration;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Http.Tests.Resilience;

/// <summary>Per-try and route timeouts against a backend that is slow on purpose.</summary>
[TestFixture]
public sealed class TimeoutTests
{
    private static readonly TimeSpan SlowDelay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Limit = TimeSpan.FromMilliseconds(200);

    // Scenario 5.
    [Test]
    public async Task SendAsync_OneOfThreeSlowWithPerTryTimeoutAndRetries_AllSucceedFromTheOthers()
    {
        // Arrange
        await using var a = await FaultyBackend.StartAsync("a");
        await using var b = await FaultyBackend.StartAsync("b");
        await using var slow = await FaultyBackend.StartAsync("slow", BackendBehavior.Slow(SlowDelay));
        await using var mesh = ResilienceMesh.Create([a, b, slow], route: r => r.Retries = new RetryOptions { Attempts = 2, PerTryTimeout = Limit, RetryOn = "5xx,reset" });
        using var timeouts = new MetricCollector<long>(mesh.MeterFactory(), "Mesh", "mesh.client.timeouts");
        using var client = mesh.CreateClient();

        // Act: 3 loops, so at most 3 retries are in flight, within the default retry budget.
        var results = await Load.RunAsync(client, requests: 45, concurrency: 3);

        // Assert
        var perTry = timeouts.GetMeasurementSnapshot().Where(m => (string?)m.Tags["mesh.timeout.kind"] == "per_try").Sum(m => m.Value);
        var slowest = results.Max(r => r.Elapsed);
        TestContext.Out.WriteLine($"{results.Count(r => r.Succeeded)} of {results.Length} succeeded; slow endpoint tried {slow.Attempts} times, {perTry} per-try timeouts; slowest request {slowest.TotalMilliseconds:F0} ms");
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Error?.ToString()), Has.All.Null);
            Assert.That(results.Select(r => r.Status), Has.All.EqualTo(200));
            Assert.That(results.Select(r => r.Backend), Has.All.AnyOf("a", "b"));
            Assert.That(slow.Attempts, Is.GreaterThan(0), "the slow endpoint was tried");
            Assert.That(perTry, Is.GreaterThanOrEqualTo(slow.Attempts), "every try of the slow endpoint timed out");
            Assert.That(slowest, Is.LessThan(SlowDelay), "no request waited for the slow endpoint");
        });
    }

    [Test]
    public async Task SendAsync_RouteTimeoutShorterThanBackend_ThrowsMeshTimeoutNamingServiceAndLimit()
    {
        // Arrange
        await using var slow = await FaultyBackend.StartAsync("slow", BackendBehavior.Slow(SlowDelay));
        await using var mesh = ResilienceMesh.Create([slow], route: r => r.Timeout = Limit);
        using var client = mesh.CreateClient();

        // Act
        var result = await Load.SendAsync(client, new HttpRequestMessage(HttpMethod.Get, "/slow"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.TypeOf<HttpRequestException>());
            Assert.That(result.MeshFailure?.Reason, Is.EqualTo(MeshFailureReason.Timeout));
            Assert.That(result.MeshFailure?.Service, Is.EqualTo("backend"));
            Assert.That(result.Error?.Message, Does.Contain("'backend'").And.Contain("route timeout of 00:00:00.2000000"));
            Assert.That(result.Elapsed, Is.LessThan(SlowDelay), "the route timeout, not the backend, ended the request");
            Assert.That(slow.Attempts, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task SendAsync_RouteTimeoutWithLocalFailuresAsStatusCode_Returns504WithLocalReplyHeader()
    {
        // Arrange
        await using var slow = await FaultyBackend.StartAsync("slow", BackendBehavior.Slow(SlowDelay));
        await using var mesh = ResilienceMesh.Create([slow], route: r => r.Timeout = Limit, http: h => h.LocalFailures = LocalFailureMode.StatusCode);
        using var client = mesh.CreateClient();

        // Act
        var result = await Load.SendAsync(client, new HttpRequestMessage(HttpMethod.Get, "/slow"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null);
            Assert.That(result.Status, Is.EqualTo(504));
            Assert.That(result.LocalReply, Is.EqualTo("timeout"), "x-mesh-local-reply");
            Assert.That(result.Backend, Is.Null, "the mesh answered, not the backend");
            Assert.That(result.Elapsed, Is.LessThan(SlowDelay));
        });
    }
}
