using Mesh.Resilience;
using Polly.CircuitBreaker;

namespace Mesh.Core.Tests.Resilience;

/// <summary>One lock-free circuit breaker on the fake clock: the sampling window, opening, the half-open probe, closing, and concurrent outcomes.</summary>
public class CircuitBreakerStateTests
{
    private static readonly TimeSpan Sampling = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Break = TimeSpan.FromSeconds(5);

    [Test]
    public void OnFailure_RatioReachedAtMinimumThroughput_OpensOnce()
    {
        var (breaker, time, transitions) = Create(ratio: 0.5, minimumThroughput: 4);

        breaker.OnSuccess(time.GetTimestamp());
        breaker.OnFailure(time.GetTimestamp(), null);
        breaker.OnSuccess(time.GetTimestamp());
        var beforeFourth = breaker.Position;
        breaker.OnFailure(time.GetTimestamp(), null);
        breaker.OnFailure(time.GetTimestamp(), null);

        Assert.That(beforeFourth, Is.EqualTo(CircuitPosition.Closed), "1 of 3 failed, below the throughput of 4");
        Assert.That(breaker.Position, Is.EqualTo(CircuitPosition.Open), "2 of 4 failed: 0.5 at the minimum throughput");
        Assert.That(transitions, Is.EqualTo(new[] { CircuitPosition.Open }), "a failure while open changes nothing");
        Assert.That(breaker.TryPass(time.GetTimestamp()), Is.False);
    }

    [Test]
    public void OnFailure_RatioJustBelow_StaysClosed()
    {
        var (breaker, time, transitions) = Create(ratio: 0.5, minimumThroughput: 2);

        for (var i = 0; i < 6; i++)
        {
            breaker.OnSuccess(time.GetTimestamp());
        }

        for (var i = 0; i < 5; i++)
        {
            breaker.OnFailure(time.GetTimestamp(), null);
        }

        Assert.That(breaker.Health(time.GetTimestamp()), Is.EqualTo((11L, 5L)));
        Assert.That(breaker.Position, Is.EqualTo(CircuitPosition.Closed), "5 of 11 is below 0.5");
        Assert.That(transitions, Is.Empty);
    }

    [Test]
    public void Health_OutcomeOlderThanTheSamplingDuration_NoLongerCounts()
    {
        var (breaker, time, _) = Create();
        breaker.OnFailure(time.GetTimestamp(), null);

        time.Advance(Sampling - TimeSpan.FromMilliseconds(1));
        var justInside = breaker.Health(time.GetTimestamp());
        time.Advance(TimeSpan.FromMilliseconds(1));
        var outside = breaker.Health(time.GetTimestamp());

        Assert.That(justInside, Is.EqualTo((1L, 1L)));
        Assert.That(outside, Is.EqualTo((0L, 0L)));
    }

    [Test]
    public void OnFailure_OldFailuresLeftTheWindow_DoNotOpen()
    {
        var (breaker, time, _) = Create(ratio: 0.5, minimumThroughput: 4);
        breaker.OnFailure(time.GetTimestamp(), null);
        breaker.OnFailure(time.GetTimestamp(), null);
        breaker.OnFailure(time.GetTimestamp(), null);

        // A bucket slot is reused for the later period: the three old failures are replaced, not added to.
        time.Advance(Sampling);
        breaker.OnSuccess(time.GetTimestamp());
        breaker.OnSuccess(time.GetTimestamp());
        breaker.OnSuccess(time.GetTimestamp());
        breaker.OnFailure(time.GetTimestamp(), null);

        Assert.That(breaker.Health(time.GetTimestamp()), Is.EqualTo((4L, 1L)));
        Assert.That(breaker.Position, Is.EqualTo(CircuitPosition.Closed));
    }

    [Test]
    public void TryPass_AfterBreak_LetsExactlyOneProbeThrough()
    {
        var (breaker, time, transitions) = Create();
        Open(breaker, time);

        time.Advance(Break - TimeSpan.FromTicks(1));
        var beforeBreakEnds = breaker.TryPass(time.GetTimestamp());
        time.Advance(TimeSpan.FromTicks(1));
        var probe = breaker.TryPass(time.GetTimestamp());
        var second = breaker.TryPass(time.GetTimestamp());
        time.Advance(Break * 3);
        var whileProbeHangs = breaker.TryPass(time.GetTimestamp());

        Assert.That((beforeBreakEnds, probe, second, whileProbeHangs), Is.EqualTo((false, true, false, false)));
        Assert.That(breaker.Position, Is.EqualTo(CircuitPosition.HalfOpen));
        Assert.That(transitions, Is.EqualTo(new[] { CircuitPosition.Open, CircuitPosition.HalfOpen }));
    }

    [Test]
    public void OnSuccess_HalfOpen_ClosesWithAnEmptyWindow()
    {
        var (breaker, time, transitions) = Create(minimumThroughput: 2);
        Open(breaker, time);
        time.Advance(Break);
        Assert.That(breaker.TryPass(time.GetTimestamp()), Is.True);

        breaker.OnSuccess(time.GetTimestamp());
        var health = breaker.Health(time.GetTimestamp());
        breaker.OnFailure(time.GetTimestamp(), null);

        Assert.That(health, Is.EqualTo((0L, 0L)), "the failures that opened the circuit do not count after it closes");
        Assert.That(breaker.Position, Is.EqualTo(CircuitPosition.Closed), "one failure is below the minimum throughput of 2");
        Assert.That(breaker.TryPass(time.GetTimestamp()), Is.True);
        Assert.That(transitions, Is.EqualTo(new[] { CircuitPosition.Open, CircuitPosition.HalfOpen, CircuitPosition.Closed }));
    }

    [Test]
    public void OnFailure_HalfOpen_OpensForAnotherFullBreak()
    {
        var (breaker, time, transitions) = Create();
        Open(breaker, time);
        time.Advance(Break + TimeSpan.FromSeconds(1));
        Assert.That(breaker.TryPass(time.GetTimestamp()), Is.True);
        time.Advance(TimeSpan.FromSeconds(2));

        breaker.OnFailure(time.GetTimestamp(), null);
        time.Advance(Break - TimeSpan.FromTicks(1));
        var beforeBreakEnds = breaker.TryPass(time.GetTimestamp());
        time.Advance(TimeSpan.FromTicks(1));
        var afterBreak = breaker.TryPass(time.GetTimestamp());

        Assert.That((beforeBreakEnds, afterBreak), Is.EqualTo((false, true)), "the new break counts from the failed probe");
        Assert.That(transitions, Is.EqualTo(new[] { CircuitPosition.Open, CircuitPosition.HalfOpen, CircuitPosition.Open, CircuitPosition.HalfOpen }));
    }

    [Test]
    public void CreateRefusal_WhileOpen_HasPollysMessageTheTimeLeftAndTheLastFailure()
    {
        var (breaker, time, _) = Create(minimumThroughput: 2);
        var last = new TimeoutException("last");
        breaker.OnFailure(time.GetTimestamp(), new InvalidOperationException("first"));
        breaker.OnFailure(time.GetTimestamp(), last);
        time.Advance(TimeSpan.FromSeconds(2));

        var refusal = breaker.CreateRefusal(time.GetTimestamp());

        Assert.That(refusal, Is.TypeOf<BrokenCircuitException>());
        Assert.That(refusal.Message, Is.EqualTo("The circuit is now open and is not allowing calls."));
        Assert.That(refusal.RetryAfter, Is.EqualTo(Break - TimeSpan.FromSeconds(2)));
        Assert.That(refusal.InnerException, Is.SameAs(last));
    }

    [Test]
    public void OnSuccessAndOnFailure_WhileClosed_AllocateNothing()
    {
        var (breaker, time, _) = Create(ratio: 1, minimumThroughput: 1000);
        breaker.OnSuccess(time.GetTimestamp());
        breaker.OnFailure(time.GetTimestamp(), null);
        var timestamp = time.GetTimestamp();

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            breaker.TryPass(timestamp);
            breaker.OnSuccess(timestamp);
            breaker.OnFailure(timestamp, null);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero);
        Assert.That(breaker.Health(timestamp), Is.EqualTo((202L, 101L)));
    }

    [Test]
    public async Task OnFailure_ConcurrentOutcomes_CountEveryOneAndOpenExactlyOnce()
    {
        // Ratio 1 and a throughput above what is sent: the count is exact while closed, then the last failures open it.
        const int Threads = 4;
        const int PerThread = 20_000;
        var (breaker, time, transitions) = Create(ratio: 0.5, minimumThroughput: (2 * Threads * PerThread) + 1);
        var timestamp = time.GetTimestamp();
        using var start = new Barrier(Threads);

        // Threads of their own (LongRunning), so that all of them reach the barrier at once on a small machine.
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(_ => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                for (var i = 0; i < PerThread; i++)
                {
                    breaker.OnSuccess(timestamp);
                    breaker.OnFailure(timestamp, null);
                }
            },
            TaskCreationOptions.LongRunning))).WaitAsync(Bound.Timeout);
        var counted = breaker.Health(timestamp);
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(_ => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                for (var i = 0; i < 100; i++)
                {
                    breaker.OnFailure(timestamp, null);
                }
            },
            TaskCreationOptions.LongRunning))).WaitAsync(Bound.Timeout);

        Assert.That(counted, Is.EqualTo(((long)2 * Threads * PerThread, (long)Threads * PerThread)));
        Assert.That(breaker.Position, Is.EqualTo(CircuitPosition.Open));
        Assert.That(transitions, Is.EqualTo(new[] { CircuitPosition.Open }), "many failures reach the threshold together; one opens the circuit");
    }

    [Test]
    public void TryPass_ErrorRateOpen_RefusesWithoutAskingTheSlowCallBreaker()
    {
        var time = new TestTime();
        var (errorRate, _, _) = Create(time: time);
        var (slowCall, _, _) = Create(time: time, slowCallDuration: TimeSpan.FromSeconds(1));
        var breakers = new ClusterBreakers(errorRate, slowCall);
        Open(slowCall, time);
        time.Advance(Break);
        Open(errorRate, time);

        var refusal = breakers.TryPass(time.GetTimestamp());

        Assert.That(refusal?.Message, Is.EqualTo(CircuitBreakerState.RefusalMessage));
        Assert.That(slowCall.Position, Is.EqualTo(CircuitPosition.Open), "the slow-call breaker's break is over, but a refused attempt does not become its probe");
    }

    [Test]
    public void TryPass_SlowCallOpen_RefusesAndCountsASuccessForTheErrorRateBreaker()
    {
        // The order of the nested Polly breakers this replaces: the outer error-rate breaker saw the inner refusal as an outcome it does not handle.
        var time = new TestTime();
        var (errorRate, _, _) = Create(time: time, minimumThroughput: 100);
        var (slowCall, _, _) = Create(time: time, slowCallDuration: TimeSpan.FromSeconds(1));
        var breakers = new ClusterBreakers(errorRate, slowCall);
        Open(slowCall, time);

        var refusal = breakers.TryPass(time.GetTimestamp());

        Assert.That(refusal, Is.Not.Null);
        Assert.That(errorRate.Health(time.GetTimestamp()), Is.EqualTo((1L, 0L)));
    }

    [Test]
    public void Report_SlowSuccess_IsAFailureOnlyForTheSlowCallBreaker()
    {
        var time = new TestTime();
        var (errorRate, _, _) = Create(time: time, minimumThroughput: 100);
        var (slowCall, _, _) = Create(time: time, minimumThroughput: 100, slowCallDuration: TimeSpan.FromSeconds(1));
        var breakers = new ClusterBreakers(errorRate, slowCall);
        var now = time.GetTimestamp();

        breakers.Report(AttemptOutcome.FromStatus(200), TimeSpan.FromSeconds(1), now, null);
        breakers.Report(AttemptOutcome.FromStatus(200), TimeSpan.FromSeconds(1.5), now, null);
        breakers.Report(AttemptOutcome.FromStatus(503), TimeSpan.Zero, now, null);
        breakers.Report(default, TimeSpan.FromSeconds(9), now, null);

        Assert.That(slowCall.Health(now), Is.EqualTo((4L, 1L)), "only the answered call slower than 1 s; the unreported one counts as a success");
        Assert.That(errorRate.Health(now), Is.EqualTo((4L, 1L)), "only the 503");
    }

    private static void Open(CircuitBreakerState breaker, TestTime time)
    {
        while (breaker.Position != CircuitPosition.Open)
        {
            breaker.OnFailure(time.GetTimestamp(), null);
        }
    }

    private static (CircuitBreakerState Breaker, TestTime Time, List<CircuitPosition> Transitions) Create(
        double ratio = 0.5, int minimumThroughput = 2, TestTime? time = null, TimeSpan? slowCallDuration = null)
    {
        time ??= new TestTime();
        var transitions = new List<CircuitPosition>();
        var settings = new CircuitBreakerOptionsSnapshot(ratio, Sampling, minimumThroughput, Break, slowCallDuration);
        var breaker = new CircuitBreakerState(slowCallDuration is null ? "error_rate" : "slow_call", settings, time, (_, position) =>
        {
            lock (transitions)
            {
                transitions.Add(position);
            }
        });
        return (breaker, time, transitions);
    }
}
