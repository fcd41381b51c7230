using System.Diagnostics.Tracing;
using Mesh.LoadTest.Clients;
using Mesh.LoadTest.Load;
using Mesh.LoadTest.Serving;

namespace Mesh.LoadTest.Diagnostics;

/// <summary>
/// <c>--alloc-profile</c>: where each variant's bytes per request go, by type. Runs each variant's closed loop with
/// the runtime's GC AllocationTick events on (one event per ~100 KB allocated, naming the type that crossed the
/// threshold, so bytes by type are sampled in proportion to size), and prints bytes per request by type and the
/// difference to variant 1. The listener perturbs timing, so this mode reports no throughput.
/// </summary>
internal static class AllocationProfiler
{
    public static async Task<int> RunAsync(LoadTestOptions options, VariantKind[] kinds, ServerPorts ports, NginxHost? nginx, MeshMetricsListener metrics, TextWriter log, CancellationToken token)
    {
        var recorder = new LatencyRecorder(8_000_000);
        foreach (var protocol in options.Protocols)
        {
            var variants = kinds.Select(k => VariantFactory.Create(k, protocol, ports, nginx, metrics)).ToList();
            try
            {
                var profiles = new List<(Variant Variant, double Total, Dictionary<string, double> ByType)>();
                foreach (var variant in variants)
                {
                    await ClosedLoop.RunAsync(variant, options.Concurrency, options.InitialWarmup, recorder, token);
                    using var sampler = new AllocationSampler();
                    var before = GC.GetTotalAllocatedBytes(precise: true);
                    var result = await ClosedLoop.RunAsync(variant, options.Concurrency, options.Duration, recorder, token);
                    var after = GC.GetTotalAllocatedBytes(precise: true);
                    var requests = Math.Max(1, result.CompletedTotal);
                    var byType = sampler.Snapshot().ToDictionary(kv => kv.Key, kv => kv.Value / requests);
                    profiles.Add((variant, (double)(after - before) / requests, byType));
                }

                var plain = profiles[0];
                foreach (var (variant, total, byType) in profiles)
                {
                    Console.WriteLine($"## {protocol.Label()} — {variant.Kind.Label()}: {total:N0} B/req (precise), {byType.Values.Sum():N0} B/req sampled");
                    Console.WriteLine("| type | B/req | vs variant 1 |");
                    Console.WriteLine("|---|---:|---:|");
                    var types = byType.Keys.Union(plain.ByType.Keys)
                        .Select(t => (Type: t, Bytes: byType.GetValueOrDefault(t), Delta: byType.GetValueOrDefault(t) - plain.ByType.GetValueOrDefault(t)))
                        .Where(t => t.Bytes >= 4 || Math.Abs(t.Delta) >= 4)
                        .OrderByDescending(t => variant.Kind == VariantKind.Plain ? t.Bytes : Math.Abs(t.Delta));
                    foreach (var (type, bytes, delta) in types.Take(40))
                    {
                        Console.WriteLine($"| `{type}` | {bytes:N0} | {delta:+#,0;-#,0;0} |");
                    }

                    Console.WriteLine();
                }
            }
            finally
            {
                foreach (var variant in variants)
                {
                    variant.Dispose();
                }
            }
        }

        await log.WriteLineAsync("allocation profile done (AllocationTick sampling: figures by type are estimates; totals are exact)");
        return 0;
    }

    /// <summary>Sums GCAllocationTick amounts by type name.</summary>
    private sealed class AllocationSampler : EventListener
    {
        private const EventKeywords GcKeyword = (EventKeywords)0x1;
        private readonly Dictionary<string, double> _bytes = [];

        public Dictionary<string, double> Snapshot()
        {
            lock (_bytes)
            {
                return new Dictionary<string, double>(_bytes);
            }
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.PayloadNames is null || eventData.Payload is null)
            {
                return;
            }

            var typeIndex = eventData.PayloadNames.IndexOf("TypeName");
            var amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
            if (amountIndex < 0)
            {
                amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount");
            }

            if (typeIndex < 0 || amountIndex < 0)
            {
                return;
            }

            var type = eventData.Payload[typeIndex] as string ?? "?";
            var amount = Convert.ToDouble(eventData.Payload[amountIndex], System.Globalization.CultureInfo.InvariantCulture);
            lock (_bytes)
            {
                _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
            }
        }
    }
}
