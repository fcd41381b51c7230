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
public sealed partial class MeshState
{
    private readonly Lock _writeLock = new();
    private readonly MeshSnapshotBuilder _builder;
    private readonly MeshTelemetry _telemetry;
    private readonly ILogger _logger;
    private MeshSnapshot _current = MeshSnapshot.Empty;
    private IReadOnlyDictionary<string, EndpointState> _endpointStates = new Dictionary<string, EndpointState>();

    internal MeshState(IEnumerable<LoadBalancingPolicy> policies, Random random, MeshTelemetry telemetry, ILogger<MeshState> logger)
    {
        _builder = new MeshSnapshotBuilder(policies, random);
        _telemetry = telemetry;
        _logger = logger;
    }

    /// <summary>The snapshot in force. Never null: <see cref="MeshSnapshot.Empty"/> before the first configuration.</summary>
    public MeshSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new snapshot is published, on the publishing thread.</summary>
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
            var next = _current.Version + 1;
            result = _builder.Build(options, source, next, _endpointStates);
            if (result.Snapshot is null)
            {
                _telemetry.ConfigUpdates.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.ConfigResult, "rejected"));
                Log.ConfigRejected(_logger, source, result.Errors.Count, MeshConfigurationException.FormatMessage(source, result.Errors), _current.Version);
                return result;
            }

            _endpointStates = result.EndpointStates;
            Volatile.Write(ref _current, result.Snapshot);
            _telemetry.ConfigUpdates.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.ConfigResult, "accepted"));
            Log.SnapshotPublished(_logger, result.Snapshot.Version, source, result.Snapshot.Services.Count, result.Snapshot.Clusters.Count, result.EndpointStates.Count);
        }

        SnapshotChanged?.Invoke(result.Snapshot);
        return result;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Mesh snapshot v{Version} published from {Source}: {Services} service(s), {Clusters} cluster(s), {Endpoints} endpoint(s)")]
        public static partial void SnapshotPublished(ILogger logger, long version, string source, int services, int clusters, int endpoints);

        [LoggerMessage(2, LogLevel.Error, "Mesh configuration from {Source} rejected with {ErrorCount} error(s); snapshot v{KeptVersion} stays in force. {Errors}")]
        public static partial void ConfigRejected(ILogger logger, string source, int errorCount, string errors, long keptVersion);
    }
}
