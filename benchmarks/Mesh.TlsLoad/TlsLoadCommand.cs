using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Mesh.Benchmarking;
using Mesh.TlsLoad.Clients;
using Mesh.TlsLoad.Load;
using Mesh.TlsLoad.Reporting;
using Mesh.TlsLoad.Serving;

namespace Mesh.TlsLoad;

/// <summary>
/// Runs the two sections against one server process. <b>steady</b>: keep-alive, closed loop, per protocol the four
/// variants tls, mtls, mesh-tls, mesh-mtls, each with a fresh client, warmed up, then measured in alternating rounds.
/// <b>handshake</b>: HTTP/1.1 with <c>Connection: close</c>, so every request opens a new TLS connection; tls and mtls,
/// each with TLS resumption allowed (the default) and disabled on the client; then the resumption check
/// (<see cref="ResumptionCheck"/>).
/// </summary>
internal static class TlsLoadCommand
{
    public static async Task<int> RunAsync(TlsLoadOptions options)
    {
        var started = DateTimeOffset.UtcNow;
        var measurements = options.Rounds * ((options.Steady ? 8 : 0) + (options.Handshake ? 4 : 0));
        var warmups = (options.Steady ? 8 : 0) + (options.Handshake ? 4 : 0);
        var expected = (measurements * options.Duration) + (warmups * options.Warmup);
        var limit = (expected * 2) + TimeSpan.FromSeconds(120);
        using var hardLimit = new CancellationTokenSource(limit);
        var token = hardLimit.Token;
        Console.WriteLine($"Mesh.TlsLoad {options.Mode}: {options.Rounds} round(s) × {options.Duration.TotalSeconds:0.#} s, warm-up {options.Warmup.TotalSeconds:0.#} s, " +
            $"concurrency {options.Concurrency} (handshakes {options.HandshakeConcurrency}); about {expected.TotalSeconds:0} s of load, stopping after {limit.TotalSeconds:0} s at the latest");

        var certificates = Certificates.Create();
        await using var server = await ServeProcess<ServerPorts>.StartAsync(ServeProtocol.MaxSeconds(limit + TimeSpan.FromSeconds(30)), JsonSerializer.Serialize(certificates), TimeSpan.FromSeconds(30), token);
        Console.WriteLine($"server process {server.Pid}: tls listener 127.0.0.1:{server.Ready.Tls}, mtls listener 127.0.0.1:{server.Ready.Mtls}");
        var runner = new Runner(server, options, token);
        var loadBefore = MachineInfo.LoadAverage();
        List<PeerObservation> resumption = [];
        try
        {
            if (options.Steady)
            {
                foreach (var (protocol, version) in new[] { ("HTTP/2", HttpVersion.Version20), ("HTTP/1.1", HttpVersion.Version11) })
                {
                    var variants = new[]
                    {
                        VariantFactory.CreatePlain("tls", mutual: false, version, server.Ready, certificates),
                        VariantFactory.CreatePlain("mtls", mutual: true, version, server.Ready, certificates),
                        VariantFactory.CreateMesh("mesh-tls", mutual: false, version, server.Ready, certificates),
                        VariantFactory.CreateMesh("mesh-mtls", mutual: true, version, server.Ready, certificates),
                    };
                    await runner.RunSectionAsync("steady", protocol, variants, options.Concurrency);
                }
            }

            if (options.Handshake)
            {
                var variants = new[]
                {
                    VariantFactory.CreatePlain("tls +resume", mutual: false, HttpVersion.Version11, server.Ready, certificates, connectionClose: true, allowResume: true),
                    VariantFactory.CreatePlain("mtls +resume", mutual: true, HttpVersion.Version11, server.Ready, certificates, connectionClose: true, allowResume: true),
                    VariantFactory.CreatePlain("tls -resume", mutual: false, HttpVersion.Version11, server.Ready, certificates, connectionClose: true, allowResume: false),
                    VariantFactory.CreatePlain("mtls -resume", mutual: true, HttpVersion.Version11, server.Ready, certificates, connectionClose: true, allowResume: false),
                };
                await runner.RunSectionAsync("handshake", "HTTP/1.1, Connection: close", variants, options.HandshakeConcurrency);
                resumption = await ResumptionCheck.RunAsync(server.Ready, certificates, token);
                foreach (var o in resumption)
                {
                    Console.WriteLine($"resumption check, request {o.Request}: presented {o.PresentedSerial}, server saw {o.ServerSawSerial}, resumed {o.Resumed}, validated peer {o.ServerValidatedPeer}");
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"stopped at the hard time limit of {limit.TotalSeconds:0} s; the report holds what was measured");
        }

        var run = new RunInfo(
            options.Mode,
            started,
            DateTimeOffset.UtcNow,
            await SourceInfo.DescribeAsync(),
            MachineInfo.Collect(TlsSessionProbe.OpenSslVersion()),
            $"{loadBefore} before, {MachineInfo.LoadAverage()} after",
            $"dotnet run -c Release --project benchmarks/Mesh.TlsLoad{(options.Quick ? " -- --quick" : string.Empty)}",
            options.Rounds,
            options.Duration.TotalSeconds,
            options.Warmup.TotalSeconds,
            options.Concurrency,
            options.HandshakeConcurrency,
            TlsSessionProbe.IsAvailable);
        var markdown = Report.Markdown(run, runner.Measurements, resumption);
        Console.WriteLine();
        Console.WriteLine(markdown);
        var directory = options.Out ?? Path.Combine(SourceInfo.RepositoryRoot() ?? Directory.GetCurrentDirectory(), "benchmarks", "Mesh.TlsLoad", "results");
        Directory.CreateDirectory(directory);
        var stem = Path.Combine(directory, $"tlsload-{options.Mode}-{started:yyyyMMdd-HHmmss}");
        await File.WriteAllTextAsync(stem + ".md", markdown, CancellationToken.None);
        await File.WriteAllTextAsync(stem + ".json", Report.Json(run, runner.Measurements, resumption), CancellationToken.None);
        Console.WriteLine($"written: {stem}.md and .json");
        return runner.Measurements.Any(m => m.Errors > 0) ? 1 : 0;
    }

    /// <summary>Warm-up and alternating rounds of a set of variants, with the resources each measurement used.</summary>
    private sealed class Runner(ServeProcess<ServerPorts> server, TlsLoadOptions options, CancellationToken token)
    {
        private readonly Process _self = Process.GetCurrentProcess();
        private readonly LatencyRecorder _recorder = new(4_000_000);

        public List<Measurement> Measurements { get; } = [];

        public async Task RunSectionAsync(string section, string protocol, Variant[] variants, int concurrency)
        {
            try
            {
                foreach (var variant in variants)
                {
                    // One request first, so that a variant that cannot connect fails here with its reason.
                    using (var first = await variant.Client.GetAsync(variant.Target, token))
                    {
                        first.EnsureSuccessStatusCode();
                    }

                    await ClosedLoop.RunAsync(variant, concurrency, options.Warmup, _recorder, token);
                }

                for (var round = 1; round <= options.Rounds; round++)
                {
                    foreach (var variant in variants)
                    {
                        var m = await MeasureAsync(section, protocol, variant, round, concurrency);
                        Measurements.Add(m);
                        Console.WriteLine($"{section,-9} {protocol,-28} {variant.Name,-13} round {round}: {m.PerSecond,9:N0}/s  p50 {m.P50Us,7:N0} µs  p99 {m.P99Us,7:N0} µs  " +
                            $"client {m.ClientCpuMsPer1k,5:N1} / server {m.ServerCpuMsPer1k,5:N1} CPU ms per 1k  other load {m.OtherLoadPercent,3:N0} %" +
                            (m.Errors > 0 ? $"  {m.Errors} errors ({m.FirstError})" : string.Empty));
                    }
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

        private async Task<Measurement> MeasureAsync(string section, string protocol, Variant variant, int round, int concurrency)
        {
            var stats0 = await server.RequestAsync<ServerStats>("stats", TimeSpan.FromSeconds(10), token);
            var serverCpu0 = ProcStat.CpuTime(server.Pid);
            var busy0 = ProcStat.MachineBusy();
            var callbacks0 = variant.Callbacks?.Read() ?? default;
            _self.Refresh();
            var clientCpu0 = _self.TotalProcessorTime;
            var t0 = Stopwatch.GetTimestamp();

            var result = await ClosedLoop.RunAsync(variant, concurrency, options.Duration, _recorder, token);

            var elapsed = Stopwatch.GetElapsedTime(t0);
            _self.Refresh();
            var clientCpu = _self.TotalProcessorTime - clientCpu0;
            var callbacks1 = variant.Callbacks?.Read() ?? default;
            var busy = ProcStat.MachineBusy() - busy0;
            var serverCpu = ProcStat.CpuTime(server.Pid) - serverCpu0;
            var stats1 = await server.RequestAsync<ServerStats>("stats", TimeSpan.FromSeconds(10), token);
            var listener = variant.Listener == "mtls" ? stats1.Mtls - stats0.Mtls : stats1.Tls - stats0.Tls;

            // CPU per request over every request the server saw in the window, the tail after the deadline included.
            var served = Math.Max(1, listener.Requests);
            var other = (busy - clientCpu - serverCpu).TotalSeconds / (elapsed.TotalSeconds * Environment.ProcessorCount) * 100;
            return new Measurement(
                section,
                protocol,
                variant.Name,
                variant.Listener,
                round,
                result.Seconds,
                result.Completed,
                result.Errors,
                result.FirstError,
                result.PerSecond,
                result.Latency.P50,
                result.Latency.P99,
                clientCpu.TotalMilliseconds / served * 1000,
                serverCpu.TotalMilliseconds / served * 1000,
                Math.Max(0, other),
                listener,
                variant.Callbacks is null ? null : callbacks1.Validations - callbacks0.Validations,
                variant.Callbacks is null ? null : callbacks1.Selections - callbacks0.Selections);
        }
    }
}
