using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mesh.ControlPlane.Configuration;
using Mesh.Xds.Server;

namespace Mesh.ControlPlane.Telemetry;

/// <summary>
/// The control plane's instruments, on the <c>Mesh.ControlPlane</c> <see cref="Meter"/> (matched by the <c>Mesh.*</c>
/// wildcard of <c>AddMeshInstrumentation</c>): connected xDS clients, source sync state, config rebuilds with their
/// outcome and duration, and the debounce wait. Pushes and NACKs are counted by the xDS server
/// (<see cref="XdsServerTelemetry"/>).
/// </summary>
public sealed class ControlPlaneTelemetry : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Mesh.ControlPlane";

    /// <summary>The activity source's name: a span <c>mesh.control_plane.rebuild</c> per rebuild.</summary>
    public const string ActivitySourceName = MeterName;

    /// <summary>The rebuild spans' source; the pushes of a published snapshot link to its rebuild.</summary>
    internal static readonly ActivitySource Source = new(ActivitySourceName);

    /// <summary>The tag naming a rebuild's outcome: <see cref="Published"/> or <see cref="Rejected"/>.</summary>
    public const string ResultTag = "mesh.result";

    /// <summary>A rebuild whose snapshot the cache accepted and now serves.</summary>
    public const string Published = "published";

    /// <summary>A rebuild whose snapshot the cache refused (inconsistent); the previous one stays.</summary>
    public const string Rejected = "rejected";

    // Rebuilds and debounce waits run from milliseconds (a few objects, the 100 ms quiet period) to the 10 s maximum.
    private static readonly InstrumentAdvice<double> SecondsAdvice = new()
    {
        HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    };

    private static readonly KeyValuePair<string, object?> PublishedTag = new(ResultTag, Published);
    private static readonly KeyValuePair<string, object?> RejectedTag = new(ResultTag, Rejected);

    private readonly Meter _meter;
    private readonly Counter<long> _rebuilds;
    private readonly Histogram<double> _rebuildDuration;
    private readonly Histogram<double> _debounceDuration;

    /// <summary>Creates the instruments; the gauges read <paramref name="cache"/> and <paramref name="store"/> when collected.</summary>
    internal ControlPlaneTelemetry(XdsSnapshotCache cache, IConfigStore store)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(store);
        _meter = new Meter(MeterName);
        _meter.CreateObservableGauge(
            "mesh.control_plane.xds.clients",
            () => cache.Clients.Count,
            unit: "{client}",
            description: "xDS streams open on this control plane (clients that sent their first request).");
        _meter.CreateObservableGauge(
            "mesh.control_plane.sources.synced",
            () => store.IsSynced ? 1 : 0,
            description: "1 once every configuration source has listed its objects at least once, 0 before (nothing is published until then).");
        _rebuilds = _meter.CreateCounter<long>(
            "mesh.control_plane.rebuilds",
            unit: "{rebuild}",
            description: "Configuration rebuilds (read, translate, set the xDS snapshot), by result.");
        _rebuildDuration = _meter.CreateHistogram(
            "mesh.control_plane.rebuild.duration",
            unit: "s",
            description: "Time from the start of a rebuild (the end of the debounce) until the xDS snapshot is set, by result.",
            advice: SecondsAdvice);
        _debounceDuration = _meter.CreateHistogram(
            "mesh.control_plane.debounce.duration",
            unit: "s",
            description: "Time from the first configuration change to the start of the rebuild it triggers.",
            advice: SecondsAdvice);
    }

    internal void RecordRebuild(bool published, TimeSpan duration)
    {
        var tag = published ? PublishedTag : RejectedTag;
        if (_rebuilds.Enabled)
        {
            _rebuilds.Add(1, tag);
        }

        if (_rebuildDuration.Enabled)
        {
            _rebuildDuration.Record(duration.TotalSeconds, tag);
        }
    }

    internal void RecordDebounce(TimeSpan wait)
    {
        if (_debounceDuration.Enabled)
        {
            _debounceDuration.Record(wait.TotalSeconds);
        }
    }

    /// <summary>Disposes the meter: a stopped control plane's gauges stop reporting.</summary>
    public void Dispose() => _meter.Dispose();
}
