using Microsoft.Extensions.Logging;

namespace Mesh.Identity;

internal sealed partial class FileWatcherIdentityProvider
{
    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Information, "Workload identity {SpiffeId} loaded from '{CertificateFile}', valid until {NotAfter:u}")]
        public static partial void Loaded(ILogger logger, string spiffeId, string certificateFile, DateTimeOffset notAfter);

        [LoggerMessage(51, LogLevel.Warning, "Workload identity files: {Error}; the current certificate {SpiffeId} (valid until {NotAfter:u}) stays in use")]
        public static partial void ReadFailedKeepingCurrent(ILogger logger, string error, string spiffeId, DateTimeOffset notAfter);

        [LoggerMessage(52, LogLevel.Warning, "Workload identity files: {Error}; there is no certificate yet")]
        public static partial void ReadFailedWithoutIdentity(ILogger logger, string error);

        [LoggerMessage(53, LogLevel.Error, "Workload identity: a Changed subscriber threw")]
        public static partial void ChangedHandlerFailed(ILogger logger, Exception exception);
    }
}
