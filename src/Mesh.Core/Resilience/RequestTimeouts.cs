namespace Mesh.Resilience;

/// <summary>Which of a request's deadlines cancelled its token.</summary>
internal enum TimeoutKind
{
    /// <summary>None did (or the caller cancelled).</summary>
    None,

    /// <summary>The route's timeout, over all attempts and backoffs.</summary>
    Total,

    /// <summary>The retry policy's per-try timeout of the current attempt.</summary>
    PerTry,
}

/// <summary>
/// A request's route timeout and per-try timeout on one <see cref="CancellationTokenSource"/>: armed for each attempt
/// to whichever deadline comes first, for each backoff to the route's alone, and linked to the caller's token only
/// when that can be cancelled. On the system clock the source comes from a pool and goes back to it when no deadline
/// fired (<see cref="CancellationTokenSource.TryReset"/>); a source that fired is replaced for the next attempt.
/// </summary>
/// <remarks>
/// A mutable struct: it lives in the executor's async state machine and is used only through that local, never copied.
/// </remarks>
internal struct RequestTimeouts
{
    private static readonly TimeSpan Infinite = Timeout.InfiniteTimeSpan;

    // The longest delay CancelAfter takes (Timer's limit, about 49.7 days); a longer deadline is armed at it.
    private static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly TimeProvider? _time;
    private readonly TimeSpan _total;
    private readonly TimeSpan _perTry;
    private readonly CancellationToken _caller;
    private readonly long _start;
    private CancellationTokenSource? _source;
    private CancellationTokenRegistration _link;
    private bool _totalArmed;

    /// <summary>Starts the route's timeout now; with neither timeout, the caller's token is passed on as it is and nothing is allocated.</summary>
    public RequestTimeouts(TimeSpan? total, TimeSpan? perTry, TimeProvider time, CancellationToken caller)
    {
        _caller = caller;
        _total = total ?? Infinite;
        _perTry = perTry ?? Infinite;
        if (total is not null || perTry is not null)
        {
            _time = time;
            _start = time.GetTimestamp();
        }
    }

    /// <summary>The deadline that cancelled the current token: <see cref="TimeoutKind.None"/> if none did, or if the caller cancelled.</summary>
    public readonly TimeoutKind Expired =>
        _source is { IsCancellationRequested: true } && !_caller.IsCancellationRequested
            ? _totalArmed ? TimeoutKind.Total : TimeoutKind.PerTry
            : TimeoutKind.None;

    /// <summary>Arms the token for an attempt; false when the route's timeout has already passed.</summary>
    public bool TryStartAttempt(out CancellationToken token) => TryArm(perTry: true, out token);

    /// <summary>Arms the token for a backoff (the route's timeout alone); false when it has already passed.</summary>
    public bool TryStartBackoff(out CancellationToken token) => TryArm(perTry: false, out token);

    /// <summary>Unlinks from the caller and returns the source to the pool, or disposes it if a deadline or the caller cancelled it.</summary>
    public void Dispose()
    {
        var source = _source;
        if (source is null)
        {
            return;
        }

        _source = null;
        _link.Dispose();
        if (ReferenceEquals(_time, TimeProvider.System) && source.TryReset())
        {
            CancellationSourcePool.Return(source);
        }
        else
        {
            source.Dispose();
        }
    }

    private bool TryArm(bool perTry, out CancellationToken token)
    {
        var time = _time;
        if (time is null)
        {
            token = _caller;
            return true;
        }

        var delay = Infinite;
        _totalArmed = false;
        if (_total != Infinite)
        {
            delay = _total - time.GetElapsedTime(_start);
            if (delay <= TimeSpan.Zero)
            {
                token = default;
                return false;
            }

            _totalArmed = true;
        }

        if (perTry && _perTry != Infinite && (!_totalArmed || _perTry < delay))
        {
            delay = _perTry;
            _totalArmed = false;
        }

        var source = _source;
        if (source is null || source.IsCancellationRequested)
        {
            source = Renew(time);
        }

        // Whole milliseconds, rounded up: a deadline may fire up to a millisecond late (as any timer), never early.
        source.CancelAfter(delay == Infinite ? Infinite : delay >= Longest ? Longest : TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds)));
        token = source.Token;
        return true;
    }

    private CancellationTokenSource Renew(TimeProvider time)
    {
        if (_source is { } cancelled)
        {
            _link.Dispose();
            cancelled.Dispose();
        }

        // A source made on another clock (a test's fake) keeps that clock's timer, which TryReset cannot reset, so it is never pooled.
        var source = ReferenceEquals(time, TimeProvider.System) ? CancellationSourcePool.Rent() : new CancellationTokenSource(Infinite, time);
        _link = _caller.CanBeCanceled ? _caller.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), source) : default;
        _source = source;
        return source;
    }
}

/// <summary>
/// A small lock-free pool of <see cref="CancellationTokenSource"/>s on the system clock, each with the timer its first
/// <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/> created, so that a request's timeouts allocate nothing.
/// </summary>
internal static class CancellationSourcePool
{
    private static readonly CancellationTokenSource?[] Items = new CancellationTokenSource?[Math.Max(8, 2 * Environment.ProcessorCount)];

    public static CancellationTokenSource Rent()
    {
        var items = Items;
        for (var i = 0; i < items.Length; i++)
        {
            var item = Volatile.Read(ref items[i]);
            if (item is not null && Interlocked.CompareExchange(ref items[i], null, item) == item)
            {
                return item;
            }
        }

        return new CancellationTokenSource();
    }

    /// <summary>Takes back a source that <see cref="CancellationTokenSource.TryReset"/> reset; disposes it when the pool is full.</summary>
    public static void Return(CancellationTokenSource source)
    {
        var items = Items;
        for (var i = 0; i < items.Length; i++)
        {
            if (Interlocked.CompareExchange(ref items[i], source, null) is null)
            {
                return;
            }
        }

        source.Dispose();
    }
}
