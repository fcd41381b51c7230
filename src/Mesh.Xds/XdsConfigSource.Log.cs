using Microsoft.Extensions.Logging;

namespace Mesh.Xds;

internal sealed partial class XdsConfigSource
{
    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Debug, "xDS: watching {Type} '{Name}'")]
        public static partial void Watching(ILogger logger, string type, string name);

        [LoggerMessage(301, LogLevel.Debug, "xDS: no longer watching {Type} '{Name}' (no route refers to it)")]
        public static partial void Unwatched(ILogger logger, string type, string name);

        [LoggerMessage(302, LogLevel.Warning, "xDS: {Type} '{Name}' does not exist on the server; what refers to it fails until it appears")]
        public static partial void ResourceDoesNotExist(ILogger logger, string type, string name);

        [LoggerMessage(303, LogLevel.Warning, "xDS: {Type} '{Name}' update failed; its previous value stays in use. {Error}")]
        public static partial void ResourceErrorKeepingValue(ILogger logger, string type, string name, string error);

        [LoggerMessage(304, LogLevel.Warning, "xDS: {Type} '{Name}' has no valid value yet; what refers to it fails until one arrives. {Error}")]
        public static partial void ResourceErrorWithoutValue(ILogger logger, string type, string name, string error);

        [LoggerMessage(305, LogLevel.Warning, "{Source}: {Warning}")]
        public static partial void TranslationWarning(ILogger logger, string source, string warning);

        [LoggerMessage(306, LogLevel.Debug, "{Source}: the configuration of {Targets} target(s) is complete; applying it with {Clusters} cluster(s)")]
        public static partial void Applying(ILogger logger, string source, int targets, int clusters);

        [LoggerMessage(307, LogLevel.Error, "{Source}: the mesh rejected the translated configuration ({ErrorCount} error(s), listed by the mesh); the previous configuration stays in force")]
        public static partial void Rejected(ILogger logger, string source, int errorCount);

        [LoggerMessage(308, LogLevel.Error, "xDS: cannot watch {Type} '{Name}'")]
        public static partial void WatchFailed(ILogger logger, string type, string name, Exception exception);

        [LoggerMessage(309, LogLevel.Debug, "xDS: unwatching {Type} '{Name}' failed; the client is shut down")]
        public static partial void UnwatchFailed(ILogger logger, string type, string name, Exception exception);

        [LoggerMessage(310, LogLevel.Error, "xDS: handling an update failed; the configuration stays as it was")]
        public static partial void WorkFailed(ILogger logger, Exception exception);

        [LoggerMessage(311, LogLevel.Warning, "xDS: no complete configuration from {Source} within {Timeout}; the host starts anyway and the mesh applies the configuration when it is complete")]
        public static partial void StartupTimeout(ILogger logger, string source, TimeSpan timeout);
    }
}
