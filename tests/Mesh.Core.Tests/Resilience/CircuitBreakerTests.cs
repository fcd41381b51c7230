using Mesh.Configuration;
using Mesh.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Polly.CircuitBreaker;

namespace Mesh.Core.Tests.Resilience;

/// <summary>The cluster's error-rate and slow-call breakers (Polly circuit breakers on the fake clock), driven through the executor.</summary>
public class CircuitBreakerTests
{
    private static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(5);

    [Test]
    public async Task ExecuteAsync_FailureRatioReachedWithMinimumThroughput_OpensAndFailsFast()
    {
        using var harness = ErrorRateHarness(out var transitions);
        Script(harness, 200, 500, 200, 500);

        var answers = await SendManyAsync(harness, 4);
        var refusal = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());

        Assert.That(answers, Is.EqualTo(new[] { 200, 500, 200, 500 }), "2 of 4 failed: ratio 0.5 reached with throughput 4");
        Assert.That(refusal.Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
        Assert.That(refusal.InnerException, Is.InstanceOf<BrokenCircuitException>());
        Assert.That(refusal.Message, Does.StartWith("Service 'backend': the circuit breaker of cluster 'backend' is open ("));
        Assert.That(refusal.Message, Does.EndWith("); requests fail fast until it lets a probe through."));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(4), "the refused request never reached the transport");
        Assert.That(States(transitions), Is.EqualTo(new[] { "error_rate:open" }));
    }

    [Test]
    public async Task ExecuteAsync_FailuresBelowMinimumThroughput_StayClosed()
    {
        using var harness = ErrorRateHarness(out _);
        Script(harness, 500, 500, 500, 500);

        var answers = await SendManyAsync(harness, 4);

        Assert.That(answers, Is.EqualTo(new[] { 500, 500, 500, 500 }), "3 failures are below the throughput of 4, so the 4th call is sent");
        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
    }

    [Test]
    public async Task ExecuteAsync_FailureRatioBelowThreshold_StaysClosed()
    {
        using var harness = ErrorRateHarness(out var transitions);
        Script(harness, 200, 200, 200, 500, 200, 500, 200);

        var answers = await SendManyAsync(harness, 7);

        Assert.That(answers, Is.EqualTo(new[] { 200, 200, 200, 500, 200, 500, 200 }), "at most 2 of 6 failed, below 0.5");
        Assert.That(transitions.GetMeasurementSnapshot(), Is.Empty);
    }

    [Test]
    public async Task ExecuteAsync_FailuresOutsideTheSamplingWindow_DoNotCount()
    {
        using var harness = ErrorRateHarness(out _);
        Script(harness, 500, 500, 500, 200, 200, 200, 500, 200);

        await SendManyAsync(harness, 3);
        harness.Time.Advance(TimeSpan.FromSeconds(11));
        var answers = await SendManyAsync(harness, 5);

        Assert.That(answers, Is.EqualTo(new[] { 200, 200, 200, 500, 200 }), "the early failures left the 10 s window; 1 of 4 recent calls failed");
    }

    [Test]
    public async Task ExecuteAsync_AfterBreakDuration_LetsOneProbeThroughAndClosesOnSuccess()
    {
        using var harness = ErrorRateHarness(out var transitions);
        await OpenAsync(harness);
        harness.Time.Advance(BreakDuration - TimeSpan.FromMilliseconds(1));
        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen), "still open 1 ms before the break ends");
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        var probeAnswer = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Transport.Respond = _ => new ValueTask<int>(probeAnswer.Task);
        var sentBefore = harness.Transport.Sent.Count;

        var probe = harness.SendAsync();
        await harness.Transport.NextAttemptAsync();
        var whileProbing = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());
        probeAnswer.SetResult(200);

        Assert.That(whileProbing.Reason, Is.EqualTo(MeshFailureReason.CircuitOpen), "only one probe while half-open");
        Assert.That(await probe.WaitAsync(Bound.Timeout), Is.EqualTo(200));
        Assert.That(harness.Transport.Sent.Count - sentBefore, Is.EqualTo(1));
        harness.Transport.Respond = static _ => ValueTask.FromResult(200);
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200), "closed after the good probe");
        Assert.That(States(transitions), Is.EqualTo(new[] { "error_rate:open", "error_rate:half_open", "error_rate:closed" }));
    }

    [Test]
    public async Task ExecuteAsync_FailedProbe_OpensAgainForAnotherBreak()
    {
        using var harness = ErrorRateHarness(out var transitions);
        await OpenAsync(harness);
        harness.Time.Advance(BreakDuration);
        harness.Transport.Respond = static _ => ValueTask.FromResult(503);

        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(503), "the probe is sent and fails");
        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
        harness.Time.Advance(BreakDuration - TimeSpan.FromMilliseconds(1));
        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        harness.Transport.Respond = static _ => ValueTask.FromResult(200);

        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200), "the second probe is let through");
        Assert.That(States(transitions), Is.EqualTo(new[] { "error_rate:open", "error_rate:half_open", "error_rate:open", "error_rate:half_open", "error_rate:closed" }));
    }

    [Test]
    public async Task ExecuteAsync_OpenBreakerWithRetries_RefusalIsNotRetried()
    {
        using var harness = ErrorRateHarness(out _, r => r.Retries = new() { Attempts = 3, RetryOn = "5xx" });
        using var retries = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.retries");
        harness.Transport.Respond = static _ => ValueTask.FromResult(500);

        // 500 is retried: the request's 4 tries fill the window and open the breaker, the 5th send is refused.
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(500));
        var refusal = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());

        Assert.That(refusal.Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(4));
        Assert.That(retries.GetMeasurementSnapshot(), Has.Count.EqualTo(3), "the first request's 3 retries, none for the refusal");
    }

    [Test]
    public async Task ExecuteAsync_SlowCallsReachRatio_OpenTheSlowCallBreaker()
    {
        using var harness = SlowCallHarness(ratio: 0.5, out var transitions);

        var durations = new[] { TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2) };
        foreach (var duration in durations)
        {
            Assert.That(await SendTakingAsync(harness, duration), Is.EqualTo(200));
        }

        var refusal = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());
        Assert.That(refusal.Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
        Assert.That(States(transitions), Is.EqualTo(new[] { "slow_call:open" }));
    }

    [Test]
    public async Task ExecuteAsync_SlowShareBelowRatio_StaysClosed()
    {
        using var harness = SlowCallHarness(ratio: 0.6, out var transitions);

        Assert.That(await SendTakingAsync(harness, TimeSpan.Zero), Is.EqualTo(200));
        Assert.That(await SendTakingAsync(harness, TimeSpan.FromSeconds(2)), Is.EqualTo(200));
        Assert.That(await SendTakingAsync(harness, TimeSpan.Zero), Is.EqualTo(200), "1 of 2 slow is below 0.6");

        Assert.That(transitions.GetMeasurementSnapshot(), Is.Empty);
    }

    [Test]
    public async Task ExecuteAsync_CallsOfExactlySlowCallDuration_AreNotSlow()
    {
        using var harness = SlowCallHarness(ratio: 0.5, out _);

        Assert.That(await SendTakingAsync(harness, TimeSpan.FromSeconds(1)), Is.EqualTo(200));
        Assert.That(await SendTakingAsync(harness, TimeSpan.FromSeconds(1)), Is.EqualTo(200));
        Assert.That(await SendTakingAsync(harness, TimeSpan.FromSeconds(1.001)), Is.EqualTo(200), "calls slower than 1 s count, calls of 1 s do not");
        Assert.That(await SendTakingAsync(harness, TimeSpan.FromSeconds(1.001)), Is.EqualTo(200));

        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen), "2 of 4 slow");
    }

    [Test]
    public void ClusterState_NoBreakerConfigured_HasNoPipeline()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2));

        Assert.That(harness.Cluster.State.Breakers, Is.Null);
    }

    private static ExecutorHarness ErrorRateHarness(out MetricCollector<long> transitions, Action<RouteOptions>? route = null)
    {
        var harness = new ExecutorHarness(ExecutorHarness.Options(
            3,
            s => s.CircuitBreaker = new()
            {
                FailureRatio = 0.5,
                SamplingDuration = TimeSpan.FromSeconds(10),
                MinimumThroughput = 4,
                BreakDuration = BreakDuration,
            },
            route));
        transitions = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.circuit_breaker.transitions");
        return harness;
    }

    private static ExecutorHarness SlowCallHarness(double ratio, out MetricCollector<long> transitions)
    {
        var harness = new ExecutorHarness(ExecutorHarness.Options(
            3,
            s => s.SlowCallBreaker = new()
            {
                SlowCallDuration = TimeSpan.FromSeconds(1),
                SlowCallRatio = ratio,
                SamplingDuration = TimeSpan.FromSeconds(30),
                MinimumThroughput = 2,
                BreakDuration = BreakDuration,
            }));
        transitions = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.circuit_breaker.transitions");
        return harness;
    }

    /// <summary>Answers the given statuses in order, one per attempt.</summary>
    private static void Script(ExecutorHarness harness, params int[] statuses)
    {
        var next = 0;
        harness.Transport.Respond = _ => ValueTask.FromResult(statuses[Interlocked.Increment(ref next) - 1]);
    }

    private static async Task<int[]> SendManyAsync(ExecutorHarness harness, int count)
    {
        var answers = new int[count];
        for (var i = 0; i < count; i++)
        {
            answers[i] = await harness.SendAndWaitAsync();
        }

        return answers;
    }

    private static async Task OpenAsync(ExecutorHarness harness)
    {
        harness.Transport.Respond = static _ => ValueTask.FromResult(500);
        await SendManyAsync(harness, 4);
        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
    }

    /// <summary>Sends one request whose answer takes <paramref name="duration"/> on the fake clock.</summary>
    private static async Task<int> SendTakingAsync(ExecutorHarness harness, TimeSpan duration)
    {
        harness.Transport.Respond = async a =>
        {
            await Task.Delay(duration, harness.Time, a.Token);
            return 200;
        };
        var request = harness.SendAsync();
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(duration);
        return await request.WaitAsync(Bound.Timeout);
    }

    private static string[] States(MetricCollector<long> transitions) =>
        [.. transitions.GetMeasurementSnapshot().Select(m => $"{m.Tags[MeshTelemetry.Tags.Breaker]}:{m.Tags[MeshTelemetry.Tags.BreakerState]}")];
}
