using System.Globalization;
using Mesh.Benchmarking;

namespace Mesh.Propagation.Serving;

/// <summary>The benchmark's commands to its control-plane process (<see cref="ServeCommand"/>), over the shared <see cref="ServeProcess{TReady}"/>.</summary>
internal static class PropagationServer
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Starts the control plane with the workload; its first translation can take a while on large workloads.</summary>
    public static Task<ServeProcess<ServerReady>> StartAsync(int endpoints, double debounceMs, int repetitions, CancellationToken cancellationToken) =>
        ServeProcess<ServerReady>.StartAsync(
            [
                "--endpoints", endpoints.ToString(CultureInfo.InvariantCulture),
                "--debounce-ms", debounceMs.ToString(CultureInfo.InvariantCulture),
                "--repetitions", repetitions.ToString(CultureInfo.InvariantCulture),
                .. ServeProtocol.MaxSeconds(TimeSpan.FromMinutes(30)),
            ],
            input: null,
            readyTimeout: TimeSpan.FromSeconds(120),
            cancellationToken);

    public static Task<ServerChange> ChangeAsync(this ServeProcess<ServerReady> server, CancellationToken cancellationToken) =>
        server.RequestAsync<ServerChange>("change", ReplyTimeout, cancellationToken);

    public static Task<TimelineMarks> TimelineAsync(this ServeProcess<ServerReady> server, CancellationToken cancellationToken) =>
        server.RequestAsync<TimelineMarks>("timeline", ReplyTimeout, cancellationToken);

    public static Task<ServerStats> StatsAsync(this ServeProcess<ServerReady> server, bool collect, CancellationToken cancellationToken) =>
        server.RequestAsync<ServerStats>(collect ? "stats gc" : "stats", ReplyTimeout, cancellationToken);
}
