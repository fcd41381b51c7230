using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Benchmarking;
using Mesh.LoadTest.Clients;
using Mesh.LoadTest.Diagnostics;
using Mesh.LoadTest.Load;
using Mesh.LoadTest.Reporting;
using Mesh.LoadTest.Serving;

namespace Mesh.LoadTest;

/// <summary>
/// The load test: starts the server process and nginx, builds every variant's client, then for each protocol runs
/// the closed loop in rounds (variants alternating), derives the open-loop rate from variant 1's median, runs the
/// open loop in rounds, and writes the JSON and Markdown results. Every wait is bounded; the run ends by itself.
/// </summary>
internal static class LoadTestCommand
{
    private const string ExpectedBody = "hello from mesh\n";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static async Task<int> RunAsync(LoadTestOptions options)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        // A hard bound on the whole run, however the servers behave.
        var budget = (options.EstimatedRunTime() * 1.5) + TimeSpan.FromMinutes(3);
        cancel.CancelAfter(budget);
        var token = cancel.Token;
        var log = Console.Error;
        var clock = Stopwatch.StartNew();

        await using var server = await ServeProcess<ServerPorts>.StartAsync(ServeProtocol.MaxSeconds(budget + TimeSpan.FromMinutes(1)), null, TimeSpan.FromSeconds(30), token);
        NginxHost? nginx = null;
        var notes = new List<string>();
        if (options.Variants.Contains(VariantKind.Nginx))
        {
            var binary = await NginxHost.FindOrInstallAsync(options.InstallNginx, log, token);
            if (binary is not null)
            {
                try
                {
                    nginx = await NginxHost.StartAsync(binary, server.Ready.BackendsHttp11, budget + TimeSpan.FromMinutes(1), token);
                }
                catch (InvalidOperationException ex)
                {
                    await log.WriteLineAsync($"nginx: {ex.Message}; the nginx variant is skipped");
                }
            }

            if (nginx is null)
            {
                notes.Add("nginx could not run on this machine; its variant was skipped.");
            }
        }

        try
        {
            var variants = options.Variants.Where(v => v != VariantKind.Nginx || nginx is not null).ToArray();
            var machine = MachineInfo.Collect(nginx?.Version ?? "nginx not run");
            await log.WriteLineAsync($"machine: {machine}");
            await log.WriteLineAsync($"server process {server.Pid}: backends h1 {string.Join(",", server.Ready.BackendsHttp11)} h2 {string.Join(",", server.Ready.BackendsHttp2)}, YARP h1 {server.Ready.YarpHttp11} h2 {server.Ready.YarpHttp2}"
                + (nginx is null ? "" : $"; nginx h1 {nginx.Http11Port} h2 {nginx.Http2Port}"));

            using var metrics = new MeshMetricsListener();
            var meter = new ResourceMeter(server, nginx, metrics);
            if (options.AllocationProfile)
            {
                return await AllocationProfiler.RunAsync(options, variants, server.Ready, nginx, metrics, log, token);
            }

            if (options.Soak is { } soak)
            {
                using var variant = VariantFactory.Create(soak, options.Protocols[0], server.Ready, nginx, metrics);
                var recorder1 = new LatencyRecorder(8_000_000);
                await SmokeCheckAsync(variant, token);
                await ClosedLoop.RunAsync(variant, options.Concurrency, options.InitialWarmup, recorder1, token);
                await log.WriteLineAsync($"soak: client pid {Environment.ProcessId}, {soak.Key()} {options.Protocols[0].Key()} closed loop for {options.Duration.TotalSeconds} s");
                var before = await meter.BeginAsync(token);
                var result = await ClosedLoop.RunAsync(variant, options.Concurrency, options.Duration, recorder1, token);
                var after = await meter.EndAsync(token);
                await log.WriteLineAsync(Progress(Record(options.Protocols[0], variant, Figure.Closed, 1, result, before, after, targetRate: null)));
                return 0;
            }

            var report = new Report
            {
                Date = DateTimeOffset.UtcNow,
                Mode = options.Quick ? "quick" : "full",
                Command = "dotnet run -c Release --project benchmarks/Mesh.LoadTest" + (Environment.GetCommandLineArgs().Length > 1 ? " -- " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)) : ""),
                Machine = machine,
                Source = await SourceInfo.DescribeAsync(),
                Settings = new Dictionary<string, object>
                {
                    ["rounds"] = options.Rounds,
                    ["durationSeconds"] = options.Duration.TotalSeconds,
                    ["warmupSeconds"] = options.Warmup.TotalSeconds,
                    ["initialWarmupSeconds"] = options.InitialWarmup.TotalSeconds,
                    ["concurrency"] = options.Concurrency,
                    ["loadFraction"] = options.LoadFraction,
                    ["fixedRate"] = options.FixedRate ?? 0,
                    ["maxOutstanding"] = options.MaxOutstanding,
                    ["variants"] = variants.Select(v => v.Key()).ToArray(),
                },
            };
            report.Notes.AddRange(notes);
            var recorder = new LatencyRecorder(8_000_000);
            var noise = new NoiseBudget(options.NoiseBudget);
            foreach (var protocol in options.Protocols)
            {
                report.Protocols.Add(await RunProtocolAsync(options, protocol, variants, server, nginx, metrics, meter, recorder, noise, log, token));
            }

            foreach (var protocol in report.Protocols)
            {
                report.Targets.AddRange(Aggregation.EvaluateTargets(protocol));
            }

            var runs = report.Protocols.SelectMany(p => p.Variants).SelectMany(v => v.Closed.Rounds.Concat(v.Open.Rounds)).ToList();
            var noisy = runs.Count(r => r.OtherCpuShare >= options.NoiseThreshold);
            var redone = runs.Sum(r => r.Redone);
            report.Notes.Add((noisy == 0
                ? $"Other processes used under {options.NoiseThreshold:P0} of the machine during every measurement kept (at most {runs.Max(r => r.OtherCpuShare):P1})"
                : $"Warning: other processes used {options.NoiseThreshold:P0} or more of the machine during {noisy} of {runs.Count} measurements kept (at most {runs.Max(r => r.OtherCpuShare):P0}); those figures are disturbed")
                + (redone > 0 ? $"; {redone} disturbed measurement(s) were redone after waiting for quiet." : "."));

            var markdown = MarkdownReport.Render(report);
            var (jsonPath, markdownPath) = await WriteAsync(options, report, markdown);
            Console.WriteLine(markdown);
            await log.WriteLineAsync($"results: {jsonPath} and {markdownPath} (run took {clock.Elapsed.TotalSeconds:F0} s)");
            return 0;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            await log.WriteLineAsync($"stopped after {clock.Elapsed.TotalSeconds:F0} s (Ctrl+C or the run's time bound of {budget.TotalSeconds:F0} s)");
            return 3;
        }
        finally
        {
            if (nginx is not null)
            {
                await nginx.DisposeAsync();
            }
        }
    }

    private static async Task<ProtocolReport> RunProtocolAsync(
        LoadTestOptions options,
        HttpProtocol protocol,
        VariantKind[] kinds,
        ServeProcess<ServerPorts> server,
        NginxHost? nginx,
        MeshMetricsListener metrics,
        ResourceMeter meter,
        LatencyRecorder recorder,
        NoiseBudget noise,
        TextWriter log,
        CancellationToken token)
    {
        var report = new ProtocolReport { Protocol = protocol.Key(), Label = protocol.Label() };
        var variants = kinds.Select(k => VariantFactory.Create(k, protocol, server.Ready, nginx, metrics)).ToList();
        try
        {
            foreach (var variant in variants)
            {
                await SmokeCheckAsync(variant, token);
                report.Variants.Add(new VariantReport { Variant = variant.Kind.Key(), Label = variant.Kind.Label() });
                await log.WriteLineAsync($"{protocol.Key()} warm-up {variant.Kind.Key()} ({options.InitialWarmup.TotalSeconds} s)");
                await ClosedLoop.RunAsync(variant, options.Concurrency, options.InitialWarmup, recorder, token);
            }

            for (var round = 1; round <= options.Rounds; round++)
            {
                for (var i = 0; i < variants.Count; i++)
                {
                    var variant = variants[i];
                    var r = round;
                    var record = await MeasureAsync(
                        async () =>
                        {
                            Settle();
                            await ClosedLoop.RunAsync(variant, options.Concurrency, options.Warmup, recorder, token);
                            var before = await meter.BeginAsync(token);
                            var result = await ClosedLoop.RunAsync(variant, options.Concurrency, options.Duration, recorder, token);
                            var after = await meter.EndAsync(token);
                            return Record(protocol, variant, Figure.Closed, r, result, before, after, targetRate: null);
                        },
                        options,
                        meter,
                        noise,
                        log,
                        token);
                    report.Variants[i].Closed.Rounds.Add(record);
                }
            }

            var plainMax = Aggregation.Median(report.Variants[0].Closed.Rounds.Select(r => r.Throughput));
            var rate = options.FixedRate ?? Math.Max(10, Math.Round(plainMax * options.LoadFraction));
            report.OpenLoopRate = rate;
            await log.WriteLineAsync($"{protocol.Key()} open loop at {rate:N0} req/s ({rate / plainMax:P0} of plain's median max {plainMax:N0} req/s)");
            for (var round = 1; round <= options.Rounds; round++)
            {
                for (var i = 0; i < variants.Count; i++)
                {
                    var variant = variants[i];
                    var r = round;
                    var record = await MeasureAsync(
                        async () =>
                        {
                            Settle();
                            await OpenLoop.Create(variant, rate, options.Warmup, options.MaxOutstanding, recorder, options.InlineDispatch).RunAsync(options.DrainTimeout, token);
                            var run = OpenLoop.Create(variant, rate, options.Duration, options.MaxOutstanding, recorder, options.InlineDispatch);
                            var before = await meter.BeginAsync(token);
                            var result = await run.RunAsync(options.DrainTimeout, token);
                            var after = await meter.EndAsync(token);
                            return Record(protocol, variant, Figure.Open, r, result, before, after, rate);
                        },
                        options,
                        meter,
                        noise,
                        log,
                        token);
                    report.Variants[i].Open.Rounds.Add(record);
                }
            }

            Aggregation.Summarize(report);
            return report;
        }
        finally
        {
            foreach (var variant in variants)
            {
                variant.Dispose();
            }
        }
    }

    /// <summary>
    /// Runs a measurement; when other processes disturbed it, waits for a quiet moment and redoes it, as long as the
    /// run's noise budget lasts. A measurement that stays disturbed is kept, flagged by its <see cref="RunRecord.OtherCpuShare"/>.
    /// </summary>
    private static async Task<RunRecord> MeasureAsync(Func<Task<RunRecord>> measure, LoadTestOptions options, ResourceMeter meter, NoiseBudget noise, TextWriter log, CancellationToken token)
    {
        for (var redone = 0; ; redone++)
        {
            var record = await measure();
            record.Redone = redone;
            await log.WriteLineAsync(Progress(record));
            if (record.OtherCpuShare < options.NoiseThreshold || noise.Remaining <= TimeSpan.Zero)
            {
                return record;
            }

            var clock = Stopwatch.StartNew();
            await log.WriteLineAsync($"  disturbed by other processes ({record.OtherCpuShare:P0} of the machine); waiting for quiet to redo it ({noise.Remaining.TotalSeconds:F0} s of noise budget left)");
            await meter.WaitForQuietAsync(options.NoiseThreshold, noise.Remaining, token);
            noise.Spend(clock.Elapsed + options.Warmup + options.Duration);
        }
    }

    /// <summary>The time left for waiting out other processes and redoing what they disturbed.</summary>
    private sealed class NoiseBudget(TimeSpan total)
    {
        public TimeSpan Remaining { get; private set; } = total;

        public void Spend(TimeSpan time) => Remaining = Remaining > time ? Remaining - time : TimeSpan.Zero;
    }

    /// <summary>The same starting heap for every measurement: garbage left by the previous variant is not charged to the next.</summary>
    private static void Settle()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    private static async Task SmokeCheckAsync(Variant variant, CancellationToken token)
    {
        using var response = await variant.Client.GetAsync(variant.Target, token);
        var body = await response.Content.ReadAsStringAsync(token);
        if (response.StatusCode != System.Net.HttpStatusCode.OK || body != ExpectedBody || response.Version != variant.Protocol.Version())
        {
            throw new InvalidOperationException($"{variant.Kind.Key()} ({variant.Protocol.Key()}): GET {variant.Target} answered HTTP/{response.Version} {(int)response.StatusCode} '{body}'; expected HTTP/{variant.Protocol.Version()} 200 '{ExpectedBody.Trim()}'");
        }
    }

    private static RunRecord Record(HttpProtocol protocol, Variant variant, string mode, int round, LoadResult result, ResourceMeter.Snapshot before, ResourceMeter.Snapshot after, double? targetRate)
    {
        // CPU and allocations are divided by every request the window served (including the closed loop's tail).
        var requests = Math.Max(1, result.CompletedTotal);
        var backends = new long[Math.Min(before.Backends.Length, after.Backends.Length)];
        for (var i = 0; i < backends.Length; i++)
        {
            backends[i] = after.Backends[i] - before.Backends[i];
        }

        return new RunRecord
        {
            Protocol = protocol.Key(),
            Variant = variant.Kind.Key(),
            Mode = mode,
            Round = round,
            Requests = result.Completed,
            Errors = result.Errors,
            FirstError = result.FirstError,
            Seconds = result.Seconds,
            Throughput = result.Completed / result.Seconds,
            TargetRate = targetRate,
            Latency = result.Latency,
            ClientCpuMicrosPerRequest = (after.ClientCpu - before.ClientCpu).TotalMicroseconds / requests,
            ClientAllocatedBytesPerRequest = (double)(after.Allocated - before.Allocated) / requests,
            ServerCpuMicrosPerRequest = (after.ServerCpu - before.ServerCpu).TotalMicroseconds / requests,
            Gen0Collections = after.Gen0 - before.Gen0,
            Gen1Collections = after.Gen1 - before.Gen1,
            Gen2Collections = after.Gen2 - before.Gen2,
            BackendRequests = backends,
            MeshMeasurements = after.MeshMeasurements - before.MeshMeasurements,
            OtherCpuShare = OtherShare(before, after),
            SendLagP99Micros = mode == Figure.Open ? result.SendLagP99 : null,
            SendLagMaxMicros = mode == Figure.Open ? result.SendLagMax : null,
            Saturated = mode == Figure.Open ? result.Saturated : null,
        };
    }

    private static double OtherShare(ResourceMeter.Snapshot before, ResourceMeter.Snapshot after)
    {
        var wall = (after.Timestamp - before.Timestamp) / (double)Stopwatch.Frequency;
        return wall <= 0 ? 0 : Math.Clamp((after.OtherProcesses - before.OtherProcesses).TotalSeconds / (wall * Environment.ProcessorCount), 0, 1);
    }

    private static string Progress(RunRecord r) =>
        $"{r.Protocol} {r.Mode,-6} round {r.Round} {r.Variant,-9} {r.Throughput,9:N0} req/s  p50 {r.Latency.P50,7:N0} µs  p99 {r.Latency.P99,7:N0} µs  "
        + $"client {r.ClientCpuMicrosPerRequest,5:F1} µs/req {r.ClientAllocatedBytesPerRequest,6:N0} B/req  server {r.ServerCpuMicrosPerRequest,5:F1} µs/req  "
        + $"backends {string.Join('/', r.BackendRequests)}"
        + (r.MeshMeasurements > 0 ? $"  metrics {r.MeshMeasurements:N0}" : "")
        + (r.SendLagP99Micros is { } lag ? $"  send lag p99 {lag:N0} µs" : "")
        + (r.OtherCpuShare >= 0.05 ? $"  OTHER PROCESSES {r.OtherCpuShare:P0} CPU" : "")
        + (r.Errors > 0 ? $"  ERRORS {r.Errors}: {r.FirstError}" : "");

    private static async Task<(string Json, string Markdown)> WriteAsync(LoadTestOptions options, Report report, string markdown)
    {
        var directory = options.OutputDirectory ?? DefaultOutputDirectory();
        Directory.CreateDirectory(directory);
        var name = $"loadtest-{report.Mode}-{report.Date:yyyyMMdd-HHmmss}";
        var json = Path.Combine(directory, name + ".json");
        var md = Path.Combine(directory, name + ".md");
        await File.WriteAllTextAsync(json, JsonSerializer.Serialize(report, JsonOptions));
        await File.WriteAllTextAsync(md, markdown);
        File.Copy(json, Path.Combine(directory, $"latest-{report.Mode}.json"), overwrite: true);
        File.Copy(md, Path.Combine(directory, $"latest-{report.Mode}.md"), overwrite: true);
        return (json, md);
    }

    /// <summary>benchmarks/Mesh.LoadTest/results in the repository this build came from, else ./results.</summary>
    private static string DefaultOutputDirectory() =>
        SourceInfo.RepositoryRoot() is { } root ? Path.Combine(root, "benchmarks", "Mesh.LoadTest", "results") : Path.Combine(Environment.CurrentDirectory, "results");
}
