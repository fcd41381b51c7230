using Mesh.Resilience;

namespace Mesh.Core.Tests.Resilience;

/// <summary>A request's route and per-try timeouts on one token source: which deadline is armed, which one fired, and reuse of the source.</summary>
public class RequestTimeoutsTests
{
    private static readonly TimeSpan Total = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PerTry = TimeSpan.FromSeconds(3);

    [Test]
    public void TryStartAttempt_NoTimeouts_PassesTheCallersTokenOn()
    {
        using var caller = new CancellationTokenSource();
        var timeouts = new RequestTimeouts(null, null, new TestTime(), caller.Token);

        var started = timeouts.TryStartAttempt(out var token);

        Assert.That(started, Is.True);
        Assert.That(token, Is.EqualTo(caller.Token));
        Assert.That(timeouts.Expired, Is.EqualTo(TimeoutKind.None));
        timeouts.Dispose();
    }

    [Test]
    public void TryStartAttempt_PerTryEndsFirst_ExpiresAsPerTry()
    {
        var time = new TestTime();
        var timeouts = new RequestTimeouts(Total, PerTry, time, CancellationToken.None);

        timeouts.TryStartAttempt(out var token);
        time.Advance(PerTry - TimeSpan.FromMilliseconds(1));
        var before = token.IsCancellationRequested;
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.That(before, Is.False);
        Assert.That(token.IsCancellationRequested, Is.True);
        Assert.That(timeouts.Expired, Is.EqualTo(TimeoutKind.PerTry));
        timeouts.Dispose();
    }

    [Test]
    public void TryStartAttempt_RouteTimeoutLeavesLessThanATry_ExpiresAsTotal()
    {
        // Tries at 0 s and 3 s and 6 s time out; the fourth, from 9 s, has 1 s of the route's 10 s left.
        var time = new TestTime();
        var timeouts = new RequestTimeouts(Total, PerTry, time, CancellationToken.None);
        var kinds = new List<TimeoutKind>();
        CancellationToken token = default;
        for (var i = 0; i < 3; i++)
        {
            timeouts.TryStartAttempt(out token);
            time.Advance(PerTry);
            kinds.Add(timeouts.Expired);
        }

        timeouts.TryStartAttempt(out var last);
        time.Advance(TimeSpan.FromMilliseconds(999));
        var beforeTotal = last.IsCancellationRequested;
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.That(kinds, Is.EqualTo(new[] { TimeoutKind.PerTry, TimeoutKind.PerTry, TimeoutKind.PerTry }));
        Assert.That(last, Is.Not.EqualTo(token), "a fired source is replaced for the next try");
        Assert.That(beforeTotal, Is.False);
        Assert.That(last.IsCancellationRequested, Is.True);
        Assert.That(timeouts.Expired, Is.EqualTo(TimeoutKind.Total));
        timeouts.Dispose();
    }

    [Test]
    public void TryStartBackoff_AfterAnAttempt_ArmsOnlyTheRouteTimeout()
    {
        var time = new TestTime();
        var timeouts = new RequestTimeouts(Total, PerTry, time, CancellationToken.None);
        timeouts.TryStartAttempt(out _);
        time.Advance(TimeSpan.FromSeconds(1));

        timeouts.TryStartBackoff(out var token);
        time.Advance(PerTry);
        var afterAPerTry = token.IsCancellationRequested;
        time.Advance(TimeSpan.FromSeconds(6));

        Assert.That(afterAPerTry, Is.False, "a backoff has no per-try timeout");
        Assert.That(token.IsCancellationRequested, Is.True, "the route's 10 s are over");
        Assert.That(timeouts.Expired, Is.EqualTo(TimeoutKind.Total));
        timeouts.Dispose();
    }

    [Test]
    public void TryStartAttempt_RouteTimeoutAlreadyPassed_ReturnsFalse()
    {
        var time = new TestTime();
        var timeouts = new RequestTimeouts(Total, null, time, CancellationToken.None);
        timeouts.TryStartAttempt(out _);
        time.Advance(Total);

        Assert.That(timeouts.TryStartAttempt(out _), Is.False);
        Assert.That(timeouts.TryStartBackoff(out _), Is.False);
        timeouts.Dispose();
    }

    [Test]
    public void Expired_CallerCancelled_IsNoneAndTheTokenIsCancelled()
    {
        using var caller = new CancellationTokenSource();
        var timeouts = new RequestTimeouts(Total, PerTry, new TestTime(), caller.Token);
        timeouts.TryStartAttempt(out var token);

        caller.Cancel();

        Assert.That(token.IsCancellationRequested, Is.True, "the caller's cancellation reaches the attempt");
        Assert.That(timeouts.Expired, Is.EqualTo(TimeoutKind.None), "the caller's cancellation is not a timeout");
        timeouts.Dispose();
    }

    [Test]
    public void Dispose_SystemClockAndNothingFired_ReusesTheSourceWithoutAllocating()
    {
        // Warm-up: the first request makes the source and its timer and leaves them in the pool.
        var first = new RequestTimeouts(Total, PerTry, TimeProvider.System, CancellationToken.None);
        first.TryStartAttempt(out _);
        first.TryStartBackoff(out _);
        first.TryStartAttempt(out _);
        first.Dispose();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var second = new RequestTimeouts(Total, PerTry, TimeProvider.System, CancellationToken.None);
        second.TryStartAttempt(out var token);
        second.TryStartBackoff(out _);
        second.TryStartAttempt(out _);
        second.Dispose();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero);
        Assert.That(token.IsCancellationRequested, Is.False, "the source was reset, not cancelled");
    }

    [Test]
    public void Dispose_FakeClock_DisposesTheSource()
    {
        // A source on another clock cannot be reset (its timer is not the runtime's), so it must not reach the pool.
        var timeouts = new RequestTimeouts(Total, PerTry, new TestTime(), CancellationToken.None);
        timeouts.TryStartAttempt(out var token);

        timeouts.Dispose();

        Assert.That(() => token.WaitHandle, Throws.InstanceOf<ObjectDisposedException>());
    }
}
