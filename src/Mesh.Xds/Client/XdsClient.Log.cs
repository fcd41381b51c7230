using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Client;

/// <summary>The client's log messages (event ids 201-228): state changes and problems; ACKs only at Debug.</summary>
internal sealed partial class XdsClient
{
    private static partial class Log
    {
        [LoggerMessage(201, LogLevel.Information, "Connected to xDS server {Server}")]
        public static partial void Connected(ILogger logger, string server);

        [LoggerMessage(202, LogLevel.Debug, "xDS server {Server}: stream state {Previous} -> {State}")]
        public static partial void StateChanged(ILogger logger, string server, XdsConnectionState previous, XdsConnectionState state);

        [LoggerMessage(203, LogLevel.Warning, "xDS server {Server} is unreachable ({Reason}); cached resources stay in use, retrying with backoff")]
        public static partial void StreamFailed(ILogger logger, string server, string reason);

        [LoggerMessage(204, LogLevel.Debug, "xDS server {Server} is still unreachable ({Reason}); retrying with backoff")]
        public static partial void StreamFailedAgain(ILogger logger, string server, string reason);

        [LoggerMessage(205, LogLevel.Information, "xDS stream to {Server} ended after responses ({Reason}); reopening it")]
        public static partial void StreamClosed(ILogger logger, string server, string reason);

        [LoggerMessage(206, LogLevel.Debug, "Sent {Type} request: version '{Version}', nonce '{Nonce}', {Count} resource name(s)")]
        public static partial void RequestSent(ILogger logger, string type, string version, string nonce, int count);

        [LoggerMessage(207, LogLevel.Debug, "ACK {Type} version '{Version}' (nonce '{Nonce}', {Count} resource(s))")]
        public static partial void Acked(ILogger logger, string type, string version, string nonce, int count);

        [LoggerMessage(208, LogLevel.Warning, "NACK {Type} version '{Version}' (nonce '{Nonce}'; staying on version '{AckedVersion}' for the rejected resources): {Errors}")]
        public static partial void Nacked(ILogger logger, string type, string version, string nonce, string ackedVersion, string errors);

        [LoggerMessage(209, LogLevel.Warning, "{Type} '{Name}' does not exist: xDS server {Server} did not send it within {Timeout}")]
        public static partial void ResourceDoesNotExist(ILogger logger, string type, string name, string server, TimeSpan timeout);

        [LoggerMessage(210, LogLevel.Warning, "{Type} '{Name}' not received from xDS server {Server} within {Timeout}; treated as a transient error")]
        public static partial void ResourceTimedOut(ILogger logger, string type, string name, string server, TimeSpan timeout);

        [LoggerMessage(211, LogLevel.Warning, "{Type} '{Name}' was deleted by xDS server {Server} (version '{Version}'); its watchers stop using it (fail_on_data_errors)")]
        public static partial void ResourceDeleted(ILogger logger, string type, string name, string version, string server);

        [LoggerMessage(212, LogLevel.Warning, "{Type} '{Name}' is missing from version '{Version}' of xDS server {Server}; the deletion is ignored and the last value stays in use (gRFC A88; set the fail_on_data_errors server feature to apply deletions)")]
        public static partial void DeletionIgnored(ILogger logger, string type, string name, string version, string server);

        [LoggerMessage(213, LogLevel.Information, "{Type} '{Name}' is back in version '{Version}' after its deletion was ignored")]
        public static partial void ResourceReturned(ILogger logger, string type, string name, string version);

        [LoggerMessage(214, LogLevel.Warning, "{Type} '{Name}': {Details}")]
        public static partial void ServerResourceError(ILogger logger, string type, string name, string details);

        [LoggerMessage(215, LogLevel.Warning, "xDS server sent a response of type '{TypeUrl}' (version '{Version}', nonce '{Nonce}') that this client does not handle; ignored")]
        public static partial void UnknownType(ILogger logger, string typeUrl, string version, string nonce);

        [LoggerMessage(218, LogLevel.Error, "xDS stream attempt to {Server} failed unexpectedly; retrying with backoff")]
        public static partial void AttemptFailed(ILogger logger, string server, Exception exception);

        [LoggerMessage(216, LogLevel.Debug, "Subscribed to {Type} '{Name}'")]
        public static partial void Subscribed(ILogger logger, string type, string name);

        [LoggerMessage(217, LogLevel.Debug, "Unsubscribed from {Type} '{Name}'")]
        public static partial void Unsubscribed(ILogger logger, string type, string name);
    }
}
