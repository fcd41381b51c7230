using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.ControlPlane.Configuration;
using Mesh.Xds.Server;
using Microsoft.Extensions.Logging;

namespace Mesh.Propagation.Serving;

/// <summary>
/// Where the server's part of a push begins and ends, seen from outside the control plane (its host is internal):
/// the rebuild reads the store once, so the first read after a change marks the end of the debounce; the host's "Published"
/// log event marks the end of translation and <c>SetSnapshot</c>; each stream's "Sent" event of an endpoint
/// push marks when that client's response was written. Stopwatch timestamps: CLOCK_MONOTONIC on Linux, the same
/// clock in both processes.
/// </summary>
internal sealed class ServerTimeline
{
    private const string EndpointsTypeUrl = XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl;

    private long _reads;
    private long _rebuildStart;
    private long _published;
    private long _firstPush;
    private long _lastPush;
    private long _pushes;
    private ConcurrentDictionary<string, long> _pushByNode = new(StringComparer.Ordinal);

    /// <summary>Forgets the previous change's marks; called just before the store write.</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref _reads, 0);
        Interlocked.Exchange(ref _rebuildStart, 0);
        Interlocked.Exchange(ref _published, 0);
        Interlocked.Exchange(ref _firstPush, 0);
        Interlocked.Exchange(ref _lastPush, 0);
        Interlocked.Exchange(ref _pushes, 0);
        Interlocked.Exchange(ref _pushByNode, new ConcurrentDictionary<string, long>(StringComparer.Ordinal));
    }

    public TimelineMarks Marks() => new(
        Interlocked.Read(ref _rebuildStart),
        Interlocked.Read(ref _published),
        Interlocked.Read(ref _firstPush),
        Interlocked.Read(ref _lastPush),
        Interlocked.Read(ref _pushes),
        new Dictionary<string, long>(Volatile.Read(ref _pushByNode), StringComparer.Ordinal));

    public void OnStoreRead()
    {
        var now = Stopwatch.GetTimestamp();
        if (Interlocked.Increment(ref _reads) == 1)
        {
            Interlocked.Exchange(ref _rebuildStart, now);
        }
    }

    public void OnPublished() => Interlocked.Exchange(ref _published, Stopwatch.GetTimestamp());

    public void OnPush(string typeUrl, string? nodeId)
    {
        if (typeUrl != EndpointsTypeUrl)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        Interlocked.CompareExchange(ref _firstPush, now, 0);
        Interlocked.Exchange(ref _lastPush, now);
        Interlocked.Increment(ref _pushes);
        if (nodeId is not null)
        {
            // The first endpoint response to each node after the change: one per node when one assignment changed.
            Volatile.Read(ref _pushByNode).TryAdd(nodeId, now);
        }
    }
}

/// <summary>The marks of one change (0 = not seen).</summary>
/// <param name="PushByNode">Per node id: when its first endpoint response after the change was written.</param>
internal sealed record TimelineMarks(long RebuildStart, long Published, long FirstPush, long LastPush, long Pushes, Dictionary<string, long> PushByNode);

/// <summary>The control plane's store, with every read noted on the timeline.</summary>
internal sealed class TimedStore(ServerTimeline timeline) : IConfigStore
{
    private readonly ConfigStore _inner = new();

    public event Action? Changed
    {
        add => _inner.Changed += value;
        remove => _inner.Changed -= value;
    }

    public bool IsSynced => _inner.IsSynced;

    public void Replace(string sourceId, IEnumerable<ConfigObject> objects) => _inner.Replace(sourceId, objects);

    public void Upsert(string sourceId, ConfigObject configObject) => _inner.Upsert(sourceId, configObject);

    public void Delete(string sourceId, ConfigKey key) => _inner.Delete(sourceId, key);

    public void MarkSynced(string sourceId) => _inner.MarkSynced(sourceId);

    public void Register(string sourceId) => _inner.Register(sourceId);

    public IReadOnlyList<ConfigObject> Snapshot()
    {
        timeline.OnStoreRead();
        return _inner.Snapshot();
    }
}

/// <summary>
/// Loggers that record two events on the timeline and drop everything else. Only those two levels and categories
/// are enabled, so the rest of the control plane's logging costs what it costs with logging off.
/// </summary>
internal sealed class TimelineLoggerFactory(ServerTimeline timeline) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => categoryName switch
    {
        "Mesh.ControlPlane.Hosting.ControlPlaneHost" => new EventLogger(LogLevel.Information, (id, state) =>
        {
            if (id.Name == "Published")
            {
                timeline.OnPublished();
            }
        }),
        // The streams log under the service's category.
        "Mesh.Xds.Server.XdsAdsService" => new EventLogger(LogLevel.Debug, (id, state) =>
        {
            if (id.Name == "Push" && state is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                string? typeUrl = null;
                string? nodeId = null;
                foreach (var (key, value) in fields)
                {
                    switch (key)
                    {
                        case "TypeUrl": typeUrl = value as string; break;
                        case "NodeId": nodeId = value as string; break;
                        default: break;
                    }
                }

                if (typeUrl is not null)
                {
                    timeline.OnPush(typeUrl, nodeId);
                }
            }
        }),
        _ => EventLogger.Off,
    };

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class EventLogger(LogLevel minimum, Action<EventId, object?> onEvent) : ILogger
    {
        public static readonly EventLogger Off = new(LogLevel.None, static (_, _) => { });

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                onEvent(eventId, state);
            }
        }
    }
}
