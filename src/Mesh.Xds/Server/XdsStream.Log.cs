using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Server;

internal abstract partial class XdsStream<TRequest, TResponse>
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "xDS {Protocol} stream {StreamId} opened by node '{NodeId}' (cluster '{Cluster}', user agent '{UserAgent}') from {Peer}; served snapshot key '{Key}' (current snapshot {SnapshotVersion})")]
        public static partial void StreamOpened(ILogger logger, XdsStreamProtocol protocol, long streamId, string nodeId, string cluster, string userAgent, string peer, string key, string snapshotVersion);

        [LoggerMessage(2, LogLevel.Information, "xDS {Protocol} stream {StreamId} of node '{NodeId}' closed after {DurationSeconds:F1} s: {Reason}")]
        public static partial void StreamClosed(ILogger logger, XdsStreamProtocol protocol, long streamId, string nodeId, double durationSeconds, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Node '{NodeId}' rejected (NACK) {TypeUrl} version '{Version}' (nonce {Nonce}) on stream {StreamId}: {ErrorMessage}")]
        public static partial void Nack(ILogger logger, string nodeId, string typeUrl, string version, string nonce, long streamId, string errorMessage);

        [LoggerMessage(4, LogLevel.Debug, "Node '{NodeId}' accepted (ACK) {TypeUrl} version '{Version}' (nonce {Nonce}) on stream {StreamId}")]
        public static partial void Ack(ILogger logger, string nodeId, string typeUrl, string version, string nonce, long streamId);

        [LoggerMessage(5, LogLevel.Debug, "Sent {TypeUrl} version '{Version}' with {ResourceCount} resource(s) and {RemovedCount} removal(s) (nonce {Nonce}) to node '{NodeId}' on stream {StreamId}")]
        public static partial void Push(ILogger logger, string typeUrl, string version, int resourceCount, int removedCount, string nonce, string nodeId, long streamId);

        [LoggerMessage(6, LogLevel.Debug, "Ignored a {TypeUrl} request of node '{NodeId}' on stream {StreamId} with stale nonce {Nonce}; a newer response is on its way")]
        public static partial void StaleNonce(ILogger logger, string nodeId, string typeUrl, string nonce, long streamId);

        [LoggerMessage(7, LogLevel.Error, "xDS stream {StreamId} of node '{NodeId}' failed")]
        public static partial void StreamFailed(ILogger logger, Exception exception, long streamId, string nodeId);
    }
}
