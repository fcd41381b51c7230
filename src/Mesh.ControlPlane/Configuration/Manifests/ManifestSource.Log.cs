using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Configuration.Manifests;

public sealed partial class ManifestSource
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Invalid manifest: {Problem}")]
        public static partial void DocumentError(ILogger logger, string problem);

        [LoggerMessage(2, LogLevel.Warning, "Manifest warning: {Problem}")]
        public static partial void DocumentWarning(ILogger logger, string problem);

        [LoggerMessage(3, LogLevel.Information, "Manifest file {File} applied: {ObjectCount} object(s)")]
        public static partial void FileLoaded(ILogger logger, string file, int objectCount);

        [LoggerMessage(4, LogLevel.Error, "Manifest file {File} not applied ({ErrorCount} error(s)); its last good version ({ObjectCount} object(s)) stays in effect until the file is fixed")]
        public static partial void FileRejectedKeepingLastGood(ILogger logger, string file, int errorCount, int objectCount);

        [LoggerMessage(5, LogLevel.Error, "Manifest file {File} not applied ({ErrorCount} error(s)); it contributes nothing until it is fixed")]
        public static partial void FileRejectedNeverGood(ILogger logger, string file, int errorCount);

        [LoggerMessage(6, LogLevel.Information, "Manifest file {File} removed; its {ObjectCount} object(s) are gone")]
        public static partial void FileRemoved(ILogger logger, string file, int objectCount);

        [LoggerMessage(7, LogLevel.Debug, "Manifest file {File} could not be read ({Reason}); keeping its current state and retrying on the next change or rescan")]
        public static partial void FileUnreadable(ILogger logger, string file, string reason);

        [LoggerMessage(8, LogLevel.Error, "Manifest directory {Directory} cannot be read ({Reason}); keeping the objects read before. Restore the directory to resume")]
        public static partial void DirectoryUnreadable(ILogger logger, string directory, string reason);

        [LoggerMessage(9, LogLevel.Information, "Manifest directory {Directory} read: {ObjectCount} object(s) from {FileCount} file(s); watching for changes")]
        public static partial void Synced(ILogger logger, string directory, int objectCount, int fileCount);

        [LoggerMessage(10, LogLevel.Warning, "Cannot watch manifest directory {Directory} ({Reason}); changes are noticed by the rescan every {RescanSeconds} s")]
        public static partial void WatcherUnavailable(ILogger logger, string directory, string reason, double rescanSeconds);

        [LoggerMessage(11, LogLevel.Warning, "The watcher of manifest directory {Directory} failed ({Reason}); re-reading the directory")]
        public static partial void WatcherError(ILogger logger, string directory, string reason);

        [LoggerMessage(12, LogLevel.Error, "Re-reading manifest directory {Directory} failed; the next change or rescan retries")]
        public static partial void ReloadFailed(ILogger logger, string directory, Exception exception);

        [LoggerMessage(13, LogLevel.Debug, "Manifest file {File} read empty; it may be mid-write, so its objects stay until the next read confirms it")]
        public static partial void EmptyFileDeferred(ILogger logger, string file);
    }
}
