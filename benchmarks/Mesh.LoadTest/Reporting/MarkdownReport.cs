using System.Text;

namespace Mesh.LoadTest.Reporting;

/// <summary>The tables as benchmarks/README.md keeps them: every figure as an absolute and as a ratio to variant 1.</summary>
internal static class MarkdownReport
{
    public static string Render(Report report)
    {
        var s = new StringBuilder();
        var settings = report.Settings;
        s.AppendLine($"Run of {report.Date:yyyy-MM-dd HH:mm} UTC, {report.Mode} mode (`{report.Command}`), mesh built from {report.Source}.")
            .AppendLine()
            .AppendLine($"Machine: {report.Machine}.")
            .AppendLine()
            .AppendLine($"Settings: {settings["rounds"]} round(s) × {settings["durationSeconds"]} s per variant and mode, {settings["warmupSeconds"]} s warm-up before each "
                + $"({settings["initialWarmupSeconds"]} s the first time), variants alternating 1 2 3 4 5 1 2 3 4 5 …; closed loop with {settings["concurrency"]} requests in flight; "
                + ((double)settings["fixedRate"] > 0 ? $"open loop at a fixed {settings["fixedRate"]:N0} req/s" : $"open loop at {settings["loadFraction"]:P0} of variant 1's median max throughput")
                + ", latency from the intended send time. "
                + "Each cell is the median over rounds and, in parentheses, its ratio to variant 1 of the same run; CPU and allocations are the client process's, "
                + "server-side CPU is the server process (backends, YARP) plus nginx.")
            .AppendLine();

        foreach (var protocol in report.Protocols)
        {
            s.AppendLine($"**{protocol.Label}, closed loop ({settings["concurrency"]} in flight): maximum throughput**").AppendLine();
            Table(s, protocol, Figure.Closed, Figure.ClosedFigures);
            s.AppendLine($"**{protocol.Label}, open loop at {protocol.OpenLoopRate:N0} req/s: latency and cost at half load**").AppendLine();
            Table(s, protocol, Figure.Open, Figure.OpenFigures);
            s.Append("Requests per backend (open loop): ");
            s.AppendJoin(" · ", protocol.Variants.Select(v => $"{v.Variant} {string.Join("/", v.Open.BackendShare.Select(x => $"{x:P0}"))}"));
            s.AppendLine(".");
            var errors = protocol.Variants.Where(v => v.Closed.Errors + v.Open.Errors > 0).ToList();
            if (errors.Count > 0)
            {
                s.Append("Errors: ");
                s.AppendJoin("; ", errors.Select(v => $"{v.Variant} {v.Closed.Errors} closed / {v.Open.Errors} open ({v.Closed.Rounds.Concat(v.Open.Rounds).Select(r => r.FirstError).FirstOrDefault(e => e is not null)})"));
                s.AppendLine(".");
            }

            s.AppendLine();
        }

        s.AppendLine("**Targets (goals, not assertions)**").AppendLine();
        var protocols = report.Protocols.Select(p => p.Label).ToList();
        s.Append("| target | goal |");
        foreach (var p in protocols)
        {
            s.Append($" {p} |");
        }

        s.AppendLine().Append("|---|---|");
        foreach (var _ in protocols)
        {
            s.Append("---|");
        }

        s.AppendLine();
        foreach (var group in report.Targets.GroupBy(t => t.Name))
        {
            s.Append($"| {group.Key} | {group.First().Goal} |");
            foreach (var p in protocols)
            {
                var t = group.FirstOrDefault(x => x.Protocol == p);
                s.Append(t is null ? " n/a |" : $" {t.ValueText} {(t.Met ? "✅ met" : "❌ " + t.Verdict)} |");
            }

            s.AppendLine();
        }

        foreach (var note in report.Notes)
        {
            s.AppendLine().AppendLine(note);
        }

        return s.ToString();
    }

    private static void Table(StringBuilder s, ProtocolReport protocol, string mode, Figure[] figures)
    {
        s.Append("| variant |");
        foreach (var f in figures)
        {
            s.Append($" {f.Label} |");
        }

        s.AppendLine().Append("|---|");
        foreach (var _ in figures)
        {
            s.Append("---:|");
        }

        s.AppendLine();
        foreach (var variant in protocol.Variants)
        {
            var m = variant.For(mode);
            s.Append($"| {variant.Label} |");
            foreach (var f in figures)
            {
                if (!m.Median.TryGetValue(f.Key, out var value))
                {
                    s.Append(" n/a |");
                    continue;
                }

                var ratio = m.RatioToPlain.GetValueOrDefault(f.Key, double.NaN);
                s.Append($" {value.ToString(f.Format)} ({ratio:0.00}×) |");
            }

            s.AppendLine();
        }

        s.AppendLine();
    }
}
