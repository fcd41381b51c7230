using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <content>The log messages of <see cref="BootstrapTokenAuthenticator"/>.</content>
internal sealed partial class BootstrapTokenAuthenticator
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Bootstrap tokens: {Count} read from {Path}")]
        public static partial void Loaded(ILogger logger, string path, int count);

        [LoggerMessage(2, LogLevel.Information, "Bootstrap tokens: {Path} changed; {Count} tokens now in force")]
        public static partial void Reloaded(ILogger logger, string path, int count);

        [LoggerMessage(3, LogLevel.Error, "Bootstrap tokens: {Path} changed but has bad lines, the previous tokens stay in force: {Problems}")]
        public static partial void ReloadRejected(ILogger logger, string path, string problems);

        [LoggerMessage(4, LogLevel.Warning, "Bootstrap tokens: {Path} could not be read, the previous tokens stay in force: {Problem}")]
        public static partial void ReloadFailed(ILogger logger, string path, string problem);

        [LoggerMessage(5, LogLevel.Warning, "Bootstrap tokens: {Path} was deleted; no token is accepted until it is back")]
        public static partial void FileGone(ILogger logger, string path);
    }
}
