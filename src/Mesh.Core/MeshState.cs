using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Telemetry;
using Microsoft.Extensions.Logging;

namespace Mesh;

/// <summary>
/// Holds the current <see cref="MeshSnapshot"/>. Readers (every request) take <see cref="Current"/>
/// with one volatile read; writers (config sources) are serialized, build the next snapshot off the
/// request path and publish it with one volatile write, or keep the last good one when it is invalid.
/// </summary>
public sealed partial class MeshState : IDisposable
{
    private readonly Lock _writeLock = new();
    private readonly MeshSnapshotBuilder _builder;
    private readonly MeshTelemetry _telemetry;
    private readonly ILogger _logger;
    private MeshSnapshot _current = MeshSnapshot.Empty;
    private MeshRuntime _runtime = MeshRuntime.Empty;
    private bool _disposed;

    internal MeshState(IEnumerable<LoadBalancingPolicy> policies, Random random, TimeProvider time, MeshTelemetry telemetry, ILoggerFactory loggers, ILogger<MeshState> logger)
    {
        _builder = new MeshSnapshotBuilder(policies, random, time, telemetry, loggers);
        _telemetry = telemetry;
        _logger = logger;
    }

    /// <summary>The snapshot in force. Never null: <see cref="MeshSnapshot.Empty"/> before the first configuration.</summary>
    public MeshSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new snapshot is published, on the publishing thread, in version order.</summary>
    public event Action<MeshSnapshot>? SnapshotChanged;

    /// <summary>
    /// Validates <paramref name="options"/> and, when valid, publishes the snapshot built from it.
    /// Returns every error otherwise; the current snapshot then stays in force.
    /// </summary>
    internal MeshBuildResult Apply(MeshOptions options, string source)
    {
        MeshBuildResult result;
        lock (_writeLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var next = _current.Version + 1;
            result = _builder.Build(options, source, next, _runtime);
            if (result.Snapshot is null)
            {
                _telemetry.ConfigUpdates.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.ConfigResult, "rejected"));
                Log.ConfigRejected(_logger, source, result.Errors.Count, MeshConfigurationException.FormatMessage(source, result.Errors), _current.Version);
                return result;
            }

            var replaced = _runtime;
            _runtime = result.Runtime;
            Volatile.Write(ref _current, result.Snapshot);
            replaced.DisposeExcept(result.Runtime);
            _telemetry.ConfigUpdates.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.ConfigResult, "accepted"));
            Log.SnapshotPublished(_logger, result.Snapshot.Version, source, result.Snapshot.Services.Count, result.Snapshot.Clusters.Count, result.Runtime.Endpoints.Count);

            // Raised under the writer lock so subscribers see snapshots in version order; they must not publish from the handler.
            SnapshotChanged?.Invoke(result.Snapshot);
        }

        return result;
    }

    /// <summary>Stops the timers of outlier detection and rate limits; the last snapshot stays readable.</summary>
    public void Dispose()
    {
        lock (_writeLock)
        {
            if (!_disposed)
            {
                _disposed = true;
                _runtime.DisposeExcept(MeshRuntime.Empty);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Mesh snapshot v{Version} published from {Source}: {Services} service(s), {Clusters} cluster(s), {Endpoints} endpoint(s)")]
        public static partial void SnapshotPublished(ILogger logger, long version, string source, int services, int clusters, int endpoints);

        [LoggerMessage(2, LogLevel.Error, "Mesh configuration from {Source} rejected with {ErrorCount} error(s); snapshot v{KeptVersion} stays in force. {Errors}")]
        public static partial void ConfigRejected(ILogger logger, string source, int errorCount, string errors, long keptVersion);
    }
}
