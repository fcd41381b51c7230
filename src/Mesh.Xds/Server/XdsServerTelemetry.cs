using System.Diagnostics.Metrics;

namespace Mesh.Xds.Server;

/// <summary>
/// The xDS server's instruments, on the <c>Mesh.Xds</c> <see cref="Meter"/> (matched by the <c>Mesh.*</c> wildcard of
/// <c>AddMeshInstrumentation</c>): responses pushed and NACKs received, by resource type. Counted where the stream
/// records them, so the numbers cannot drift from the per-client status in <see cref="XdsSnapshotCache.Clients"/>.
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
