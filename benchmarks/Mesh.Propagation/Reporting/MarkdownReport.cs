using System.Text;

namespace Mesh.Propagation.Reporting;

/// <summary>The Markdown tables of a run (also pasted into benchmarks/README.md).</summary>
internal static class MarkdownReport
{
    /// <summary>The project's goals for the push cost beyond the debounce window, p99, by client count.</summary>
    private static double? Goal(int clients) => clients switch
    {
        <= 100 => 50,
        <= 1000 => 150,
        _ => null,
    };

    public static string Render(Report report)
    {
        var s = new StringBuilder();
        var t = report.Translation;
        Line(s, $"Run of {report.Date:yyyy-MM-dd HH:mm} UTC, {report.Mode} mode (`{report.Command}`), {report.Source}; {report.RunSeconds:F0} s.");
        Line(s);
        Line(s, $"Machine: {report.Machine}.");
        Line(s);
        Line(s, $"Workload: one Service (`demo/backend`, port 8080) selecting {report.Endpoints:N0} WorkloadEntries (80 % `version: v1`, 20 % `v2`), the seed's VirtualService (canary header route, 80/20 split) and DestinationRule (subsets v1, v2): 3 clusters and 3 assignments ({report.Endpoints:N0} + {report.Endpoints * 4 / 5:N0} + {report.Endpoints / 5:N0} endpoints). The clients' routes use only the subsets, so each client follows 2 clusters (v1, v2; 1,000 endpoints in all). Each round replaces one WorkloadEntry's address: the all-endpoints assignment and one subset's change, and each client is sent one assignment. {report.Warmup} warm-up and {report.Rounds} measured rounds per setting; distributions pool every client of every measured round.");
        Line(s);
        Line(s, "#### Propagation: store write → every client's `MeshState` published the new endpoint set");
        Line(s);
        Line(s, "| clients | debounce | p50 ms | p99 ms | max ms | after debounce p50 / p99 / max ms | goal (p99 after debounce) | of which server: debounce end → response written p50 / p99 / max ms | of which client: written → published p50 / p99 / max ms | server CPU ms / push | client CPU ms / push (µs per client) | server KB / client | client MB / client |");
        Line(s, "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in report.Results)
        {
            var goal = Goal(r.Clients) is { } g
                ? r.AfterDebounce.P99 <= g ? $"≤ {g:F0} ms ✅ met" : $"≤ {g:F0} ms ❌ missed by {r.AfterDebounce.P99 - g:F0} ms"
                : "–";
            Line(s, $"| {r.Clients:N0} | {r.DebounceMs:G} ms | {r.Latency.P50:F1} | {r.Latency.P99:F1} | {r.Latency.Max:F1} | {r.AfterDebounce.P50:F1} / {r.AfterDebounce.P99:F1} / {r.AfterDebounce.Max:F1} | {goal} | {r.ServerPush.P50:F1} / {r.ServerPush.P99:F1} / {r.ServerPush.Max:F1} | {r.ClientApply.P50:F1} / {r.ClientApply.P99:F1} / {r.ClientApply.Max:F1} | {r.ServerCpuMsPerPush:F1} | {r.ClientCpuMsPerPush:F0} ({r.ClientCpuMsPerPush * 1000 / r.Clients:F0}) | {r.ServerHeapKbPerClient:F1} (RSS {r.ServerRssKbPerClient:F0}) | {r.ClientHeapMbPerClient:F2} |");
        }

        Line(s);
        Line(s, "#### Where the time goes (medians over the measured rounds, ms)");
        Line(s);
        Line(s, "| clients | debounce | write → rebuild starts (debounce) | rebuild (validate changed objects + read + translate + set) | set → last client's response written | last response written → last client published | endpoint responses per client per change | snapshots per client per change | timed out | other processes' CPU |");
        Line(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in report.Results)
        {
            Line(s, $"| {r.Clients:N0} | {r.DebounceMs:G} ms | {r.DebounceActualMs:F1} | {r.RebuildMs:F1} | {r.LastPushMs:F1} | {r.ClientTailMs:F1} | {r.PushesPerClient:F2} | {r.SnapshotsPerClient:F2} | {r.TimedOut} | {r.OtherCpuShare:P0} |");
        }

        Line(s);
        Line(s, $"#### One rebuild of the {t.Objects:N0}-object configuration, no client connected (median of {t.Repetitions})");
        Line(s);
        Line(s, "| validate every object | read (typed model) | translate (`XdsTranslator`, incl. resource hashes) | whole rebuild (`ControlPlaneApp.Publish`) | translate allocates | rebuild allocates |");
        Line(s, "|---:|---:|---:|---:|---:|---:|");
        Line(s, $"| {t.ValidateMs:F1} ms | {t.ReadMs:F1} ms | {t.TranslateMs:F1} ms | {t.RebuildMs:F1} ms (min {t.RebuildMinMs:F1}) | {t.TranslateAllocatedBytes / 1048576.0:F1} MB | {t.RebuildAllocatedBytes / 1048576.0:F1} MB |");
        return s.ToString();
    }

    // The project builds with invariant globalization, so interpolation formats numbers the same everywhere.
    private static void Line(StringBuilder s, string text = "") => s.Append(text).Append('\n');
}
