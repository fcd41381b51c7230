using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Hosting;

/// <content>The log messages of <see cref="ControlPlaneHost"/>.</content>
internal sealed partial class ControlPlaneHost
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Published xDS snapshot {Version} from {Objects} objects: {Snapshot}")]
        public static partial void Published(ILogger logger, string version, int objects, string snapshot);

        [LoggerMessage(2, LogLevel.Error, "Invalid configuration object: {Error}")]
        public static partial void ObjectRejected(ILogger logger, string error);

        [LoggerMessage(3, LogLevel.Error, "Translation error: {Error}")]
        public static partial void TranslationError(ILogger logger, string error);

        [LoggerMessage(4, LogLevel.Warning, "{Warning}")]
        public static partial void TranslationWarning(ILogger logger, string warning);

        [LoggerMessage(5, LogLevel.Error, "xDS snapshot {Version} rejected, the previous one stays: {Problem}")]
        public static partial void SnapshotRejected(ILogger logger, string version, string problem);

        [LoggerMessage(6, LogLevel.Error, "Translation failed; the previous snapshot stays")]
        public static partial void TranslationFailed(ILogger logger, Exception exception);

        [LoggerMessage(7, LogLevel.Debug, "Not translating yet: waiting for every source to sync")]
        public static partial void WaitingForSources(ILogger logger);
    }
}
