using Mesh.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Http.Tests.Resilience;

/// <summary>
/// Local rate limits (Envoy local_ratelimit). The mesh's clock is a <see cref="FakeTimeProvider"/>, so the bucket
/// refills only when the test says: a burst can never straddle a refill on a slow machine.
/// </summary>
[TestFixture]
public sealed class RateLimitTests
{
    private const int Burst = 20;
    private const int Tokens = 5;

    private static readonly RateLimitOptions FivePerSecond = new() { TokensPerPeriod = Tokens, Period = TimeSpan.FromSeconds(1) };

    [Test]
    public async Task SendAsync_BurstAboveRouteRateLimit_LetsTokensThroughAndRefusesTheRestAsRateLimited()
    {
        // Arrange
        var time = new FakeTimeProvider();
        await using var backend = await FaultyBackend.StartAsync("backend");
        await using var mesh = ResilienceMesh.Create([backend], route: r => r.RateLimit = FivePerSecond, services: s => s.AddSingleton<TimeProvider>(time));
        using var client = mesh.CreateClient();

        // Act
        var first = await Load.RunAsync(client, Burst, concurrency: Burst);
        time.Advance(TimeSpan.FromSeconds(1));
        var second = await Load.RunAsync(client, Burst, concurrency: Burst);

        // Assert
        var refused = first.Where(r => !r.Succeeded).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(first.Count(r => r.Succeeded), Is.EqualTo(Tokens), "requests through in the first burst");
            Assert.That(refused.Select(r => r.Error), Has.All.TypeOf<HttpRequestException>());
            Assert.That(refused.Select(r => r.MeshFailure?.Reason), Has.All.EqualTo(MeshFailureReason.RateLimited));
            Assert.That(refused.Select(r => r.MeshFailure?.Service), Has.All.EqualTo("backend"));
            Assert.That(refused, Has.Length.EqualTo(Burst - Tokens));
            Assert.That(second.Count(r => r.Succeeded), Is.EqualTo(Tokens), "a period later the bucket holds 5 tokens again");
            Assert.That(backend.Attempts, Is.EqualTo(2 * Tokens), "refused requests never reach the backend");
        });
    }

    [Test]
    public async Task SendAsync_BurstAboveServiceRateLimitWithLocalFailuresAsStatusCode_Returns429ForTheRest()
    {
        // Arrange
        var time = new FakeTimeProvider();
        await using var backend = await FaultyBackend.StartAsync("backend");
        await using var mesh = ResilienceMesh.Create(
            [backend],
            service: s => s.RateLimit = FivePerSecond,
            http: h => h.LocalFailures = LocalFailureMode.StatusCode,
            services: s => s.AddSingleton<TimeProvider>(time));
        using var client = mesh.CreateClient();

        // Act
        var results = await Load.RunAsync(client, Burst, concurrency: Burst);

        // Assert
        var refused = results.Where(r => r.Status == 429).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(results.Count(r => r.Status == 200 && r.Backend == "backend"), Is.EqualTo(Tokens));
            Assert.That(refused, Has.Length.EqualTo(Burst - Tokens));
            Assert.That(refused.Select(r => r.LocalReply), Has.All.EqualTo("rate_limited"), "x-mesh-local-reply");
            Assert.That(backend.Attempts, Is.EqualTo(Tokens));
        });
    }
}
