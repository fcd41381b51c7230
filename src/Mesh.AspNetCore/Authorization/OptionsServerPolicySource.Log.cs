using Mesh.Authorization;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Authorization;

internal sealed partial class OptionsServerPolicySource
{
    private static partial class Log
    {
        [LoggerMessage(410, LogLevel.Information, "Mesh server policy updated: PeerAuthentication {Mode}, {PolicyCount} authorization policies")]
        public static partial void Updated(ILogger logger, PeerAuthenticationMode mode, int policyCount);

        [LoggerMessage(411, LogLevel.Error, "Mesh server policy update rejected ({ErrorCount} errors); the previous policy stays in force:\n{Errors}")]
        public static partial void UpdateRejected(ILogger logger, int errorCount, string errors);

        [LoggerMessage(412, LogLevel.Error, "Mesh server policy: a Changed subscriber threw")]
        public static partial void ChangedHandlerFailed(ILogger logger, Exception exception);
    }
}
