using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mesh.Benchmarking;
using Mesh.ControlPlane.Hosting;

namespace Mesh.Propagation.Serving;

/// <summary>
/// The child process: the control plane alone, so that its CPU time and memory are its own. It loads the workload
/// into the store, times the translation, reports its ports, then answers one command per stdin line:
/// <c>change</c> (write the next one-endpoint change to the store, reply with the write's timestamp),
/// <c>timeline</c> (the server-side marks of the last change), <c>stats</c> / <c>stats gc</c> (CPU time,
/// managed heap, resident set; <c>gc</c> collects first) and <c>quit</c>.
/// </summary>
internal static class ServeCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var endpoints = 1000;
        var debounceMs = 100.0;
        var repetitions = 10;
        var maxSeconds = 1800;
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            var value = args[i + 1];
            switch (args[i])
            {
                case "--endpoints": endpoints = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--debounce-ms": debounceMs = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--repetitions": repetitions = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--max-seconds": maxSeconds = int.Parse(value, CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown server argument '{args[i]}'");
            }
        }

        var timeline = new ServerTimeline();
        var store = new TimedStore(timeline);
        var workload = new Workload(endpoints);
        store.Register(Workload.SourceId);
        store.Replace(Workload.SourceId, workload.Objects());
        store.MarkSynced(Workload.SourceId);

        await using var app = await ControlPlaneApp.StartAsync(new ControlPlaneOptions
        {
            Store = store,
            XdsListen = "127.0.0.1:0",
            AdminListen = "127.0.0.1:0",
            Debounce = TimeSpan.FromMilliseconds(debounceMs),
            LoggerFactory = new TimelineLoggerFactory(timeline),
        });

        var translation = TranslationTimer.Measure(app, store.Snapshot(), repetitions);
        Console.WriteLine(ServeProtocol.ReadyPrefix + JsonSerializer.Serialize(new ServerReady(app.XdsPort, app.AdminPort, Environment.ProcessId, translation)));

        // The parent owns this process; the limit only ends an orphan.
        using var lifetime = new CancellationTokenSource(TimeSpan.FromSeconds(maxSeconds));
        while (await Console.In.ReadLineAsync(lifetime.Token) is { } line)
        {
            object? reply = line switch
            {
                "change" => Change(store, timeline, workload),
                "timeline" => timeline.Marks(),
                "stats" => Stats(collect: false),
                "stats gc" => Stats(collect: true),
                "quit" => null,
                _ => throw new InvalidOperationException($"unknown command '{line}'"),
            };
            if (reply is null)
            {
                break;
            }

            Console.WriteLine(ServeProtocol.ReplyPrefix + JsonSerializer.Serialize(reply, reply.GetType()));
        }

        return 0;
    }

    private static ServerChange Change(TimedStore store, ServerTimeline timeline, Workload workload)
    {
        var (entry, oldHost, newHost) = workload.NextChange();
        timeline.Reset();
        var cpu = CpuClock.ProcessNanoseconds();

        // The write's timestamp is taken just before it: the store raises Changed synchronously, which arms the debounce.
        var written = Stopwatch.GetTimestamp();
        store.Upsert(Workload.SourceId, entry);
        return new ServerChange(written, cpu, oldHost, newHost);
    }

    private static ServerStats Stats(bool collect)
    {
        if (collect)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }

        using var self = Process.GetCurrentProcess();
        return new ServerStats(CpuClock.ProcessNanoseconds(), GC.GetTotalMemory(forceFullCollection: false), self.WorkingSet64, GC.CollectionCount(0), GC.CollectionCount(2), System.Runtime.JitInfo.GetCompilationTime().Ticks * 100, System.Runtime.JitInfo.GetCompiledMethodCount(), Stopwatch.GetTimestamp());
    }
}

internal sealed record ServerReady(int XdsPort, int AdminPort, int Pid, TranslationCost Translation);

internal sealed record ServerChange(long WrittenTimestamp, long CpuNanoseconds, string OldHost, string NewHost);

internal sealed record ServerStats(long CpuNanoseconds, long HeapBytes, long WorkingSetBytes, int Gen0Collections, int Gen2Collections, long JitNanoseconds, long JitMethods, long Timestamp);
