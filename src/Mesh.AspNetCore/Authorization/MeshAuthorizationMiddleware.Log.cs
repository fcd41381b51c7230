using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Authorization;

internal sealed partial class MeshAuthorizationMiddleware
{
    private static partial class Log
    {
        [LoggerMessage(420, LogLevel.Information, "Request denied by policy {Policy}: peer {Peer}, {Method} {Path}: {Reason}")]
        public static partial void Denied(ILogger logger, string policy, string peer, string method, string path, string reason);
    }
}
