using System.Collections.Concurrent;
using System.Diagnostics;
using Envoy.Config.Core.V3;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Xds.Server;

/// <summary>
/// The snapshots the xDS server serves, by key (by default the node id; see <see cref="XdsServerOptions.NodeHash"/>),
/// and the connected clients. Setting a snapshot wakes every stream of that key, which then pushes only what changed
/// among what its client subscribed to. A stream whose key has no snapshot yet waits for one.
/// Thread-safe; writers are serialized.
/// </summary>
/// <example><code>
/// services.AddGrpc();
/// services.AddXdsServer();
/// // ...
/// app.MapGrpcService&lt;XdsAdsService&gt;();
/// app.Services.GetRequiredService&lt;XdsSnapshotCache&gt;().SetSnapshot("node-1", XdsResourceSnapshot.Create("v1", listeners, routes, clusters, endpoints));
/// </code></example>
public sealed partial class XdsSnapshotCache
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, XdsResourceSnapshot> _snapshots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<IXdsSnapshotWatcher>> _watchers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, XdsServerClientStatus> _clients = new();
    private readonly ILogger _logger;
    private long _lastStreamId;

    /// <summary>Creates a cache; every argument is optional (defaults: <see cref="XdsNodeHash.NodeId"/>, the system clock, no logging).</summary>
    public XdsSnapshotCache(XdsServerOptions? options = null, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        Options = options ?? new XdsServerOptions();
        if (Options.NodeHash is null)
        {
            throw new ArgumentException($"{nameof(XdsServerOptions)}.{nameof(XdsServerOptions.NodeHash)} is null: set a function from a node to its snapshot key, e.g. {nameof(XdsNodeHash)}.{nameof(XdsNodeHash.NodeId)}.", nameof(options));
        }

        TimeProvider = timeProvider ?? TimeProvider.System;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = LoggerFactory.CreateLogger<XdsSnapshotCache>();
    }

    /// <summary>The options the cache and its streams use.</summary>
    public XdsServerOptions Options { get; }

    /// <summary>The keys that have a snapshot.</summary>
    public IReadOnlyList<string> Keys
    {
        get
        {
            lock (_lock)
            {
                return [.. _snapshots.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The connected clients (one per open ADS stream), in order of connection. Each entry is live.</summary>
    public IReadOnlyList<XdsServerClientStatus> Clients => [.. _clients.Values.OrderBy(static c => c.StreamId)];

    internal TimeProvider TimeProvider { get; }

    internal ILoggerFactory LoggerFactory { get; }

    /// <summary>The snapshot key of <paramref name="node"/>, by <see cref="XdsServerOptions.NodeHash"/>.</summary>
    public string GetSnapshotKey(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Options.NodeHash(node) ?? string.Empty;
    }

    /// <summary>
    /// Publishes <paramref name="snapshot"/> for <paramref name="key"/> when it is consistent, and wakes the streams of
    /// that key. An inconsistent snapshot is rejected and the previous one stays in force.
    /// </summary>
    /// <exception cref="XdsSnapshotException">The snapshot is inconsistent; the exception lists every problem.</exception>
    public void SetSnapshot(string key, XdsResourceSnapshot snapshot)
    {
        if (!TrySetSnapshot(key, snapshot, out var problems))
        {
            throw new XdsSnapshotException(key, snapshot.Version, GetSnapshot(key)?.Version, problems);
        }
    }

    /// <summary>As <see cref="SetSnapshot"/>, returning the problems of an inconsistent snapshot instead of throwing.</summary>
    /// <returns>Whether the snapshot was published.</returns>
    public bool TrySetSnapshot(string key, XdsResourceSnapshot snapshot, out IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(snapshot);
        problems = snapshot.CheckConsistency();
        if (problems.Count > 0)
        {
            string? kept;
            lock (_lock)
            {
                kept = _snapshots.GetValueOrDefault(key)?.Version;
            }

            Log.SnapshotRejected(_logger, snapshot.Version, key, problems.Count, XdsSnapshotException.FormatMessage(key, snapshot.Version, kept, problems));
            return false;
        }

        // Pushes of this snapshot link to whoever published it (the control plane's rebuild span).
        snapshot.Origin = Activity.Current?.Context ?? default;
        int notified;
        lock (_lock)
        {
            // Under the lock, so that a stream that starts watching either sees this snapshot or is woken by it.
            _snapshots[key] = snapshot;
            notified = Notify(key);
        }

        Log.SnapshotSet(_logger, snapshot.Version, key, notified);
        return true;
    }

    /// <summary>The snapshot of <paramref name="key"/>, or null when none is set.</summary>
    public XdsResourceSnapshot? GetSnapshot(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            return _snapshots.GetValueOrDefault(key);
        }
    }

    /// <summary>
    /// Removes the snapshot of <paramref name="key"/>. Connected clients keep what they have (the protocol cannot
    /// retract a whole snapshot) and get updates again once a snapshot is set.
    /// </summary>
    /// <returns>Whether there was a snapshot.</returns>
    public bool ClearSnapshot(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            return _snapshots.Remove(key);
        }
    }

    internal long NextStreamId() => Interlocked.Increment(ref _lastStreamId);

    /// <summary>Starts waking <paramref name="watcher"/> on every snapshot set for <paramref name="key"/>; returns the current one.</summary>
    internal XdsResourceSnapshot? Watch(string key, IXdsSnapshotWatcher watcher)
    {
        lock (_lock)
        {
            if (!_watchers.TryGetValue(key, out var watchers))
            {
                watchers = [];
                _watchers.Add(key, watchers);
            }

            watchers.Add(watcher);
            _clients[watcher.Status.StreamId] = watcher.Status;
            return _snapshots.GetValueOrDefault(key);
        }
    }

    internal void CancelWatch(string key, IXdsSnapshotWatcher watcher)
    {
        lock (_lock)
        {
            if (_watchers.TryGetValue(key, out var watchers) && watchers.Remove(watcher) && watchers.Count == 0)
            {
                _watchers.Remove(key);
            }

            _clients.TryRemove(watcher.Status.StreamId, out _);
        }
    }

    private int Notify(string key)
    {
        if (!_watchers.TryGetValue(key, out var watchers))
        {
            return 0;
        }

        foreach (var watcher in watchers)
        {
            watcher.OnSnapshotChanged();
        }

        return watchers.Count;
    }
}

/// <summary>An open stream, woken when the snapshot of its key changes (go-control-plane's watch).</summary>
internal interface IXdsSnapshotWatcher
{
    /// <summary>The stream's client status.</summary>
    XdsServerClientStatus Status { get; }

    /// <summary>Called under the cache's lock: must only signal the stream, never block or call back into the cache.</summary>
    void OnSnapshotChanged();
}
