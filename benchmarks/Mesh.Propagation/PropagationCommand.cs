using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mesh.Benchmarking;
using Mesh.Propagation.Clients;
using Mesh.Propagation.Reporting;
using Mesh.Propagation.Serving;

namespace Mesh.Propagation;

/// <summary>
/// Runs every setting (client count × debounce): a control-plane process, N clients here, warm-up and measured
/// rounds of one endpoint change each; then writes the JSON and Markdown results. Every wait is bounded.
/// </summary>
internal static class PropagationCommand
{
    /// <summary>How long a round waits for every client before it counts the missing ones as timed out.</summary>
    private static readonly TimeSpan RoundTimeout = TimeSpan.FromSeconds(60);

    /// <summary>After the last client published: time for its ACKs to reach the server before its CPU is read.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static async Task<int> RunAsync(PropagationOptions options)
    {
        var log = Console.Out;
        var clock = Stopwatch.StartNew();
        var date = DateTimeOffset.UtcNow;
        var machine = MachineInfo.Collect();
        var source = await SourceInfo.DescribeAsync();
        await log.WriteLineAsync($"Mesh.Propagation ({options.Mode}): clients {string.Join(", ", options.Clients)}; debounce {string.Join(", ", options.DebounceMs)} ms; {options.Endpoints} endpoints; {options.Warmup} warm-up + {options.Rounds} rounds");
        await log.WriteLineAsync($"machine: {machine}; {source}");

        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(options.Quick ? 5 : 40));
        var results = new List<SettingResult>();
        TranslationCost? translation = null;
        foreach (var clients in options.Clients)
        {
            foreach (var debounce in options.DebounceMs)
            {
                await log.WriteLineAsync($"-- {clients} clients, debounce {debounce} ms");
                var (result, cost) = await RunSettingAsync(options, clients, debounce, log, cancel.Token);
                translation ??= cost;
                results.Add(result);
                await log.WriteLineAsync(Summary(result));
            }
        }

        var command = "dotnet run -c Release --project benchmarks/Mesh.Propagation" + (Environment.GetCommandLineArgs().Length > 1 ? " -- " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)) : "");
        var report = new Report(date, options.Mode, command, source, machine, options.Endpoints, options.Rounds, options.Warmup, translation!, results, clock.Elapsed.TotalSeconds);
        var markdown = MarkdownReport.Render(report);
        await log.WriteLineAsync();
        await log.WriteLineAsync(markdown);
        var (json, md) = await WriteAsync(options, report, markdown);
        await log.WriteLineAsync($"results: {json} and {md} (run took {clock.Elapsed.TotalSeconds:F0} s)");
        return 0;
    }

    private static async Task<(SettingResult Result, TranslationCost Translation)> RunSettingAsync(PropagationOptions options, int clients, double debounceMs, TextWriter log, CancellationToken cancellationToken)
    {
        await using var server = await PropagationServer.StartAsync(options.Endpoints, debounceMs, options.Repetitions, cancellationToken);
        var t = server.Ready.Translation;
        await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  server pid {server.Ready.Pid}: rebuild of {t.Objects} objects {t.RebuildMs:F1} ms (validate {t.ValidateMs:F1}, read {t.ReadMs:F1}, translate {t.TranslateMs:F1} ms, {t.TranslateAllocatedBytes / 1024.0 / 1024:F1} MB allocated)"));

        // Memory before the clients: both processes after a full collection.
        var serverBefore = await server.StatsAsync(collect: true, cancellationToken);
        var clientHeapBefore = CollectedHeap();

        var connect = Stopwatch.StartNew();
        await using var fleet = await ClientFleet.StartAsync(server.Ready.XdsPort, clients, options.Endpoints, batch: 50, log, cancellationToken);
        var connectSeconds = connect.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        var serverAfter = await server.StatsAsync(collect: true, cancellationToken);
        var clientHeapAfter = CollectedHeap();
        await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  {clients} clients connected in {connectSeconds:F1} s; server heap {serverBefore.HeapBytes / 1048576.0:F1} → {serverAfter.HeapBytes / 1048576.0:F1} MB, RSS {serverBefore.WorkingSetBytes / 1048576.0:F0} → {serverAfter.WorkingSetBytes / 1048576.0:F0} MB; client heap {clientHeapBefore / 1048576.0:F0} → {clientHeapAfter / 1048576.0:F0} MB"));

        var mirror = new Workload(options.Endpoints);
        var latencies = new List<double>();
        var afterDebounce = new List<double>();
        var rounds = new List<RoundRecord>();
        var clientTails = new List<double>();
        var roundSeconds = new List<double>();
        var serverPush = new List<double>();
        var clientApply = new List<double>();
        long publications = 0;
        var timedOut = 0;
        var initial = await server.StatsAsync(collect: false, cancellationToken);
        var jitServer0 = initial.JitNanoseconds;
        var jitMethodsServer0 = initial.JitMethods;
        var jitMethodsClient0 = System.Runtime.JitInfo.GetCompiledMethodCount();
        var jitClient0 = JitNanoseconds();
        double serverIdleNsPerSecond = 0;
        double clientIdleNsPerSecond = 0;
        long busy0 = 0;
        long ours0 = 0;
        long measuring = 0;
        for (var round = 1 - options.Warmup; round <= options.Rounds; round++)
        {
            if (round == 1)
            {
                (serverIdleNsPerSecond, clientIdleNsPerSecond) = await MeasureIdleAsync(server, cancellationToken);
                await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  idle CPU: server {serverIdleNsPerSecond / 1e6:F1} ms/s, clients {clientIdleNsPerSecond / 1e6:F1} ms/s"));
                var stats = await server.StatsAsync(collect: false, cancellationToken);
                busy0 = MachineLoad.BusyNanoseconds();
                ours0 = stats.CpuNanoseconds + CpuClock.ProcessNanoseconds();
                measuring = Stopwatch.GetTimestamp();
            }

            // Quiet before the write: the previous round's ACKs are in and no timer is pending.
            await Task.Delay(TimeSpan.FromMilliseconds(200 + debounceMs), cancellationToken);
            var (_, oldHost, newHost) = mirror.NextChange();
            var allDone = fleet.Expect(oldHost, newHost);
            var clientCpu0 = CpuClock.ProcessNanoseconds();
            var change = await server.ChangeAsync(cancellationToken);
            if (change.OldHost != oldHost || change.NewHost != newHost)
            {
                throw new InvalidOperationException($"the server changed {change.OldHost} → {change.NewHost}, the clients expect {oldHost} → {newHost}");
            }

            try
            {
                await allDone.WaitAsync(RoundTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                await log.WriteLineAsync($"  round {round}: not every client published within {RoundTimeout.TotalSeconds:F0} s");
            }

            var results = fleet.Results();
            await Task.Delay(Settle, cancellationToken);
            var serverStats = await server.StatsAsync(collect: false, cancellationToken);
            var clientCpu1 = CpuClock.ProcessNanoseconds();
            var marks = await server.TimelineAsync(cancellationToken);
            var elapsed = Stopwatch.GetElapsedTime(change.WrittenTimestamp, serverStats.Timestamp).TotalSeconds;
            // Raw CPU of the round here; the idle share is subtracted after the last round (see below).
            var serverCpuMs = (serverStats.CpuNanoseconds - change.CpuNanoseconds) / 1e6;
            var clientCpuMs = (clientCpu1 - clientCpu0) / 1e6;
            var serverJitMs = (serverStats.JitNanoseconds - jitServer0) / 1e6;
            var clientJitMs = (JitNanoseconds() - jitClient0) / 1e6;
            var serverJitMethods = serverStats.JitMethods - jitMethodsServer0;
            var clientJitMethods = System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethodsClient0;
            jitMethodsServer0 = serverStats.JitMethods;
            jitMethodsClient0 = System.Runtime.JitInfo.GetCompiledMethodCount();
            jitServer0 = serverStats.JitNanoseconds;
            jitClient0 = JitNanoseconds();

            var done = results.Where(static r => r.Done != 0).Select(static r => r.Done).ToList();
            var roundLatencies = done.Select(d => Ms(change.WrittenTimestamp, d)).ToList();
            var missing = results.Count - done.Count;
            var record = new RoundRecord(
                round,
                Distribution.Of(roundLatencies).P50,
                roundLatencies.Count == 0 ? double.NaN : roundLatencies.Max(),
                Ms(change.WrittenTimestamp, marks.RebuildStart),
                Ms(marks.RebuildStart, marks.Published),
                Ms(marks.Published, marks.LastPush),
                marks.Pushes,
                serverCpuMs,
                clientCpuMs,
                missing,
                serverJitMs,
                clientJitMs);
            var missingNote = missing > 0 ? $"; {missing} clients MISSING" : "";
            await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  {(round <= 0 ? "warm-up" : "round")} {round}: p50 {record.P50Ms:F1} ms, max {record.MaxMs:F1} ms; debounce {record.DebounceActualMs:F1}, rebuild {record.RebuildMs:F1}, pushes written +{record.LastPushMs:F1} ms ({marks.Pushes}); raw CPU: server {serverCpuMs:F1} ms (JIT {serverJitMs:F1} ms, {serverJitMethods} methods), clients {clientCpuMs:F1} ms (JIT {clientJitMs:F1} ms, {clientJitMethods} methods){missingNote}"));
            if (round <= 0)
            {
                continue;
            }

            latencies.AddRange(roundLatencies);
            afterDebounce.AddRange(done.Select(d => Ms(marks.RebuildStart, d)));
            foreach (var (nodeId, doneAt, _) in results)
            {
                if (doneAt != 0 && marks.PushByNode.TryGetValue(nodeId, out var written))
                {
                    serverPush.Add(Ms(marks.RebuildStart, written));
                    clientApply.Add(Ms(written, doneAt));
                }
            }

            publications += results.Sum(static r => (long)r.Publications);
            timedOut += missing;
            rounds.Add(record);
            roundSeconds.Add(elapsed);
            clientTails.Add(marks.LastPush == 0 || done.Count == 0 ? double.NaN : Ms(marks.LastPush, done.Max()));
        }

        var end = await server.StatsAsync(collect: false, cancellationToken);

        // Idle CPU again, now that tiered compilation has settled; the smaller of the two readings is the idle cost.
        var (serverIdleAfter, clientIdleAfter) = await MeasureIdleAsync(server, cancellationToken);
        await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  idle CPU after the rounds: server {serverIdleAfter / 1e6:F1} ms/s, clients {clientIdleAfter / 1e6:F1} ms/s"));
        serverIdleNsPerSecond = Math.Min(serverIdleNsPerSecond, serverIdleAfter);
        clientIdleNsPerSecond = Math.Min(clientIdleNsPerSecond, clientIdleAfter);
        rounds = [.. rounds.Select((r, i) => r with
        {
            ServerCpuMs = r.ServerCpuMs - (serverIdleNsPerSecond * roundSeconds[i] / 1e6),
            ClientCpuMs = r.ClientCpuMs - (clientIdleNsPerSecond * roundSeconds[i] / 1e6),
        })];
        var others = (MachineLoad.BusyNanoseconds() - busy0 - (end.CpuNanoseconds + CpuClock.ProcessNanoseconds() - ours0))
            / (Stopwatch.GetElapsedTime(measuring).TotalSeconds * 1e9 * Environment.ProcessorCount);
        var result = new SettingResult(
            clients,
            debounceMs,
            Distribution.Of(latencies),
            Distribution.Of(afterDebounce),
            Distribution.Of(serverPush),
            Distribution.Of(clientApply),
            Median(rounds.Select(static r => r.DebounceActualMs)),
            Median(rounds.Select(static r => r.RebuildMs)),
            Median(rounds.Select(static r => r.LastPushMs)),
            Median(clientTails),
            rounds.Average(static r => (double)r.Pushes) / clients,
            (double)publications / (clients * (double)options.Rounds),
            rounds.Average(static r => r.ServerCpuMs),
            rounds.Average(static r => r.ClientCpuMs),
            (serverAfter.HeapBytes - serverBefore.HeapBytes) / 1024.0 / clients,
            (serverAfter.WorkingSetBytes - serverBefore.WorkingSetBytes) / 1024.0 / clients,
            (clientHeapAfter - clientHeapBefore) / 1048576.0 / clients,
            timedOut,
            connectSeconds,
            Math.Max(0, others),
            rounds);
        return (result, t);
    }

    /// <summary>
    /// CPU per second of both processes with every client connected and nothing changing (keep-alives, timers),
    /// subtracted from each round; measured after the warm-up, once tiered compilation has settled.
    /// </summary>
    private static async Task<(double Server, double Client)> MeasureIdleAsync(ServeProcess<ServerReady> server, CancellationToken cancellationToken)
    {
        var server0 = await server.StatsAsync(collect: false, cancellationToken);
        var client0 = CpuClock.ProcessNanoseconds();
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var server1 = await server.StatsAsync(collect: false, cancellationToken);
        var client1 = CpuClock.ProcessNanoseconds();
        return (
            (server1.CpuNanoseconds - server0.CpuNanoseconds) / Stopwatch.GetElapsedTime(server0.Timestamp, server1.Timestamp).TotalSeconds,
            (client1 - client0) / clock.Elapsed.TotalSeconds);
    }

    /// <summary>Time this process has spent in the JIT: tiered compilation still at work inflates a round's CPU.</summary>
    private static long JitNanoseconds() => System.Runtime.JitInfo.GetCompilationTime().Ticks * 100;

    private static double Ms(long from, long to) => from == 0 || to == 0 ? double.NaN : Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(static v => !double.IsNaN(v)).Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];
    }

    private static long CollectedHeap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    private static string Summary(SettingResult r) => string.Create(CultureInfo.InvariantCulture,
        $"  => {r.Clients} clients, debounce {r.DebounceMs} ms: p50 {r.Latency.P50:F1} / p99 {r.Latency.P99:F1} / max {r.Latency.Max:F1} ms; after the debounce p50 {r.AfterDebounce.P50:F1} / p99 {r.AfterDebounce.P99:F1} / max {r.AfterDebounce.Max:F1} ms (server to written p99 {r.ServerPush.P99:F1}, client written to published p99 {r.ClientApply.P99:F1}); server CPU {r.ServerCpuMsPerPush:F1} ms/push; server {r.ServerHeapKbPerClient:F1} KB/client; client {r.ClientHeapMbPerClient:F2} MB/client");

    private static async Task<(string Json, string Markdown)> WriteAsync(PropagationOptions options, Report report, string markdown)
    {
        var directory = options.OutputDirectory ?? DefaultOutputDirectory();
        Directory.CreateDirectory(directory);
        var name = $"propagation-{report.Mode}-{report.Date:yyyyMMdd-HHmmss}";
        var json = Path.Combine(directory, name + ".json");
        var md = Path.Combine(directory, name + ".md");
        await File.WriteAllTextAsync(json, JsonSerializer.Serialize(report, JsonOptions));
        await File.WriteAllTextAsync(md, markdown);
        File.Copy(json, Path.Combine(directory, $"propagation-latest-{report.Mode}.json"), overwrite: true);
        File.Copy(md, Path.Combine(directory, $"propagation-latest-{report.Mode}.md"), overwrite: true);
        return (json, md);
    }

    /// <summary>benchmarks/results in the repository this build came from, else ./results.</summary>
    private static string DefaultOutputDirectory() =>
        SourceInfo.RepositoryRoot() is { } root ? Path.Combine(root, "benchmarks", "results") : Path.Combine(Environment.CurrentDirectory, "results");
}
