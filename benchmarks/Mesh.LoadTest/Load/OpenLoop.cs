using System.Diagnostics;
using System.Net;
using System.Threading.Tasks.Sources;
using Mesh.LoadTest.Clients;

namespace Mesh.LoadTest.Load;

/// <summary>
/// A fixed request rate with coordinated-omission-safe latency: request i is due at <c>start + i / rate</c>, and its
/// latency runs from that intended time to the end of its response, whenever it was actually sent. A stalled client
/// or server therefore shows up in the latency of every request it delayed, not as a gap in the samples.
/// </summary>
/// <remarks>
/// A dedicated thread keeps the schedule, sleeping with microsecond precision (<see cref="PreciseSleep"/>), and hands
/// each due request to an idle sender: a long-lived async loop over a reusable <see cref="IValueTaskSource{TResult}"/>,
/// queued to the thread pool as its own work item, so the harness allocates nothing per request and the scheduler
/// never waits for a send (at tens of thousands of requests per second one thread cannot send them all). When every
/// sender is busy (<c>maxOutstanding</c> requests in flight) the schedule waits, and that wait is latency too.
/// </remarks>
internal sealed class OpenLoop
{
    private readonly Variant _variant;
    private readonly LatencyRecorder _recorder;
    private readonly Sender[] _idle;
    private readonly Lock _idleLock = new();
    private readonly long[] _lags;
    private int _idleCount;
    private int _lagCount;
    private long _completed;
    private long _errors;
    private string? _firstError;
    private volatile bool _closed;
    private double _rate;
    private TimeSpan _duration;
    private long _scheduled;
    private bool _inline;
    // The senders' loops, kept so that their tasks (and any fault in them) stay reachable for the run's lifetime.
    private Task[] _senders = [];

    private OpenLoop(Variant variant, LatencyRecorder recorder, int maxOutstanding, int expected)
    {
        _variant = variant;
        _recorder = recorder;
        _idle = new Sender[maxOutstanding];
        _lags = new long[expected];
    }

    /// <summary>
    /// Prepares a run: the senders, their state machines and the lag buffer are allocated here, before the caller
    /// starts measuring, so that <see cref="RunAsync"/> allocates nothing of its own per request.
    /// </summary>
    public static OpenLoop Create(Variant variant, double rate, TimeSpan duration, int maxOutstanding, LatencyRecorder recorder, bool inline)
    {
        recorder.Reset();
        var scheduled = (long)Math.Floor(rate * duration.TotalSeconds);
        var run = new OpenLoop(variant, recorder, maxOutstanding, (int)Math.Min(scheduled + 1, 50_000_000))
        {
            _rate = rate,
            _duration = duration,
            _scheduled = scheduled,
            _inline = inline,
        };
        run._senders = new Task[maxOutstanding];
        for (var i = 0; i < maxOutstanding; i++)
        {
            run._senders[i] = new Sender(run).RunAsync();
        }

        return run;
    }

    /// <summary>Runs the schedule, then waits up to <paramref name="drainTimeout"/> for the requests still in flight.</summary>
    public async Task<LoadResult> RunAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var saturated = 0L;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scheduler = new Thread(() =>
        {
            try
            {
                saturated = Schedule(_rate, _scheduled, cancellationToken);
                done.TrySetResult();
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "open-loop scheduler",
        };
        scheduler.Start();
        await done.Task;

        // Wait for the requests still in flight, then stop the senders (those stuck past the drain timeout stop recording).
        var maxOutstanding = _idle.Length;
        var drainEnd = Stopwatch.GetTimestamp() + (long)(drainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (IdleCount < maxOutstanding && Stopwatch.GetTimestamp() < drainEnd && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(2, CancellationToken.None);
        }

        _closed = true;
        var unfinished = maxOutstanding - IdleCount;
        StopIdleSenders();
        var lags = _lags.AsSpan(0, Math.Min(_lagCount, _lags.Length));
        lags.Sort();
        return new LoadResult
        {
            Completed = Interlocked.Read(ref _completed),
            CompletedTotal = Interlocked.Read(ref _completed),
            Errors = Interlocked.Read(ref _errors) + unfinished,
            FirstError = _firstError ?? (unfinished > 0 ? $"{unfinished} requests unanswered after the drain timeout" : null),
            Seconds = _duration.TotalSeconds,
            Latency = _recorder.Summarize(),
            Scheduled = _scheduled,
            Unfinished = unfinished,
            SendLagP99 = lags.IsEmpty ? 0 : Micros(lags[Math.Clamp((int)Math.Ceiling(0.99 * lags.Length) - 1, 0, lags.Length - 1)]),
            SendLagMax = lags.IsEmpty ? 0 : Micros(lags[^1]),
            Saturated = saturated,
        };
    }

    private int IdleCount
    {
        get
        {
            lock (_idleLock)
            {
                return _idleCount;
            }
        }
    }

    private static double Micros(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    /// <summary>The scheduler thread: each request at its intended time, handed to an idle sender.</summary>
    private long Schedule(double rate, long count, CancellationToken cancellationToken)
    {
        PreciseSleep.ReduceTimerSlack();
        PreciseSleep.RaisePriority();
        var interval = Stopwatch.Frequency / rate;
        var pause = Stopwatch.Frequency / 20_000;
        var start = Stopwatch.GetTimestamp();
        long saturated = 0;
        for (long i = 0; i < count && !cancellationToken.IsCancellationRequested; i++)
        {
            var intended = start + (long)(i * interval);
            PreciseSleep.SleepUntil(intended);
            Sender? sender;
            while ((sender = TakeIdle()) is null)
            {
                saturated++;
                if (cancellationToken.IsCancellationRequested)
                {
                    return saturated;
                }

                PreciseSleep.Sleep(pause);
            }

            var lag = Stopwatch.GetTimestamp() - intended;
            if (_lagCount < _lags.Length)
            {
                _lags[_lagCount++] = lag;
            }

            if (_inline)
            {
                sender.Start(intended);
            }
            else
            {
                sender.Dispatch(intended);
            }
        }

        return saturated;
    }

    private Sender? TakeIdle()
    {
        lock (_idleLock)
        {
            return _idleCount == 0 ? null : _idle[--_idleCount];
        }
    }

    private void ReturnIdle(Sender sender)
    {
        lock (_idleLock)
        {
            _idle[_idleCount++] = sender;
        }
    }

    private void StopIdleSenders()
    {
        while (TakeIdle() is { } sender)
        {
            sender.Start(-1);
        }
    }

    private void Complete(long intended, bool ok, string? error)
    {
        if (_closed)
        {
            return;
        }

        if (ok)
        {
            _recorder.Record(Stopwatch.GetTimestamp() - intended);
            Interlocked.Increment(ref _completed);
        }
        else
        {
            _firstError ??= error;
            Interlocked.Increment(ref _errors);
        }
    }

    /// <summary>One request at a time, resumed with the intended send time (negative: stop).</summary>
    private sealed class Sender(OpenLoop owner) : IValueTaskSource<long>, IThreadPoolWorkItem
    {
        private ManualResetValueTaskSourceCore<long> _core;
        private long _intended;

        /// <summary>From the scheduler: the send runs on a thread-pool thread, so the scheduler only keeps time.</summary>
        public void Dispatch(long intended)
        {
            _intended = intended;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        /// <summary>Resumes the loop on the calling thread.</summary>
        public void Start(long intended) => _core.SetResult(intended);

        void IThreadPoolWorkItem.Execute() => Start(_intended);

        public async Task RunAsync()
        {
            while (true)
            {
                _core.Reset();
                owner.ReturnIdle(this);
                var intended = await new ValueTask<long>(this, _core.Version);
                if (intended < 0)
                {
                    return;
                }

                // Written out here rather than in a method of its own so that no async state machine is allocated
                // per request: this loop's is reused. The send runs inline on the thread-pool thread that resumed it.
                var ok = false;
                string? error = null;
                try
                {
                    using var response = await owner._variant.Client.GetAsync(owner._variant.NextTarget(), CancellationToken.None);
                    ok = response.StatusCode == HttpStatusCode.OK;
                    error = ok ? null : $"HTTP {(int)response.StatusCode}";
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    error = ex.GetBaseException().Message;
                }

                owner.Complete(intended, ok, error);
            }
        }

        long IValueTaskSource<long>.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<long>.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<long>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
