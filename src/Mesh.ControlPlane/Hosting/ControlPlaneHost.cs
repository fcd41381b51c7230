using System.Diagnostics;
using System.Globalization;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Model;
using Mesh.ControlPlane.Telemetry;
using Mesh.ControlPlane.Translation;
using Mesh.Xds.Server;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Hosting;

/// <summary>
/// Turns store changes into published xDS snapshots: debounced (a quiet period, bounded by a maximum delay from the
/// first change), then read, translated and set on the cache under one key served to every node. An object that turns
/// invalid keeps its last valid version (logged); a snapshot the cache rejects keeps the last good one (logged).
/// </summary>
internal sealed partial class ControlPlaneHost : IDisposable
{
    /// <summary>The snapshot key every node is served (see <see cref="XdsNodeHash.Constant"/>).</summary>
    public const string SnapshotKey = "mesh";

    private readonly IConfigStore _store;
    private readonly XdsSnapshotCache _cache;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _quiet;
    private readonly TimeSpan _max;
    private readonly string _trustDomain;
    private readonly string _clusterId;
    private readonly ControlPlaneTelemetry? _telemetry;
    private readonly Lock _gate = new();
    private readonly Lock _rebuildGate = new();
    private readonly Dictionary<ConfigKey, ConfigObject> _lastGood = [];
    private ITimer? _timer;
    private long _firstSignal = -1;
    private long _version;
    private bool _disposed;
    private volatile ControlPlaneStatus _status = new(null, [], [], 0);

    public ControlPlaneHost(IConfigStore store, XdsSnapshotCache cache, ILogger<ControlPlaneHost> logger, TimeProvider? time = null, TimeSpan? quiet = null, TimeSpan? max = null, ControlPlaneTelemetry? telemetry = null, string trustDomain = XdsTranslator.DefaultTrustDomain, string clusterId = XdsTranslator.DefaultClusterId)
    {
        _telemetry = telemetry;
        _store = store;
        _cache = cache;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _quiet = quiet ?? TimeSpan.FromMilliseconds(100);
        _max = max ?? TimeSpan.FromSeconds(10);
        _trustDomain = trustDomain;
        _clusterId = clusterId;
    }

    /// <summary>The last translation's outcome.</summary>
    public ControlPlaneStatus Status => _status;

    /// <summary>Subscribes to the store and translates what it has now.</summary>
    public void Start()
    {
        lock (_gate)
        {
            _timer = _time.CreateTimer(static state => ((ControlPlaneHost)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        _store.Changed += Signal;
        Signal();
    }

    /// <summary>Notes a change: the translation runs after <c>quiet</c> without changes, or at most <c>max</c> after the first.</summary>
    public void Signal()
    {
        lock (_gate)
        {
            if (_disposed || _timer is null)
            {
                return;
            }

            var now = _time.GetTimestamp();
            if (_firstSignal < 0)
            {
                _firstSignal = now;
            }

            var left = _max - _time.GetElapsedTime(_firstSignal, now);
            _timer.Change(left < _quiet ? (left < TimeSpan.Zero ? TimeSpan.Zero : left) : _quiet, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnTimer()
    {
        long firstSignal;
        lock (_gate)
        {
            firstSignal = _firstSignal;
            _firstSignal = -1;
        }

        if (firstSignal >= 0)
        {
            _telemetry?.RecordDebounce(_time.GetElapsedTime(firstSignal));
        }

        try
        {
            Rebuild();
        }
#pragma warning disable CA1031 // A timer callback must not throw: log, keep the last snapshot, and wait for the next change.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TranslationFailed(_logger, ex);
        }
    }

    /// <summary>Reads, translates and publishes now (serialized with the debounced runs).</summary>
    public ControlPlaneStatus Rebuild()
    {
        lock (_rebuildGate)
        {
            // Until every source has listed once, a snapshot would tell clients that resources do not exist.
            if (!_store.IsSynced)
            {
                Log.WaitingForSources(_logger);
                return _status;
            }

            var started = _time.GetTimestamp();
            using var activity = ControlPlaneTelemetry.Source.StartActivity("mesh.control_plane.rebuild");
            var current = _store.Snapshot();
            var objects = new List<ConfigObject>(current.Count);
            var kept = new List<string>();
            foreach (var obj in current)
            {
                // Objects are immutable: the very instance that passed last time passes again, so only changed objects are checked.
                var unchanged = _lastGood.TryGetValue(obj.Key, out var previous) && ReferenceEquals(previous, obj);
                IReadOnlyList<string> errors = unchanged ? [] : MeshConfigReader.Validate(obj);
                if (errors.Count == 0)
                {
                    _lastGood[obj.Key] = obj;
                    objects.Add(obj);
                    continue;
                }

                foreach (var error in errors)
                {
                    Log.ObjectRejected(_logger, error);
                }

                if (_lastGood.TryGetValue(obj.Key, out var good))
                {
                    kept.Add($"{obj}: invalid; its last valid version ({good.Origin}) stays in force: {string.Join("; ", errors)}");
                    objects.Add(good);
                }
                else
                {
                    kept.Add($"{obj}: invalid; left out: {string.Join("; ", errors)}");
                }
            }

            // Forget objects that are gone, so a deleted object never comes back as "last good".
            var present = current.Select(static o => o.Key).ToHashSet();
            foreach (var key in _lastGood.Keys.Where(k => !present.Contains(k)).ToList())
            {
                _lastGood.Remove(key);
            }

            var read = MeshConfigReader.Read(objects);
            var version = Interlocked.Increment(ref _version).ToString(CultureInfo.InvariantCulture);
            var result = XdsTranslator.Translate(read, version, _trustDomain, clusterId: _clusterId);
            var errorsAll = kept.Concat(read.Errors).Concat(result.Errors).ToList();
            var warnings = read.Warnings.Concat(result.Warnings).ToList();
            foreach (var error in result.Errors)
            {
                Log.TranslationError(_logger, error);
            }

            foreach (var warning in warnings)
            {
                Log.TranslationWarning(_logger, warning);
            }

            ControlPlaneStatus status;
            var published = _cache.TrySetSnapshot(SnapshotKey, result.Snapshot, out var problems);
            _telemetry?.RecordRebuild(published, _time.GetElapsedTime(started));
            if (activity is { IsAllDataRequested: true })
            {
                activity.SetTag("xds.version", version);
                activity.SetTag("mesh.config.objects", objects.Count);
                activity.SetTag("mesh.config.errors", errorsAll.Count);
                activity.SetTag(ControlPlaneTelemetry.ResultTag, published ? ControlPlaneTelemetry.Published : ControlPlaneTelemetry.Rejected);
                if (!published)
                {
                    activity.SetStatus(ActivityStatusCode.Error, "the snapshot is inconsistent");
                }
            }
            if (published)
            {
                Log.Published(_logger, version, objects.Count, result.Snapshot.ToString());
                status = new ControlPlaneStatus(result.Snapshot, errorsAll, warnings, _status.Published + 1);
            }
            else
            {
                foreach (var problem in problems)
                {
                    Log.SnapshotRejected(_logger, version, problem);
                }

                status = new ControlPlaneStatus(_status.Snapshot, [.. errorsAll, .. problems], warnings, _status.Published);
            }

            _status = status;
            return status;
        }
    }

    public void Dispose()
    {
        _store.Changed -= Signal;
        lock (_gate)
        {
            _disposed = true;
            _timer?.Dispose();
        }
    }
}

/// <summary>The outcome of the last translation: the snapshot in force, and what was reported.</summary>
/// <param name="Snapshot">The snapshot served (the last good one), or null before the first.</param>
/// <param name="Errors">Objects left out or kept at their last valid version, and snapshot problems.</param>
/// <param name="Warnings">Fields ignored and translation notes.</param>
/// <param name="Published">How many snapshots have been published.</param>
internal sealed record ControlPlaneStatus(XdsResourceSnapshot? Snapshot, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings, int Published);
