using Mesh.Configuration;
using Mesh.Model;
using Mesh.Resilience;
using Mesh.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Core.Tests.Resilience;

/// <summary>Connection-pool admission, max retries and the retry budget of a cluster (Envoy circuit-breaking thresholds).</summary>
public class ClusterStateTests
{
    private const string Overflows = "mesh.client.overflows";

    // Envoy retry budget: max(min_retry_concurrency, budget_percent / 100 x active), here also capped by MaxRetries.
    [TestCase(int.MaxValue, 20.0, 3, 0, 3)]
    [TestCase(int.MaxValue, 20.0, 3, 10, 3)]
    [TestCase(int.MaxValue, 20.0, 3, 19, 3)]
    [TestCase(int.MaxValue, 20.0, 3, 20, 4)]
    [TestCase(int.MaxValue, 20.0, 3, 24, 4)]
    [TestCase(int.MaxValue, 20.0, 3, 100, 20)]
    [TestCase(int.MaxValue, 20.0, 3, 1000, 200)]
    [TestCase(int.MaxValue, 12.5, 0, 7, 0)]
    [TestCase(int.MaxValue, 12.5, 0, 8, 1)]
    [TestCase(int.MaxValue, 100.0, 1, 50, 50)]
    [TestCase(10, 20.0, 3, 1000, 10)]
    [TestCase(2, 20.0, 3, 0, 2)]
    [TestCase(5, 0.0, 3, 0, 5)]
    [TestCase(5, 0.0, 3, 1000, 5)]
    [TestCase(0, 0.0, 3, 1000, 0)]
    public void AllowedRetries_ActiveRequests_FollowsBudgetCappedByMaxRetries(int maxRetries, double budgetPercent, int minConcurrency, int active, int expected)
    {
        var state = CreateState(Settings(maxRetries: maxRetries, budgetPercent: budgetPercent, minRetryConcurrency: minConcurrency), out _);

        var allowed = state.AllowedRetries(active);

        Assert.That(allowed, Is.EqualTo(expected));
        Assert.That(allowed, Is.EqualTo(Reference(maxRetries, budgetPercent, minConcurrency, active)));
    }

    [Test]
    public void AllowedRetries_DefaultSettings_AreEnvoyBudgetWithoutMaxRetries()
    {
        var state = CreateState(ClusterResilienceSettings.Default, out _);

        Assert.That(state.Settings.MaxRetries, Is.EqualTo(int.MaxValue));
        Assert.That(state.AllowedRetries(0), Is.EqualTo(3));
        Assert.That(state.AllowedRetries(50), Is.EqualTo(10));
    }

    [Test]
    public async Task TryBeginRetry_BudgetExhausted_RefusesAndCountsRetryBudgetOverflow()
    {
        var state = CreateState(Settings(maxRequests: 100, maxRetries: 100, budgetPercent: 50, minRetryConcurrency: 1), out var telemetry);
        using var overflows = new MetricCollector<long>(telemetry.Meter, Overflows);
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout), Is.True);
        }

        // 3 requests in flight plus the deciding one, whose attempt has returned its slot: max(1, 50% x 4) = 2 retries.
        var first = state.TryBeginRetry();
        var second = state.TryBeginRetry();
        var third = state.TryBeginRetry();

        Assert.That((first, second, third), Is.EqualTo((true, true, false)));
        Assert.That(state.ActiveRetries, Is.EqualTo(2));
        AssertOverflow(overflows, "retry_budget", 1);

        state.EndRetry();
        Assert.That(state.TryBeginRetry(), Is.True, "an ended retry frees its place in the budget");

        // With fewer requests in flight the budget shrinks: 1 + 1 requests allow max(1, 50% x 2) = 1 retry, and one is in flight.
        state.Release();
        state.Release();
        state.EndRetry();
        Assert.That(state.ActiveRetries, Is.EqualTo(1));
        Assert.That(state.TryBeginRetry(), Is.False);
        AssertOverflow(overflows, "retry_budget", 2);
        state.Release();
    }

    [Test]
    public void TryBeginRetry_BudgetOff_OnlyMaxRetriesLimitsAndCountsMaxRetriesOverflow()
    {
        var state = CreateState(Settings(maxRetries: 2, budgetPercent: 0, minRetryConcurrency: 0), out var telemetry);
        using var overflows = new MetricCollector<long>(telemetry.Meter, Overflows);

        var results = new[] { state.TryBeginRetry(), state.TryBeginRetry(), state.TryBeginRetry() };

        Assert.That(results, Is.EqualTo(new[] { true, true, false }));
        AssertOverflow(overflows, "max_retries", 1);
        state.EndRetry();
        state.EndRetry();
        Assert.That(state.ActiveRetries, Is.Zero);
    }

    [Test]
    public void TryBeginRetry_MaxRetriesBelowBudget_CountsMaxRetriesOverflow()
    {
        var state = CreateState(Settings(maxRetries: 1, budgetPercent: 20, minRetryConcurrency: 3), out var telemetry);
        using var overflows = new MetricCollector<long>(telemetry.Meter, Overflows);

        Assert.That(state.TryBeginRetry(), Is.True);
        Assert.That(state.TryBeginRetry(), Is.False);

        AssertOverflow(overflows, "max_retries", 1);
    }

    [Test]
    public async Task AdmitAsync_BeyondMaxRequests_QueuesUpToMaxPendingThenRefuses()
    {
        var state = CreateState(Settings(maxRequests: 2, maxPendingRequests: 1), out var telemetry);
        using var overflows = new MetricCollector<long>(telemetry.Meter, Overflows);

        var first = await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout);
        var second = await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout);
        var waiting = state.AdmitAsync(CancellationToken.None).AsTask();
        var refused = await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout);

        Assert.That(first, Is.True);
        Assert.That(second, Is.True);
        Assert.That(waiting.IsCompleted, Is.False, "the third request waits for a slot");
        Assert.That(refused, Is.False, "the fourth finds the queue full");
        Assert.That(state.ActiveRequests, Is.EqualTo(2));
        AssertOverflow(overflows, "max_pending_requests", 1);

        state.Release();
        var admitted = await waiting.WaitAsync(Bound.Timeout);

        Assert.That(admitted, Is.True, "a released slot admits the waiter");
        Assert.That(state.ActiveRequests, Is.EqualTo(2));
        state.Release();
        state.Release();
        Assert.That(state.ActiveRequests, Is.Zero);
    }

    [Test]
    public async Task AdmitAsync_NoPendingAllowed_RefusesAtOnceAsMaxRequests()
    {
        var state = CreateState(Settings(maxRequests: 1, maxPendingRequests: 0), out var telemetry);
        using var overflows = new MetricCollector<long>(telemetry.Meter, Overflows);

        var first = await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout);
        var refused = await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout);

        Assert.That(first, Is.True);
        Assert.That(refused, Is.False);
        AssertOverflow(overflows, "max_requests", 1);

        state.Release();
        var again = await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout);
        Assert.That(again, Is.True);
    }

    [Test]
    public void TryAdmit_BelowMaxRequests_AdmitsWithoutAllocating()
    {
        var state = CreateState(Settings(maxRequests: 2, maxPendingRequests: 0), out _);
        state.TryAdmit();
        state.Release();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var admitted = (state.TryAdmit(), state.TryAdmit(), state.TryAdmit());
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(admitted, Is.EqualTo((true, true, false)));
        Assert.That(allocated, Is.Zero);
        state.Release();
        state.Release();
        Assert.That(state.ActiveRequests, Is.Zero);
    }

    [Test]
    public async Task AdmitAsync_CancelledWhileWaiting_ThrowsAndDoesNotCountActive()
    {
        var state = CreateState(Settings(maxRequests: 1, maxPendingRequests: 1), out _);
        var first = await state.AdmitAsync(CancellationToken.None).AsTask().WaitAsync(Bound.Timeout);
        using var cancel = new CancellationTokenSource();

        var waiting = state.AdmitAsync(cancel.Token).AsTask();
        await cancel.CancelAsync();

        Assert.That(async () => await waiting.WaitAsync(Bound.Timeout), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(state.ActiveRequests, Is.EqualTo(1));
        state.Release();
    }

    internal static ClusterResilienceSettings Settings(
        int maxRequests = ResilienceDefaults.MaxRequests,
        int maxPendingRequests = ResilienceDefaults.MaxPendingRequests,
        int maxRetries = ResilienceDefaults.MaxRetries,
        double budgetPercent = ResilienceDefaults.RetryBudgetPercent,
        int minRetryConcurrency = ResilienceDefaults.MinRetryConcurrency) =>
        new(maxRequests, maxPendingRequests, maxRetries, budgetPercent, minRetryConcurrency, null, null);

    private static ClusterState CreateState(ClusterResilienceSettings settings, out MeshTelemetry telemetry)
    {
        telemetry = new MeshTelemetry(new DetachedMeterFactory());
        return new ClusterState("backend", settings, new TestTime(), telemetry, NullLogger.Instance);
    }

    private static int Reference(int maxRetries, double budgetPercent, int minConcurrency, int active)
    {
        if (budgetPercent == 0)
        {
            return maxRetries;
        }

        var budget = Math.Max(minConcurrency, (long)Math.Floor(budgetPercent / 100 * active));
        return (int)Math.Min(maxRetries, budget);
    }

    private static void AssertOverflow(MetricCollector<long> overflows, string kind, int expectedCount)
    {
        var measurements = overflows.GetMeasurementSnapshot();
        Assert.That(measurements, Has.Count.EqualTo(expectedCount));
        Assert.That(measurements.Select(m => m.Value), Is.All.EqualTo(1));
        Assert.That(measurements.Select(m => m.Tags[MeshTelemetry.Tags.OverflowKind]), Is.All.EqualTo(kind));
        Assert.That(measurements.Select(m => m.Tags[MeshTelemetry.Tags.Cluster]), Is.All.EqualTo("backend"));
    }
}
