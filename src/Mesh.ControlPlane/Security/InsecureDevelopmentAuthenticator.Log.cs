using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <content>The log messages of <see cref="InsecureDevelopmentAuthenticator"/>.</content>
internal sealed partial class InsecureDevelopmentAuthenticator
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "INSECURE, development only: the certificate authority issues any identity a caller claims ({NamespaceKey} / {ServiceAccountKey} metadata), without checking who it is. Never use --insecure-dev-identities where others can reach the control plane.")]
        public static partial void Enabled(ILogger logger, string namespaceKey, string serviceAccountKey);

        [LoggerMessage(2, LogLevel.Warning, "INSECURE, development only: {Peer} claims namespace {Namespace}, service account {ServiceAccount}, and is believed without proof")]
        public static partial void Trusted(ILogger logger, string peer, string @namespace, string serviceAccount);
    }
}
