namespace Mesh.Propagation.Reporting;

/// <summary>The whole run, as written to JSON.</summary>
internal sealed record Report(
    DateTimeOffset Date,
    string Mode,
    string Command,
    string Source,
    MachineInfo Machine,
    int Endpoints,
    int Rounds,
    int Warmup,
    Serving.TranslationCost Translation,
    IReadOnlyList<SettingResult> Results,
    double RunSeconds);

/// <summary>Distribution of one quantity over every client of every measured round, in milliseconds.</summary>
internal sealed record Distribution(int Count, double P50, double P99, double Max)
{
    public static Distribution Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0)
        {
            return new Distribution(0, double.NaN, double.NaN, double.NaN);
        }

        var sorted = values.Order().ToArray();
        return new Distribution(sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.99), sorted[^1]);
    }

    /// <summary>Nearest rank: the smallest value with at least <paramref name="p"/> of the values at or below it.</summary>
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>One client count and debounce.</summary>
/// <param name="Clients">Connected clients.</param>
/// <param name="DebounceMs">The control plane's quiet period.</param>
/// <param name="Latency">Store write → the client's MeshState published the new endpoint set.</param>
/// <param name="AfterDebounce">End of the debounce (the rebuild's first store read) → published: the push cost beyond the debounce window.</param>
/// <param name="ServerPush">End of the debounce → the client's endpoint response written by the server (per client).</param>
/// <param name="ClientApply">The client's endpoint response written → its MeshState published (per client).</param>
/// <param name="DebounceActualMs">Median store write → rebuild start.</param>
/// <param name="RebuildMs">Median rebuild start → snapshot set (validate, read, translate, set).</param>
/// <param name="LastPushMs">Median snapshot set → the last stream's endpoint response written.</param>
/// <param name="ClientTailMs">Median last response written → last client published.</param>
/// <param name="PushesPerClient">Endpoint responses written per client per change (mean).</param>
/// <param name="SnapshotsPerClient">MeshState publications per client per change (mean).</param>
/// <param name="ServerCpuMsPerPush">Control-plane process CPU per change, idle CPU subtracted (mean).</param>
/// <param name="ClientCpuMsPerPush">Client process CPU per change, all clients together, idle subtracted (mean).</param>
/// <param name="ServerHeapKbPerClient">Control-plane managed heap per connected client (after a full collection).</param>
/// <param name="ServerRssKbPerClient">Control-plane resident set per connected client.</param>
/// <param name="ClientHeapMbPerClient">Client process managed heap per client (after a full collection).</param>
/// <param name="TimedOut">Clients that had not published 60 s after a write, over all rounds.</param>
/// <param name="ConnectSeconds">Time to connect every client and receive its first configuration.</param>
/// <param name="OtherCpuShare">Share of the machine's CPU used by other processes during the measured rounds.</param>
internal sealed record SettingResult(
    int Clients,
    double DebounceMs,
    Distribution Latency,
    Distribution AfterDebounce,
    Distribution ServerPush,
    Distribution ClientApply,
    double DebounceActualMs,
    double RebuildMs,
    double LastPushMs,
    double ClientTailMs,
    double PushesPerClient,
    double SnapshotsPerClient,
    double ServerCpuMsPerPush,
    double ClientCpuMsPerPush,
    double ServerHeapKbPerClient,
    double ServerRssKbPerClient,
    double ClientHeapMbPerClient,
    int TimedOut,
    double ConnectSeconds,
    double OtherCpuShare,
    IReadOnlyList<RoundRecord> RoundRecords);

/// <summary>One measured round.</summary>
internal sealed record RoundRecord(
    int Round,
    double P50Ms,
    double MaxMs,
    double DebounceActualMs,
    double RebuildMs,
    double LastPushMs,
    long Pushes,
    double ServerCpuMs,
    double ClientCpuMs,
    int TimedOut,
    double ServerJitMs,
    double ClientJitMs);
