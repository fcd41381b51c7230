using Microsoft.Extensions.Logging;

namespace Mesh.Identity;

internal sealed partial class RotatingIdentityProvider
{
    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Information, "Workload identity {SpiffeId} obtained from {Signer}, valid until {NotAfter:u}; renewal at {RenewAt:u}")]
        public static partial void Rotated(ILogger logger, string spiffeId, string signer, DateTimeOffset notAfter, DateTimeOffset renewAt);

        [LoggerMessage(41, LogLevel.Warning, "Workload identity: attempt {Attempt} failed: {Error}; retrying in {Delay}, the current certificate {SpiffeId} (valid until {NotAfter:u}) stays in use")]
        public static partial void AttemptFailedKeepingCurrent(ILogger logger, int attempt, string error, TimeSpan delay, string spiffeId, DateTimeOffset notAfter);

        [LoggerMessage(42, LogLevel.Warning, "Workload identity: attempt {Attempt} failed: {Error}; retrying in {Delay}, there is no certificate yet")]
        public static partial void AttemptFailedWithoutIdentity(ILogger logger, int attempt, string error, TimeSpan delay);

        [LoggerMessage(43, LogLevel.Warning, "Workload identity: no trusted root is configured, so the root that {Signer} returned ('{Subject}', SHA-1 {Thumbprint}) is trusted as it is (trust on first use); configure the mesh's root certificate to check the CA")]
        public static partial void TrustOnFirstUse(ILogger logger, string signer, string subject, string thumbprint);

        [LoggerMessage(44, LogLevel.Error, "Workload identity: a Changed subscriber threw")]
        public static partial void ChangedHandlerFailed(ILogger logger, Exception exception);
    }
}
