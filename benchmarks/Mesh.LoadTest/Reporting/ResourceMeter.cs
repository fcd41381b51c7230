using System.Diagnostics;
using Mesh.Benchmarking;
using Mesh.LoadTest.Clients;
using Mesh.LoadTest.Serving;

namespace Mesh.LoadTest.Reporting;

/// <summary>
/// Snapshots around a measurement: this process's CPU time (<see cref="Process.TotalProcessorTime"/>), allocated
/// bytes (<see cref="GC.GetTotalAllocatedBytes(bool)"/>, precise) and collections, which are the client's alone as the
/// servers run elsewhere; and the server side's CPU time (server process and nginx) and per-backend request counts.
/// </summary>
internal sealed class ResourceMeter(ServeProcess<ServerPorts> server, NginxHost? nginx, MeshMetricsListener metrics)
{
    private readonly Process _self = Process.GetCurrentProcess();
    private readonly HashSet<int> _ours = [Environment.ProcessId, server.Pid, .. nginx?.Pids ?? []];

    /// <summary>Before a measurement: the server side first, so that asking it costs the client window nothing.</summary>
    public async Task<Snapshot> BeginAsync(CancellationToken cancellationToken)
    {
        var backends = (await server.RequestAsync<ServerStats>("stats", TimeSpan.FromSeconds(10), cancellationToken)).Requests;
        var serverCpu = ServerCpu();
        var others = ProcStat.OtherProcessesCpu(_ours) + ProcStat.StealTime();
        return Client(backends, serverCpu) with { OtherProcesses = others, Timestamp = Stopwatch.GetTimestamp() };
    }

    /// <summary>After a measurement: the client first.</summary>
    public async Task<Snapshot> EndAsync(CancellationToken cancellationToken)
    {
        var client = Client([], TimeSpan.Zero) with { Timestamp = Stopwatch.GetTimestamp() };
        var others = ProcStat.OtherProcessesCpu(_ours) + ProcStat.StealTime();
        var serverCpu = ServerCpu();
        var backends = (await server.RequestAsync<ServerStats>("stats", TimeSpan.FromSeconds(10), cancellationToken)).Requests;
        return client with { ServerCpu = serverCpu, Backends = backends, OtherProcesses = others };
    }

    /// <summary>
    /// Waits until other processes have used less than <paramref name="threshold"/> of the machine for two seconds in a
    /// row, or <paramref name="maxWait"/> has passed; returns whether it is quiet.
    /// </summary>
    public async Task<bool> WaitForQuietAsync(double threshold, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        var end = Stopwatch.GetTimestamp() + (long)(maxWait.TotalSeconds * Stopwatch.Frequency);
        var quiet = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            var before = ProcStat.OtherProcessesCpu(_ours) + ProcStat.StealTime();
            var start = Stopwatch.GetTimestamp();
            await Task.Delay(1000, cancellationToken);
            var share = (ProcStat.OtherProcessesCpu(_ours) + ProcStat.StealTime() - before).TotalSeconds / (Stopwatch.GetElapsedTime(start).TotalSeconds * Environment.ProcessorCount);
            quiet = share < threshold ? quiet + 1 : 0;
            if (quiet >= 2)
            {
                return true;
            }
        }

        return false;
    }

    private TimeSpan ServerCpu() => ProcStat.CpuTime(server.Pid) + (nginx?.CpuTime() ?? TimeSpan.Zero);

    private Snapshot Client(long[] backends, TimeSpan serverCpu)
    {
        _self.Refresh();
        return new Snapshot(
            _self.TotalProcessorTime,
            GC.GetTotalAllocatedBytes(precise: true),
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            serverCpu,
            backends,
            metrics.Measurements);
    }

    internal sealed record Snapshot(TimeSpan ClientCpu, long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan ServerCpu, long[] Backends, long MeshMeasurements)
    {
        /// <summary>CPU time used by other processes, plus the hypervisor's steal, so far: was the machine quiet during a measurement?</summary>
        public TimeSpan OtherProcesses { get; init; }

        /// <summary>When the client figures were read (<see cref="Stopwatch"/> ticks).</summary>
        public long Timestamp { get; init; }
    }
}
