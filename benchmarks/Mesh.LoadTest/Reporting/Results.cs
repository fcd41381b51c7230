using Mesh.LoadTest.Load;

namespace Mesh.LoadTest.Reporting;

/// <summary>One measured run: a variant, a protocol, a mode (closed or open loop) and a round.</summary>
internal sealed class RunRecord
{
    public required string Protocol { get; init; }

    public required string Variant { get; init; }

    public required string Mode { get; init; }

    public int Round { get; init; }

    /// <summary>Requests answered 200 within the window.</summary>
    public long Requests { get; init; }

    public long Errors { get; init; }

    public string? FirstError { get; init; }

    public double Seconds { get; init; }

    /// <summary>Closed loop: the maximum throughput. Open loop: the rate achieved.</summary>
    public double Throughput { get; init; }

    /// <summary>Open loop: the rate asked for.</summary>
    public double? TargetRate { get; init; }

    public required LatencySummary Latency { get; init; }

    public double ClientCpuMicrosPerRequest { get; init; }

    public double ClientAllocatedBytesPerRequest { get; init; }

    /// <summary>Server process (backends, YARP) plus nginx, per request.</summary>
    public double ServerCpuMicrosPerRequest { get; init; }

    public int Gen0Collections { get; init; }

    public int Gen1Collections { get; init; }

    public int Gen2Collections { get; init; }

    public required long[] BackendRequests { get; init; }

    /// <summary>Measurements the metrics listener received (the full-pipeline variant's proof that metrics were recorded).</summary>
    public long MeshMeasurements { get; init; }

    /// <summary>Share of the machine's CPU capacity that processes other than the client, the server process and nginx used during the run, plus the hypervisor's steal (0 on a quiet machine).</summary>
    public double OtherCpuShare { get; init; }

    /// <summary>Times this measurement was redone because other processes disturbed it.</summary>
    public int Redone { get; set; }

    public double? SendLagP99Micros { get; init; }

    public double? SendLagMaxMicros { get; init; }

    public long? Saturated { get; init; }
}

/// <summary>A figure of the tables: how to read it off a run and whether less is better.</summary>
internal sealed record Figure(string Key, string Label, string Mode, Func<RunRecord, double> Read, bool LowerIsBetter, string Format)
{
    public const string Closed = "closed";
    public const string Open = "open";

    public static readonly Figure Throughput = new("throughput", "max req/s", Closed, r => r.Throughput, false, "N0");
    public static readonly Figure ClosedClientCpu = new("clientCpu", "client CPU µs/req", Closed, r => r.ClientCpuMicrosPerRequest, true, "F1");
    public static readonly Figure ClosedAlloc = new("clientAlloc", "client alloc B/req", Closed, r => r.ClientAllocatedBytesPerRequest, true, "N0");
    public static readonly Figure ClosedServerCpu = new("serverCpu", "server-side CPU µs/req", Closed, r => r.ServerCpuMicrosPerRequest, true, "F1");
    public static readonly Figure ClosedP99 = new("p99", "p99 µs", Closed, r => r.Latency.P99, true, "N0");
    public static readonly Figure Achieved = new("achieved", "achieved req/s", Open, r => r.Throughput, false, "N0");
    public static readonly Figure P50 = new("p50", "p50 µs", Open, r => r.Latency.P50, true, "N0");
    public static readonly Figure P90 = new("p90", "p90 µs", Open, r => r.Latency.P90, true, "N0");
    public static readonly Figure P99 = new("p99", "p99 µs", Open, r => r.Latency.P99, true, "N0");
    public static readonly Figure OpenClientCpu = new("clientCpu", "client CPU µs/req", Open, r => r.ClientCpuMicrosPerRequest, true, "F1");
    public static readonly Figure OpenAlloc = new("clientAlloc", "client alloc B/req", Open, r => r.ClientAllocatedBytesPerRequest, true, "N0");
    public static readonly Figure OpenServerCpu = new("serverCpu", "server-side CPU µs/req", Open, r => r.ServerCpuMicrosPerRequest, true, "F1");

    public static readonly Figure[] ClosedFigures = [Throughput, ClosedClientCpu, ClosedAlloc, ClosedServerCpu];
    public static readonly Figure[] OpenFigures = [P50, P90, P99, OpenClientCpu, OpenAlloc, OpenServerCpu];
}

/// <summary>The JSON file: everything, per round, with medians and ratios to variant 1.</summary>
internal sealed class Report
{
    public required DateTimeOffset Date { get; init; }

    public required string Mode { get; init; }

    public required string Command { get; init; }

    public required MachineInfo Machine { get; init; }

    /// <summary>The commit the mesh was built from, and whether src/ had changes on top of it.</summary>
    public required string Source { get; init; }

    public required Dictionary<string, object> Settings { get; init; }

    public List<ProtocolReport> Protocols { get; } = [];

    public List<TargetResult> Targets { get; } = [];

    public List<string> Notes { get; } = [];
}

internal sealed class ProtocolReport
{
    public required string Protocol { get; init; }

    public required string Label { get; init; }

    public double OpenLoopRate { get; set; }

    public List<VariantReport> Variants { get; } = [];
}

internal sealed class VariantReport
{
    public required string Variant { get; init; }

    public required string Label { get; init; }

    public ModeReport Closed { get; } = new();

    public ModeReport Open { get; } = new();

    public ModeReport For(string mode) => mode == Figure.Closed ? Closed : Open;
}

internal sealed class ModeReport
{
    /// <summary>Median over rounds, by figure key.</summary>
    public Dictionary<string, double> Median { get; } = [];

    /// <summary>Median divided by variant 1's median of the same protocol and mode.</summary>
    public Dictionary<string, double> RatioToPlain { get; } = [];

    public long Errors { get; set; }

    /// <summary>Share of requests each backend served, over all rounds.</summary>
    public double[] BackendShare { get; set; } = [];

    public List<RunRecord> Rounds { get; } = [];
}

/// <summary>One goal, for one protocol and variant: reported, never asserted.</summary>
internal sealed record TargetResult(string Protocol, string Name, string Goal, double Value, string ValueText, bool Met, string Verdict);

internal static class Aggregation
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Fills medians, ratios, error counts and backend shares of a protocol's variants.</summary>
    public static void Summarize(ProtocolReport protocol)
    {
        foreach (var (mode, figures) in new[] { (Figure.Closed, Figure.ClosedFigures.Append(Figure.ClosedP99)), (Figure.Open, Figure.OpenFigures.Append(Figure.Achieved)) })
        {
            var plain = protocol.Variants[0].For(mode);
            foreach (var variant in protocol.Variants)
            {
                var m = variant.For(mode);
                if (m.Rounds.Count == 0)
                {
                    continue;
                }

                foreach (var figure in figures)
                {
                    m.Median[figure.Key] = Median(m.Rounds.Select(figure.Read));
                }

                m.Errors = m.Rounds.Sum(r => r.Errors);
                var perBackend = new double[m.Rounds.Max(r => r.BackendRequests.Length)];
                foreach (var r in m.Rounds)
                {
                    for (var i = 0; i < r.BackendRequests.Length; i++)
                    {
                        perBackend[i] += r.BackendRequests[i];
                    }
                }

                var total = perBackend.Sum();
                m.BackendShare = total > 0 ? perBackend.Select(c => c / total).ToArray() : perBackend;
            }

            foreach (var variant in protocol.Variants)
            {
                var m = variant.For(mode);
                foreach (var (key, value) in m.Median)
                {
                    m.RatioToPlain[key] = plain.Median.TryGetValue(key, out var baseline) && baseline != 0 ? value / baseline : double.NaN;
                }
            }
        }
    }

    /// <summary>The goals, side by side with what this run measured.</summary>
    public static IEnumerable<TargetResult> EvaluateTargets(ProtocolReport protocol)
    {
        var p = protocol.Label;
        VariantReport? Get(VariantKind kind) => protocol.Variants.FirstOrDefault(v => v.Variant == kind.Key());
        var plain = Get(VariantKind.Plain)!;
        var mesh = Get(VariantKind.Mesh);
        var full = Get(VariantKind.MeshFull);
        var nginx = Get(VariantKind.Nginx);
        var yarp = Get(VariantKind.Yarp);

        double Closed(VariantReport v, string key) => v.Closed.Median.GetValueOrDefault(key, double.NaN);
        double Open(VariantReport v, string key) => v.Open.Median.GetValueOrDefault(key, double.NaN);

        if (mesh is not null)
        {
            yield return AtLeast(p, "mesh routing + LB max throughput / plain", 0.97, Closed(mesh, "throughput") / Closed(plain, "throughput"));
        }

        if (full is not null)
        {
            yield return AtLeast(p, "mesh full pipeline max throughput / plain", 0.95, Closed(full, "throughput") / Closed(plain, "throughput"));
        }

        if (mesh is not null && nginx is not null)
        {
            yield return AtLeast(p, "mesh routing + LB max throughput / nginx hop", 1.5, Closed(mesh, "throughput") / Closed(nginx, "throughput"));
        }

        if (mesh is not null && yarp is not null)
        {
            yield return AtLeast(p, "mesh routing + LB max throughput / YARP hop", 2, Closed(mesh, "throughput") / Closed(yarp, "throughput"));
        }

        foreach (var (variant, name, allocGoal) in new[] { (mesh, "routing + LB", 256.0), (full, "full pipeline", 512.0) })
        {
            if (variant is null)
            {
                continue;
            }

            yield return AtMost(p, $"mesh {name}: added p50 at half load (µs)", 10, Open(variant, "p50") - Open(plain, "p50"), "µs");
            yield return AtMostRatio(p, $"mesh {name}: p99 at half load / plain", 1.1, Open(variant, "p99") / Open(plain, "p99"));
            // CPU and allocations from the closed loop: at saturation the client's CPU time is work; at half load on a
            // small machine it is mostly thread wake-ups, the same for every variant but noisy.
            yield return AtMost(p, $"mesh {name}: added client CPU per request (µs, closed loop)", 2, Closed(variant, "clientCpu") - Closed(plain, "clientCpu"), "µs");
            yield return AtMost(p, $"mesh {name}: added client allocation per request (B)", allocGoal, Closed(variant, "clientAlloc") - Closed(plain, "clientAlloc"), "B");
        }
    }

    private static TargetResult AtLeast(string protocol, string name, double goal, double value)
    {
        var met = value >= goal;
        return new TargetResult(protocol, name, $"≥ {goal:0.00}×", value, $"{value:0.00}×", met, met ? "met" : $"missed by {goal - value:0.00}× ({(goal - value) / goal:P0} short)");
    }

    private static TargetResult AtMostRatio(string protocol, string name, double goal, double value)
    {
        var met = value <= goal;
        return new TargetResult(protocol, name, $"≤ {goal:0.00}×", value, $"{value:0.00}×", met, met ? "met" : $"missed by {value - goal:0.00}×");
    }

    private static TargetResult AtMost(string protocol, string name, double goal, double value, string unit)
    {
        var met = value <= goal;
        var format = unit == "B" ? "N0" : "N1";
        var signed = unit == "B" ? "+#,0;-#,0;0" : "+#,0.0;-#,0.0;0.0";
        return new TargetResult(protocol, name, $"≤ {goal.ToString(format)} {unit}", value, $"{value.ToString(signed)} {unit}", met, met ? "met" : $"missed by {(value - goal).ToString(format)} {unit}");
    }
}
