using System.Diagnostics;
using Mesh.Configuration;
using Mesh.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Core.Tests.Resilience;

/// <summary>The executor end to end over a fake transport and a fake clock: retries, timeouts, faults, rate limits and hedging.</summary>
public class ResilientExecutorTests
{
    [Test]
    public async Task ExecuteAsync_RetriableFailure_RetriesOnAnotherEndpoint()
    {
        // Random picks: 0 for the first try, then 0 again (already tried, so picked again) and 1.
        using var harness = new ExecutorHarness(
            ExecutorHarness.Options(2, s => s.LoadBalancer = new() { Policy = "Random" }, r => r.Retries = new() { Attempts = 2, RetryOn = "5xx" }),
            meshRandom: new ScriptedRandom(ints: [0, 0, 1]));
        harness.Transport.Respond = FakeTransport.ByEndpoint(harness.Endpoints, 503, 200);

        var status = await harness.SendAndWaitAsync();

        Assert.That(status, Is.EqualTo(200));
        Assert.That(harness.Transport.Sent.Select(a => (a.Endpoint, a.Index)), Is.EqualTo(new[] { (harness.Endpoints[0], 0), (harness.Endpoints[1], 1) }));
    }

    [Test]
    public async Task ExecuteAsync_EveryTryFails_StopsAfterAttemptsPlusOne()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(3, route: r => r.Retries = new() { Attempts = 3, RetryOn = "5xx" }));
        using var retries = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.retries");
        harness.Transport.Respond = static _ => ValueTask.FromResult(500);

        var status = await harness.SendAndWaitAsync();

        Assert.That(status, Is.EqualTo(500), "the last answer is returned");
        Assert.That(harness.Transport.Sent.Select(a => a.Index), Is.EqualTo(new[] { 0, 1, 2, 3 }));
        Assert.That(retries.GetMeasurementSnapshot().Sum(m => m.Value), Is.EqualTo(3));
        Assert.That(harness.Cluster.State.ActiveRetries, Is.Zero, "every retry reservation is returned");
        Assert.That(harness.Cluster.State.ActiveRequests, Is.Zero);
    }

    [Test]
    public async Task ExecuteAsync_NonRetriableAnswer_IsReturnedAtOnce()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(3, route: r => r.Retries = new() { Attempts = 3, RetryOn = "gateway-error" }));
        harness.Transport.Respond = static _ => ValueTask.FromResult(500);

        var status = await harness.SendAndWaitAsync();

        Assert.That(status, Is.EqualTo(500));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1), "500 is not a gateway error");
    }

    [Test]
    public async Task ExecuteAsync_LocalFailureThenSuccess_RetriesConnectFailures()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Retries = new() { Attempts = 1, RetryOn = "connect-failure" }));
        harness.Transport.Respond = a => a.Index == 0 ? throw new FakeFailureException(Mesh.Resilience.AttemptFailure.ConnectFailure) : ValueTask.FromResult(200);

        var status = await harness.SendAndWaitAsync();

        Assert.That(status, Is.EqualTo(200));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task ExecuteAsync_NotReplayable_IsNotRetried()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(3, route: r => r.Retries = new() { Attempts = 3, RetryOn = "5xx" }));
        harness.Transport.Respond = static _ => ValueTask.FromResult(503);

        var status = await harness.SendAndWaitAsync(replayable: false);

        Assert.That(status, Is.EqualTo(503));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ExecuteAsync_OverflowRefusal_IsNotRetried()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(
            3,
            s => s.ConnectionPool = new() { MaxRequests = 1, MaxPendingRequests = 0 },
            r => r.Retries = new() { Attempts = 3, RetryOn = "5xx,reset,connect-failure" }));
        using var overflows = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.overflows");
        using var retries = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.retries");
        var release = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Transport.Respond = _ => new ValueTask<int>(release.Task);
        var first = harness.SendAsync("first");
        await harness.Transport.NextAttemptAsync();

        var refusal = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync("second"));

        Assert.That(refusal.Reason, Is.EqualTo(MeshFailureReason.Overflow));
        Assert.That(refusal.Message, Is.EqualTo("Service 'backend': cluster 'backend' is at its limit of 1 requests in flight and 0 waiting (ConnectionPool); the request failed fast and is not retried."));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1), "the refused request never reached the transport, and was not tried again");
        Assert.That(overflows.GetMeasurementSnapshot(), Has.Count.EqualTo(1), "a retried refusal would overflow again");
        Assert.That(retries.GetMeasurementSnapshot(), Is.Empty);
        release.SetResult(200);
        Assert.That(await first.WaitAsync(Bound.Timeout), Is.EqualTo(200));
    }

    [Test]
    public async Task ExecuteAsync_BackoffBetweenTries_WaitsTheJitteredDelayOnTheClock()
    {
        // Draw 0.4: the first retry waits 0.4 x 25 ms, the second 0.4 x 75 ms (whole milliseconds, as Task.Delay counts them).
        using var harness = new ExecutorHarness(
            ExecutorHarness.Options(3, route: r => r.Retries = new() { Attempts = 2, RetryOn = "5xx" }),
            executorRandom: new ConstantRandom(0.4));
        harness.Transport.Respond = static a => ValueTask.FromResult(a.Index < 2 ? 503 : 200);

        var request = harness.SendAsync();
        await harness.Transport.NextAttemptAsync();
        await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(10));
        harness.Time.Advance(TimeSpan.FromMilliseconds(9));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1));
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        await harness.Transport.NextAttemptAsync();
        await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(30));
        harness.Time.Advance(TimeSpan.FromMilliseconds(29));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(2));
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.That(await request.WaitAsync(Bound.Timeout), Is.EqualTo(200));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(3));
    }

    [Test]
    public async Task ExecuteAsync_PerTryTimeout_RetriesAnotherEndpoint()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Retries = new() { Attempts = 1, RetryOn = "reset", PerTryTimeout = TimeSpan.FromSeconds(1) }));
        using var timeouts = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.timeouts");
        harness.Transport.Respond = static a => a.Index == 0 ? FakeTransport.Hang(a) : ValueTask.FromResult(200);

        var request = harness.SendAsync();
        var first = await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.That(first.Token.IsCancellationRequested, Is.False);
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        var second = await harness.Transport.NextAttemptAsync();

        Assert.That(await request.WaitAsync(Bound.Timeout), Is.EqualTo(200));
        Assert.That(first.Token.IsCancellationRequested, Is.True);
        Assert.That(second.Endpoint, Is.Not.SameAs(first.Endpoint));
        Assert.That(timeouts.GetMeasurementSnapshot().Single().Tags[MeshTelemetry.Tags.TimeoutKind], Is.EqualTo("per_try"));
        Assert.That(first.Endpoint.State.Outlier.IntervalFailures, Is.Zero, "no outlier detection configured, so nothing is counted");
    }

    [Test]
    public async Task ExecuteAsync_EveryTryTimesOut_FailsWithTimeoutNamingThePerTryLimit()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Retries = new() { Attempts = 1, RetryOn = "reset", PerTryTimeout = TimeSpan.FromSeconds(1) }));
        harness.Transport.Respond = FakeTransport.Hang;

        var request = harness.SendAsync();
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(1));

        var failure = Assert.ThrowsAsync<MeshException>(() => request.WaitAsync(Bound.Timeout));
        Assert.That(failure.Reason, Is.EqualTo(MeshFailureReason.Timeout));
        Assert.That(failure.Service, Is.EqualTo("backend"));
        Assert.That(failure.Message, Is.EqualTo("Service 'backend' (route 'api') did not answer within the per-try timeout of 00:00:01 (the last of 2 attempt(s) timed out)."));
    }

    [Test]
    public async Task ExecuteAsync_TotalTimeout_FailsWithTimeoutNamingServiceAndLimit()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Timeout = TimeSpan.FromSeconds(2)));
        using var timeouts = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.timeouts");
        harness.Transport.Respond = FakeTransport.Hang;

        var request = harness.SendAsync();
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.That(request.IsCompleted, Is.False);
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));

        var failure = Assert.ThrowsAsync<MeshException>(() => request.WaitAsync(Bound.Timeout));
        Assert.That(failure.Reason, Is.EqualTo(MeshFailureReason.Timeout));
        Assert.That(failure.Service, Is.EqualTo("backend"));
        Assert.That(failure.Message, Is.EqualTo("Service 'backend' (route 'api') did not answer within the route timeout of 00:00:02 (1 attempt(s))."));
        Assert.That(timeouts.GetMeasurementSnapshot().Single().Tags[MeshTelemetry.Tags.TimeoutKind], Is.EqualTo("total"));
    }

    [Test]
    public async Task ExecuteAsync_TotalTimeoutDuringRetries_StopsRetrying()
    {
        // Per try 1 s, total 2.5 s: tries at 0 s and 1 s time out, the third (from 2 s) is cut by the total at 2.5 s.
        using var harness = new ExecutorHarness(ExecutorHarness.Options(3, route: r =>
        {
            r.Timeout = TimeSpan.FromSeconds(2.5);
            r.Retries = new() { Attempts = 5, RetryOn = "reset", PerTryTimeout = TimeSpan.FromSeconds(1) };
        }));
        harness.Transport.Respond = FakeTransport.Hang;

        var request = harness.SendAsync();
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(0.5));

        var failure = Assert.ThrowsAsync<MeshException>(() => request.WaitAsync(Bound.Timeout));
        Assert.That(failure.Message, Is.EqualTo("Service 'backend' (route 'api') did not answer within the route timeout of 00:00:02.5000000 (3 attempt(s))."));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(3));
        Assert.That(harness.Cluster.State.ActiveRetries, Is.Zero);
    }

    [Test]
    public async Task ExecuteAsync_RetriableAnswerAfterTheRouteTimeout_FailsWithTimeoutWithoutRetrying()
    {
        // The transport does not stop at the cancellation: its 503 arrives 1 s after the route's 2 s, when no time is left to retry.
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r =>
        {
            r.Timeout = TimeSpan.FromSeconds(2);
            r.Retries = new() { Attempts = 2, RetryOn = "5xx" };
        }));
        using var retries = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.retries");
        using var timeouts = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.timeouts");
        harness.Transport.Respond = async _ =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3), harness.Time);
            return 503;
        };

        var request = harness.SendAsync();
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(2));
        var completedAtTheTimeout = request.IsCompleted;
        harness.Time.Advance(TimeSpan.FromSeconds(1));

        var failure = Assert.ThrowsAsync<MeshException>(() => request.WaitAsync(Bound.Timeout));
        Assert.That(completedAtTheTimeout, Is.False, "the attempt is still running");
        Assert.That(failure.Message, Is.EqualTo("Service 'backend' (route 'api') did not answer within the route timeout of 00:00:02 (1 attempt(s))."));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1));
        Assert.That(retries.GetMeasurementSnapshot(), Is.Empty);
        Assert.That(timeouts.GetMeasurementSnapshot().Single().Tags[MeshTelemetry.Tags.TimeoutKind], Is.EqualTo("total"));
        Assert.That(harness.Cluster.State.ActiveRetries, Is.Zero);
    }

    [Test]
    public async Task ExecuteAsync_CallerCancelsDuringAnAttemptWithTimeouts_ThrowsTheCancellationAndReportsNothing()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(
            2,
            s => s.OutlierDetection = new() { Consecutive5xxErrors = 1 },
            r =>
            {
                r.Timeout = TimeSpan.FromSeconds(10);
                r.Retries = new() { Attempts = 2, RetryOn = "reset", PerTryTimeout = TimeSpan.FromSeconds(3) };
            }));
        using var timeouts = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.timeouts");
        using var caller = new CancellationTokenSource();
        harness.Transport.Respond = FakeTransport.Hang;

        var request = harness.SendAsync(cancellationToken: caller.Token);
        var attempt = await harness.Transport.NextAttemptAsync();
        await caller.CancelAsync();

        Assert.That(async () => await request.WaitAsync(Bound.Timeout), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(attempt.Token.IsCancellationRequested, Is.True, "the caller's cancellation reached the attempt");
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1), "not retried");
        Assert.That(timeouts.GetMeasurementSnapshot(), Is.Empty, "not a timeout");
        Assert.That(attempt.Endpoint.State.Outlier.IntervalFailures, Is.Zero, "not the endpoint's failure");
        Assert.That(attempt.Endpoint.State.InFlight, Is.Zero);
        Assert.That(harness.Cluster.State.ActiveRequests, Is.Zero);
    }

    [Test]
    public async Task ExecuteAsync_TransportLeavesItsSpanCurrent_RetryEventAndNextAttemptBelongToTheRequestSpan()
    {
        // The HTTP transport starts its attempt span as the current activity, as a synchronous method in the executor's flow.
        using var source = new ActivitySource("Mesh.Core.Tests.Attempts");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name || s.Name == MeshTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Retries = new() { Attempts = 1, RetryOn = "5xx" }));
        var parents = new List<Activity?>();
        harness.Transport.Respond = a =>
        {
            parents.Add(Activity.Current);
            source.StartActivity("attempt");
            return ValueTask.FromResult(a.Index == 0 ? 503 : 200);
        };

        using var requestSpan = source.StartActivity("request");
        var status = await harness.SendAndWaitAsync();

        Assert.That(status, Is.EqualTo(200));
        Assert.That(parents, Is.EqualTo(new[] { requestSpan, requestSpan }));
        Assert.That(requestSpan!.Events.Select(e => e.Name), Is.EqualTo(new[] { "mesh.retry" }));
        Assert.That(Activity.Current, Is.SameAs(requestSpan));
    }

    [Test]
    public async Task ExecuteAsync_AbortAllRequests_AnswersLocallyWithoutTheTransport()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Fault = new() { Abort = new() { HttpStatus = 503, Percentage = 100 } }), executorRandom: new ScriptedRandom());
        using var faults = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.faults");

        var status = await harness.SendAndWaitAsync();

        Assert.That(status, Is.EqualTo(503));
        Assert.That(harness.Transport.Sent, Is.Empty);
        Assert.That(harness.Transport.LocalReplies, Is.EqualTo(1));
        Assert.That(faults.GetMeasurementSnapshot().Single().Tags[MeshTelemetry.Tags.FaultKind], Is.EqualTo("abort"));
    }

    [Test]
    public async Task ExecuteAsync_AbortHalfOfRequests_AbortsExactlyTheDrawsBelowTheShare()
    {
        // A request is aborted when draw x 100 < 50.
        double[] draws = [0.1, 0.7, 0.49, 0.5, 0.99, 0.0, 0.4999, 0.51];
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Fault = new() { Abort = new() { HttpStatus = 429, Percentage = 50 } }), executorRandom: new ScriptedRandom(draws));

        var statuses = new List<int>();
        foreach (var _ in draws)
        {
            statuses.Add(await harness.SendAndWaitAsync());
        }

        Assert.That(statuses, Is.EqualTo(new[] { 429, 200, 429, 200, 200, 429, 429, 200 }));
        Assert.That(harness.Transport.LocalReplies, Is.EqualTo(draws.Count(d => d * 100 < 50)));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(4));
    }

    [Test]
    public async Task ExecuteAsync_DelayFault_WaitsTheConfiguredTimeBeforeSending()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Fault = new() { Delay = new() { FixedDelay = TimeSpan.FromSeconds(3), Percentage = 100 } }));

        var request = harness.SendAsync();
        harness.Time.Advance(TimeSpan.FromMilliseconds(2999));
        Assert.That(harness.Transport.Sent, Is.Empty);
        Assert.That(request.IsCompleted, Is.False);
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.That(await request.WaitAsync(Bound.Timeout), Is.EqualTo(200));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ExecuteAsync_DelayFaultNotDrawn_SendsAtOnce()
    {
        using var harness = new ExecutorHarness(
            ExecutorHarness.Options(2, route: r => r.Fault = new() { Delay = new() { FixedDelay = TimeSpan.FromSeconds(3), Percentage = 25 } }),
            executorRandom: new ScriptedRandom([0.25]));

        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ExecuteAsync_RouteRateLimit_RefusesBeyondTokensUntilThePeriodRefills()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.RateLimit = new() { TokensPerPeriod = 2, Period = TimeSpan.FromSeconds(1) }));
        using var limited = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.rate_limited");

        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        var refusal = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());

        Assert.That(refusal.Reason, Is.EqualTo(MeshFailureReason.RateLimited));
        Assert.That(refusal.Message, Is.EqualTo("Service 'backend': the local rate limit of the route 'api' (2 per 00:00:01, burst 2) refused the request."));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(2));
        Assert.That(limited.GetMeasurementSnapshot(), Has.Count.EqualTo(1));

        harness.Time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());
    }

    [Test]
    public async Task ExecuteAsync_ServiceRateLimitWithBurst_RefillsUpToTheBurst()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, s => s.RateLimit = new() { TokensPerPeriod = 1, Period = TimeSpan.FromSeconds(1), Burst = 3 }));

        for (var i = 0; i < 3; i++)
        {
            Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        }

        var refusal = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());
        Assert.That(refusal.Message, Is.EqualTo("Service 'backend': the local rate limit of the service (1 per 00:00:01, burst 3) refused the request."));

        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
        Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync(), "two periods refill two tokens");
    }

    [Test]
    public async Task ExecuteAsync_Hedging_SendsSecondAttemptAfterDelayToAnotherEndpointAndReturnsFirstGoodAnswer()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Hedging = new() { Delay = TimeSpan.FromMilliseconds(50), MaxAttempts = 2 }));
        using var hedges = new MetricCollector<long>(harness.Telemetry.Meter, "mesh.client.hedges");
        harness.Transport.Respond = static a => a.Index == 0 ? FakeTransport.Hang(a) : ValueTask.FromResult(200);

        var request = harness.SendAsync();
        var primary = await harness.Transport.NextAttemptAsync();
        await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(50));
        harness.Time.Advance(TimeSpan.FromMilliseconds(49));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1));
        harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        var hedge = await harness.Transport.NextAttemptAsync();

        Assert.That(await request.WaitAsync(Bound.Timeout), Is.EqualTo(200));
        Assert.That(hedge.Endpoint, Is.Not.SameAs(primary.Endpoint));
        Assert.That(primary.Token.IsCancellationRequested, Is.True, "the losing attempt is cancelled");
        Assert.That(hedges.GetMeasurementSnapshot(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ExecuteAsync_HedgeLoser_IsNotReportedToOutlierDetection()
    {
        // A hedge the mesh cancels because another attempt answered is not the endpoint's failure.
        using var harness = new ExecutorHarness(ExecutorHarness.Options(
            2,
            s => s.OutlierDetection = new() { Consecutive5xxErrors = 1 },
            r => r.Hedging = new() { Delay = TimeSpan.FromMilliseconds(50), MaxAttempts = 2 }));
        harness.Transport.Respond = static a => a.Index == 0 ? FakeTransport.Hang(a) : ValueTask.FromResult(200);

        var request = harness.SendAsync();
        var primary = await harness.Transport.NextAttemptAsync();
        await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(50));
        harness.Time.Advance(TimeSpan.FromMilliseconds(50));

        Assert.That(await request.WaitAsync(Bound.Timeout), Is.EqualTo(200));
        Assert.That(primary.Endpoint.State.IsEjected, Is.False);
        Assert.That(primary.Endpoint.State.Outlier.IntervalFailures, Is.Zero);
        Assert.That(primary.Endpoint.State.InFlight, Is.Zero);
    }

    [Test]
    public async Task ExecuteAsync_HedgingForNonIdempotentRequest_SendsOnce()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Hedging = new() { Delay = TimeSpan.FromMilliseconds(50), MaxAttempts = 2 }));
        var answer = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Transport.Respond = _ => new ValueTask<int>(answer.Task);

        var request = harness.SendAsync(idempotent: false);
        await harness.Transport.NextAttemptAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        answer.SetResult(200);

        Assert.That(await request.WaitAsync(Bound.Timeout), Is.EqualTo(200));
        Assert.That(harness.Transport.Sent, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ExecuteAsync_HedgedAttemptFails_NextAttemptStartsWithoutWaitingTheDelay()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, route: r => r.Hedging = new() { Delay = TimeSpan.FromSeconds(5), MaxAttempts = 2 }));
        harness.Transport.Respond = static a => ValueTask.FromResult(a.Index == 0 ? 503 : 200);

        var status = await harness.SendAndWaitAsync();

        Assert.That(status, Is.EqualTo(200));
        Assert.That(harness.Transport.Sent.Select(a => a.Endpoint).Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public async Task ExecuteAsync_Attempt_ReportsOutcomeToOutlierDetection()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(3, s => s.OutlierDetection = new() { Consecutive5xxErrors = 2 }, r => r.Retries = new() { Attempts = 0 }));
        harness.Transport.Respond = static _ => ValueTask.FromResult(502);

        await harness.SendAndWaitAsync();
        await harness.SendAndWaitAsync();
        await harness.SendAndWaitAsync();
        await harness.SendAndWaitAsync();

        // Round robin from endpoint 0: 0, 1, 2, 0; the second 502 on endpoint 0 ejects it.
        Assert.That(harness.Endpoints.Select(e => e.State.IsEjected), Is.EqualTo(new[] { true, false, false }));
    }

    [Test]
    public void ExecuteAsync_NoUsableEndpoint_FailsWithTheClusterDescription()
    {
        using var harness = new ExecutorHarness(ExecutorHarness.Options(2, s => s.Endpoints.ForEach(e => e.Health = Mesh.Model.EndpointHealth.Draining)));

        var failure = Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync());

        Assert.That(failure.Reason, Is.EqualTo(MeshFailureReason.NoUsableEndpoint));
        Assert.That(failure.Message, Is.EqualTo("Service 'backend' (route 'default') cannot send: cluster 'backend' has 2 endpoint(s), none usable (2 draining)."));
    }
}
