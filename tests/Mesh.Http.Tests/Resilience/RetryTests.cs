using Mesh.Configuration;
using Mesh.Http.Tests.Infrastructure;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Http.Tests.Resilience;

/// <summary>Retries against real failures: refused connections, resets, and a retry budget that stops a retry storm.</summary>
[TestFixture]
public sealed class RetryTests
{
    // Scenario 2.
    [Test]
    public async Task SendAsync_AllEndpointsFailingWithRetryBudget_AttemptsStayWithinBudgetAndOverflowsAreCounted()
    {
        // Arrange
        const int Loops = 16;
        const int Requests = Loops * 40;
        await using var a = await FaultyBackend.StartAsync("a", BackendBehavior.Unavailable);
        await using var b = await FaultyBackend.StartAsync("b", BackendBehavior.Unavailable);
        await using var c = await FaultyBackend.StartAsync("c", BackendBehavior.Unavailable);
        FaultyBackend[] backends = [a, b, c];

        // A short backoff makes the budget's job harder: retries come back as fast as first tries.
        static void Retries(RouteOptions r) => r.Retries = new RetryOptions { Attempts = 3, RetryOn = "5xx", BackoffBaseInterval = TimeSpan.FromMilliseconds(2) };
        await using var budgeted = ResilienceMesh.Create(backends, Retries, s => s.ConnectionPool = new ConnectionPoolOptions { RetryBudgetPercent = 20, MinRetryConcurrency = 3 });
        await using var unbudgeted = ResilienceMesh.Create(backends, Retries, s => s.ConnectionPool = new ConnectionPoolOptions { RetryBudgetPercent = 0 });
        using var overflows = new MetricCollector<long>(budgeted.MeterFactory(), "Mesh", "mesh.client.overflows");
        using var budgetedClient = budgeted.CreateClient();
        using var unbudgetedClient = unbudgeted.CreateClient();

        // Act
        var withBudget = await Load.RunAsync(budgetedClient, Requests, Loops);
        var attemptsWithBudget = Load.Attempts(backends).Sum();
        var withoutBudget = await Load.RunAsync(unbudgetedClient, Requests, Loops);
        var attemptsWithoutBudget = Load.Attempts(backends).Sum() - attemptsWithBudget;

        // Assert: with 16 requests in flight the budget allows max(3, 20 % of the other 15) = 3 retries in flight, so at
        // least 13 of the 16 loops are on a first try at any time. A retry lasts at least as long as a try (it adds a
        // backoff), so retries are at most about 3/13 of first tries: about 1.23 attempts per request. The bound doubles
        // that share (a first try also carries the request's setup on the client, which a retry does not), 1.5, still far
        // below the 4 attempts per request that 3 retries would make without a budget, measured alongside.
        var ratioWithBudget = (double)attemptsWithBudget / Requests;
        var ratioWithoutBudget = (double)attemptsWithoutBudget / Requests;
        var budgetOverflows = overflows.GetMeasurementSnapshot().Where(m => (string?)m.Tags["mesh.overflow.kind"] == "retry_budget").Sum(m => m.Value);
        TestContext.Out.WriteLine($"{Requests} requests, all endpoints 503: {ratioWithBudget:F3} attempts per request with the budget ({budgetOverflows} retries refused by it), {ratioWithoutBudget:F3} without");
        Assert.Multiple(() =>
        {
            Assert.That(withBudget.Concat(withoutBudget).Select(r => r.Status), Has.All.EqualTo(503), "the last 503 is returned when retries run out or are refused");
            Assert.That(ratioWithBudget, Is.GreaterThan(1).And.LessThanOrEqualTo(1.5), "attempts per request with the budget");
            Assert.That(ratioWithoutBudget, Is.EqualTo(4), "1 try + 3 retries for every request without a budget");
            Assert.That(budgetOverflows, Is.GreaterThan(0), "mesh.client.overflows{mesh.overflow.kind=retry_budget}");
        });
    }

    [Test]
    public async Task SendAsync_OneEndpointRefusesConnectionsWithRetryOnConnectFailure_AllSucceedOnTheOther()
    {
        // Arrange
        await using var good = await FaultyBackend.StartAsync("good");
        await using var mesh = ResilienceMesh.Create(
            [good.Address, FaultyBackend.RefusedAddress()],
            route: r => r.Retries = new RetryOptions { Attempts = 1, RetryOn = "connect-failure" });
        using var retries = new MetricCollector<long>(mesh.MeterFactory(), "Mesh", "mesh.client.retries");
        using var client = mesh.CreateClient();

        // Act: one after another, so the retry budget's 3 retries in flight are never the limit.
        var results = await Load.RunAsync(client, requests: 40, concurrency: 1);

        // Assert
        TestContext.Out.WriteLine($"{results.Count(r => r.Succeeded)} of {results.Length} succeeded, {retries.GetMeasurementSnapshot().Sum(m => m.Value)} retries");
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Error?.ToString()), Has.All.Null);
            Assert.That(results.Select(r => r.Backend), Has.All.EqualTo("good"));
            Assert.That(good.Attempts, Is.EqualTo(40), "every request reached the good endpoint exactly once");
            // Not just every second request: the retry's pick advances the shared round-robin cursor too, so with two
            // endpoints the first tries can lock onto the refusing one (as in Envoy); either way each needed one retry.
            Assert.That(retries.GetMeasurementSnapshot().Sum(m => m.Value), Is.InRange(1, 40), "requests that tried the refusing endpoint first were retried once");
        });
    }

    [Test]
    public async Task SendAsync_OneEndpointResetsConnectionsWithRetryOnReset_AllSucceedOnTheOthers()
    {
        // Arrange
        await using var a = await FaultyBackend.StartAsync("a");
        await using var b = await FaultyBackend.StartAsync("b");
        await using var resetting = await FaultyBackend.StartAsync("resetting", BackendBehavior.ResetConnection);
        await using var mesh = ResilienceMesh.Create([a, b, resetting], route: r => r.Retries = new RetryOptions { Attempts = 2, RetryOn = "reset" });
        using var client = mesh.CreateClient();

        // Act: 3 loops, so at most 3 retries are in flight, within the default retry budget.
        var results = await Load.RunAsync(client, requests: 90, concurrency: 3);

        // Assert
        TestContext.Out.WriteLine($"{results.Count(r => r.Succeeded)} of {results.Length} succeeded; attempts a/b/resetting = {a.Attempts}/{b.Attempts}/{resetting.Attempts}");
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Error?.ToString()), Has.All.Null);
            Assert.That(results.Select(r => r.Backend), Has.All.AnyOf("a", "b"));
            Assert.That(resetting.Attempts, Is.GreaterThanOrEqualTo(20), "the resetting endpoint took its share of first tries");
        });
    }
}
