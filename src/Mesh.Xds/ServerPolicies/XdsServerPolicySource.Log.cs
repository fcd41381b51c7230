using Mesh.Authorization;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.ServerPolicies;

internal sealed partial class XdsServerPolicySource
{
    private static partial class Log
    {
        [LoggerMessage(340, LogLevel.Information, "xDS server policy: watching the server listener '{Listener}'")]
        public static partial void Watching(ILogger logger, string listener);

        [LoggerMessage(341, LogLevel.Information, "xDS server policy: applied the server listener '{Listener}': {Mode}, {PolicyCount} RBAC policy(ies)")]
        public static partial void Applied(ILogger logger, string listener, PeerAuthenticationMode mode, int policyCount);

        [LoggerMessage(342, LogLevel.Warning, "xDS server policy: the server listener '{Listener}' was rejected; the previous policy stays in force. {Error}")]
        public static partial void Rejected(ILogger logger, string listener, string error);

        [LoggerMessage(343, LogLevel.Warning, "xDS server policy: the server listener '{Listener}' does not exist on the xDS server; the previous policy stays in force")]
        public static partial void DoesNotExist(ILogger logger, string listener);

        [LoggerMessage(344, LogLevel.Warning, "xDS server policy: the server listener '{Listener}' update failed; the previous policy stays in force. {Error}")]
        public static partial void Error(ILogger logger, string listener, string error);

        [LoggerMessage(345, LogLevel.Warning, "xDS server policy: the server listener '{Listener}' did not arrive within {Timeout}; the host starts with the initial policy")]
        public static partial void StartupTimeout(ILogger logger, string listener, TimeSpan timeout);
    }
}
