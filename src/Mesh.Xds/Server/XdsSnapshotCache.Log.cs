using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Server;

public sealed partial class XdsSnapshotCache
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "xDS snapshot '{Version}' set for '{Key}'; {Streams} open stream(s) notified")]
        public static partial void SnapshotSet(ILogger logger, string version, string key, int streams);

        [LoggerMessage(2, LogLevel.Warning, "xDS snapshot '{Version}' for '{Key}' rejected with {ProblemCount} problem(s). {Problems}")]
        public static partial void SnapshotRejected(ILogger logger, string version, string key, int problemCount, string problems);
    }
}
