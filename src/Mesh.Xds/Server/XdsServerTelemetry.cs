using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mesh.Xds.Server;

/// <summary>
/// The xDS server's instruments, on the <c>Mesh.Xds</c> <see cref="Meter"/> (matched by the <c>Mesh.*</c> wildcard of
/// <c>AddMeshInstrumentation</c>): responses pushed and NACKs received, by resource type. Counted where the stream
/// records them, so the numbers cannot drift from the per-client status in <see cref="XdsSnapshotCache.Clients"/>.
/// Each push is also a span <c>mesh.xds.push</c> on the <c>Mesh.Xds</c> <see cref="ActivitySource"/>: a root of its
/// own (streams live for hours), linked to the span that published the snapshot (the control plane's rebuild).
/// </summary>
public static class XdsServerTelemetry
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Mesh.Xds";

    /// <summary>The tag naming a response's or NACK's resource type URL.</summary>
    public const string TypeUrlTag = "xds.type_url";

    // One meter per process: streams of every cache count into the same instruments, which an exporter tells apart only
    // by type; a per-cache meter would need every cache disposed to stop listeners from holding it.
    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Pushes = Meter.CreateCounter<long>(
        "mesh.xds.server.pushes", unit: "{response}", description: "xDS responses written to clients (SotW and delta).");

    private static readonly Counter<long> Nacks = Meter.CreateCounter<long>(
        "mesh.xds.server.nacks", unit: "{nack}", description: "xDS requests that rejected a response (NACKs).");

    /// <summary>The activity source's name (the same as the meter's).</summary>
    public const string ActivitySourceName = MeterName;

    private static readonly ActivitySource Source = new(ActivitySourceName);

    /// <summary>Records a push as a span linked to the snapshot's origin, when anyone listens.</summary>
    internal static void TracePush(string typeUrl, string version, string nodeId, int resourceCount, int removedCount, ActivityContext origin)
    {
        if (!Source.HasListeners())
        {
            return;
        }

        var current = Activity.Current;
        Activity.Current = null;
        try
        {
            ActivityLink[]? links = origin == default ? null : [new ActivityLink(origin)];
            using var activity = Source.StartActivity("mesh.xds.push", ActivityKind.Producer, parentContext: default, links: links);
            if (activity is { IsAllDataRequested: true })
            {
                activity.DisplayName = $"xDS push {typeUrl[(typeUrl.LastIndexOf('.') + 1)..]}";
                activity.SetTag(TypeUrlTag, typeUrl);
                activity.SetTag("xds.version", version);
                activity.SetTag("xds.node_id", nodeId);
                activity.SetTag("xds.resources", resourceCount);
                activity.SetTag("xds.removed", removedCount);
            }
        }
        finally
        {
            Activity.Current = current;
        }
    }

    internal static void RecordPush(string typeUrl)
    {
        if (Pushes.Enabled)
        {
            Pushes.Add(1, new KeyValuePair<string, object?>(TypeUrlTag, typeUrl));
        }
    }

    internal static void RecordNack(string typeUrl)
    {
        if (Nacks.Enabled)
        {
            Nacks.Add(1, new KeyValuePair<string, object?>(TypeUrlTag, typeUrl));
        }
    }
}
