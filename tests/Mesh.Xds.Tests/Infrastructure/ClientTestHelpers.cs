using System.Threading.Channels;
using Mesh.Xds.Client;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>Bounds for the xDS client tests' awaits, so a hang fails one test instead of the run.</summary>
internal static class ClientTestTimeouts
{
    /// <summary>For any single await: generous for a loaded machine, never reached when things work.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);

    /// <summary>For "nothing happens" checks: long enough for a wrong callback to show up, short enough to keep the run fast.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
}

/// <summary>Polling with a deadline, instead of fixed sleeps.</summary>
internal static class ClientPoll
{
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + ClientTestTimeouts.Default;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {ClientTestTimeouts.Default.TotalSeconds} s waiting until {what}.");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>
    /// Moves fake time forward by <paramref name="step"/> until <paramref name="condition"/> holds, giving the client a
    /// moment of real time after each step (its timers may be created a little after the event that starts them).
    /// </summary>
    public static async Task AdvanceUntilAsync(FakeTimeProvider time, TimeSpan step, Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + ClientTestTimeouts.Default;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {ClientTestTimeouts.Default.TotalSeconds} s advancing fake time until {what}.");
            }

            time.Advance(step);
            await Task.Delay(10);
        }
    }
}

/// <summary>What a <see cref="RecordingWatcher"/> was told.</summary>
internal enum WatcherEventKind
{
    Changed,
    DoesNotExist,
    Error,
}

internal sealed record WatcherEvent(WatcherEventKind Kind, object? Resource, string? Error)
{
    public override string ToString() => Kind switch
    {
        WatcherEventKind.Changed => $"Changed({Resource})",
        WatcherEventKind.Error => $"Error({Error})",
        _ => "DoesNotExist",
    };
}

/// <summary>Counts watcher callbacks running at the same time, across watchers sharing it.</summary>
internal sealed class ConcurrencyProbe
{
    private int _current;
    private int _max;

    public int MaxConcurrent => Volatile.Read(ref _max);

    public void Enter()
    {
        var now = Interlocked.Increment(ref _current);
        int max;
        while (now > (max = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, now, max) != max)
        {
        }
    }

    public void Exit() => Interlocked.Decrement(ref _current);
}

/// <summary>An <see cref="IXdsResourceWatcher"/> that queues what it is told, for tests to await.</summary>
internal sealed class RecordingWatcher(ConcurrencyProbe? probe = null, TimeSpan? callbackDuration = null) : IXdsResourceWatcher
{
    private readonly Channel<WatcherEvent> _events = Channel.CreateUnbounded<WatcherEvent>();
    private readonly List<WatcherEvent> _all = [];

    public IReadOnlyList<WatcherEvent> All
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    public void OnChanged(object resource) => Record(new WatcherEvent(WatcherEventKind.Changed, resource, null));

    public void OnResourceDoesNotExist() => Record(new WatcherEvent(WatcherEventKind.DoesNotExist, null, null));

    public void OnError(string error) => Record(new WatcherEvent(WatcherEventKind.Error, null, error));

    public async Task<WatcherEvent> NextAsync()
    {
        using var cts = new CancellationTokenSource(ClientTestTimeouts.Default);
        try
        {
            return await _events.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"No watcher callback within {ClientTestTimeouts.Default.TotalSeconds} s; seen so far: {string.Join(", ", All)}.");
            throw;
        }
    }

    public async Task<T> NextChangedAsync<T>()
    {
        var next = await NextAsync();
        Assert.That(next.Kind, Is.EqualTo(WatcherEventKind.Changed), $"expected OnChanged, got {next}");
        return (T)next.Resource!;
    }

    public async Task<string> NextErrorAsync()
    {
        var next = await NextAsync();
        Assert.That(next.Kind, Is.EqualTo(WatcherEventKind.Error), $"expected OnError, got {next}");
        return next.Error!;
    }

    public async Task NextDoesNotExistAsync()
    {
        var next = await NextAsync();
        Assert.That(next.Kind, Is.EqualTo(WatcherEventKind.DoesNotExist), $"expected OnResourceDoesNotExist, got {next}");
    }

    /// <summary>The next callback if one comes within <paramref name="wait"/> (default <see cref="ClientTestTimeouts.Quiet"/>), else null.</summary>
    public async Task<WatcherEvent?> EventWithinAsync(TimeSpan? wait = null)
    {
        using var cts = new CancellationTokenSource(wait ?? ClientTestTimeouts.Quiet);
        try
        {
            return await _events.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Skips <see cref="WatcherEventKind.Error"/> callbacks (stream errors while reconnecting) up to the next other one.</summary>
    public async Task<WatcherEvent> NextIgnoringErrorsAsync()
    {
        while (true)
        {
            var next = await NextAsync();
            if (next.Kind != WatcherEventKind.Error)
            {
                return next;
            }
        }
    }

    private void Record(WatcherEvent e)
    {
        probe?.Enter();
        try
        {
            if (callbackDuration is { } duration)
            {
                Thread.Sleep(duration);
            }

            lock (_all)
            {
                _all.Add(e);
            }

            _events.Writer.TryWrite(e);
        }
        finally
        {
            probe?.Exit();
        }
    }
}
