using Polly.CircuitBreaker;

namespace Mesh.Resilience;

/// <summary>Where a circuit breaker stands.</summary>
internal enum CircuitPosition
{
    /// <summary>Attempts pass; outcomes are counted.</summary>
    Closed,

    /// <summary>Attempts are refused until the break duration has passed.</summary>
    Open,

    /// <summary>One probe is in flight; every other attempt is refused until its outcome closes or opens the circuit.</summary>
    HalfOpen,
}

/// <summary>
/// One cluster circuit breaker (error rate or slow calls) with the semantics of Polly's advanced circuit breaker,
/// without a lock or a pipeline around each attempt. Outcomes are counted in ten buckets that together span the
/// sampling duration. A failure that leaves at least the minimum throughput in the window with at least the
/// failure ratio opens the circuit for the break duration; the first attempt after it is a probe (half-open),
/// and the probe's outcome (or any other outcome that arrives while half-open) closes the circuit, with an empty
/// window, or opens it for another break. Passing costs a volatile read; an outcome one compare-and-swap, plus a
/// sum over the ten buckets for a failure. The caller reads the clock (<see cref="TimeProvider.GetTimestamp"/>).
/// </summary>
internal sealed class CircuitBreakerState
{
    /// <summary>Polly's message for a refusal, which the mesh's <see cref="MeshFailureReason.CircuitOpen"/> message quotes.</summary>
    internal const string RefusalMessage = "The circuit is now open and is not allowing calls.";

    private const int Buckets = 10;
    private const int Closed = (int)CircuitPosition.Closed;
    private const int Open = (int)CircuitPosition.Open;
    private const int HalfOpen = (int)CircuitPosition.HalfOpen;

    private readonly TimeProvider _time;
    private readonly Action<CircuitBreakerState, CircuitPosition> _onTransition;
    private readonly long _origin;
    private readonly long _bucketLength;
    private readonly long _breakLength;
    private int _position;
    private long _blockedUntil;

    // Bucket i of the window: successes at [2i], failures at [2i + 1], each as (bucket number << 32) | count, so that a
    // bucket is reused for a later period by one compare-and-swap. A new array replaces it when the circuit closes.
    private long[] _window = new long[2 * Buckets];
    private Exception? _lastFailure;

    public CircuitBreakerState(string kind, CircuitBreakerOptionsSnapshot settings, TimeProvider time, Action<CircuitBreakerState, CircuitPosition> onTransition)
    {
        Kind = kind;
        Settings = settings;
        _time = time;
        _onTransition = onTransition;
        _origin = time.GetTimestamp();
        _bucketLength = Math.Max(1, ToTimestampUnits(TimeSpan.FromTicks(settings.SamplingDuration.Ticks / Buckets)));
        _breakLength = ToTimestampUnits(settings.BreakDuration);
    }

    /// <summary>The telemetry name of the breaker: <c>error_rate</c> or <c>slow_call</c>.</summary>
    public string Kind { get; }

    public CircuitBreakerOptionsSnapshot Settings { get; }

    public CircuitPosition Position => (CircuitPosition)Volatile.Read(ref _position);

    /// <summary>
    /// Whether an attempt may pass at <paramref name="timestamp"/>: always while closed; while open, only the first
    /// attempt after the break, which becomes the probe and moves the circuit to half-open.
    /// </summary>
    public bool TryPass(long timestamp)
    {
        var position = Volatile.Read(ref _position);
        if (position == Closed)
        {
            return true;
        }

        if (position == Open
            && timestamp >= Volatile.Read(ref _blockedUntil)
            && Interlocked.CompareExchange(ref _position, HalfOpen, Open) == Open)
        {
            // As in Polly: were the probe to hang, the circuit stays half-open until it ends.
            Volatile.Write(ref _blockedUntil, timestamp + _breakLength);
            _onTransition(this, CircuitPosition.HalfOpen);
            return true;
        }

        return false;
    }

    /// <summary>Counts an outcome the breaker does not handle (for Polly's predicates: anything but a failure).</summary>
    public void OnSuccess(long timestamp)
    {
        switch (Volatile.Read(ref _position))
        {
            case Closed:
                var window = Volatile.Read(ref _window);
                var bucket = Bucket(timestamp);
                Count(ref window[2 * (int)(bucket % Buckets)], bucket);
                break;
            case HalfOpen:
                // Closing starts an empty window, as Polly resets its metrics: nothing from before the break counts after it.
                Volatile.Write(ref _window, new long[2 * Buckets]);
                if (Interlocked.CompareExchange(ref _position, Closed, HalfOpen) == HalfOpen)
                {
                    _onTransition(this, CircuitPosition.Closed);
                }

                break;

            // Open: an attempt that passed before the circuit opened; its outcome cannot matter, since the window is
            // replaced before the circuit closes again.
        }
    }

    /// <summary>Counts a failure (for the error-rate breaker a failed attempt, for the slow-call breaker a slow one) and opens the circuit if it must.</summary>
    public void OnFailure(long timestamp, Exception? exception)
    {
        Volatile.Write(ref _lastFailure, exception);
        switch (Volatile.Read(ref _position))
        {
            case Closed:
                var window = Volatile.Read(ref _window);
                var bucket = Bucket(timestamp);
                Count(ref window[(2 * (int)(bucket % Buckets)) + 1], bucket);
                var (throughput, failures) = Sum(window, bucket);
                if (throughput >= Settings.MinimumThroughput && failures / (double)throughput >= Settings.Ratio)
                {
                    TryOpen(Closed, timestamp);
                }

                break;
            case HalfOpen:
                TryOpen(HalfOpen, timestamp);
                break;
        }
    }

    /// <summary>The refusal of an attempt at <paramref name="timestamp"/>, as Polly made it: with the time left of the break and the last failure's exception, if any.</summary>
    public BrokenCircuitException CreateRefusal(long timestamp)
    {
        var left = Volatile.Read(ref _blockedUntil) - timestamp;
        var retryAfter = left > 0 ? _time.GetElapsedTime(0, left) : TimeSpan.Zero;
        return Volatile.Read(ref _lastFailure) is { } failure
            ? new BrokenCircuitException(RefusalMessage, retryAfter, failure)
            : new BrokenCircuitException(RefusalMessage, retryAfter);
    }

    /// <summary>The outcomes counted in the window at <paramref name="timestamp"/>.</summary>
    internal (long Throughput, long Failures) Health(long timestamp) => Sum(Volatile.Read(ref _window), Bucket(timestamp));

    private void TryOpen(int from, long timestamp)
    {
        // The end of the break is written before the circuit opens, so that whoever sees it open reads the right end.
        Volatile.Write(ref _blockedUntil, timestamp + _breakLength);
        if (Interlocked.CompareExchange(ref _position, Open, from) == from)
        {
            _onTransition(this, CircuitPosition.Open);
        }
    }

    /// <summary>The number of the bucket period that holds <paramref name="timestamp"/> (wraps after 2^32 periods: years at the shortest valid sampling duration).</summary>
    private uint Bucket(long timestamp) => timestamp <= _origin ? 0 : (uint)((timestamp - _origin) / _bucketLength);

    private static void Count(ref long slot, uint bucket)
    {
        var current = Volatile.Read(ref slot);
        while (true)
        {
            var slotBucket = (uint)(current >> 32);
            long next;
            if (slotBucket == bucket)
            {
                if ((uint)current == uint.MaxValue)
                {
                    return;
                }

                next = current + 1;
            }
            else if ((int)(bucket - slotBucket) > 0)
            {
                next = ((long)bucket << 32) | 1;
            }
            else
            {
                // The slot already counts a later period: this outcome is older than the window.
                return;
            }

            var seen = Interlocked.CompareExchange(ref slot, next, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private static (long Throughput, long Failures) Sum(long[] window, uint bucket)
    {
        long successes = 0;
        long failures = 0;
        for (var i = 0; i < Buckets; i++)
        {
            var s = Volatile.Read(ref window[2 * i]);
            if (bucket - (uint)(s >> 32) < Buckets)
            {
                successes += (uint)s;
            }

            var f = Volatile.Read(ref window[(2 * i) + 1]);
            if (bucket - (uint)(f >> 32) < Buckets)
            {
                failures += (uint)f;
            }
        }

        return (successes + failures, failures);
    }

    private long ToTimestampUnits(TimeSpan duration)
    {
        // Capped so that a timestamp plus a break never overflows.
        var units = duration.Ticks * ((double)_time.TimestampFrequency / TimeSpan.TicksPerSecond);
        return units >= long.MaxValue / 4 ? long.MaxValue / 4 : (long)units;
    }
}
