using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tls;

internal sealed partial class MeshTlsConnection
{
    private static partial class Log
    {
        [LoggerMessage(400, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} closed: a plaintext connection in STRICT mode (mutual TLS is required)")]
        public static partial void PlaintextRejected(ILogger logger, string connectionId, string? remoteEndPoint);

        [LoggerMessage(401, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} closed: no data within {Timeout}")]
        public static partial void NoFirstByte(ILogger logger, string connectionId, string? remoteEndPoint, TimeSpan timeout);

        [LoggerMessage(402, LogLevel.Debug, "Connection {ConnectionId}: TLS handshake rejected: the client sent no certificate, and STRICT mode requires one")]
        public static partial void NoClientCertificate(ILogger logger, string connectionId);

        [LoggerMessage(403, LogLevel.Warning, "Connection {ConnectionId}: TLS handshake rejected: {Reason}")]
        public static partial void ClientCertificateRejected(ILogger logger, string connectionId, string reason);

        [LoggerMessage(404, LogLevel.Warning, "Connection {ConnectionId}: TLS handshake rejected: the client certificate could not be checked")]
        public static partial void ValidationFailed(ILogger logger, string connectionId, Exception exception);

        [LoggerMessage(405, LogLevel.Warning, "Connection {ConnectionId}: TLS handshake refused: the workload has no identity ({Error})")]
        public static partial void NoIdentity(ILogger logger, string connectionId, string error);
    }
}
