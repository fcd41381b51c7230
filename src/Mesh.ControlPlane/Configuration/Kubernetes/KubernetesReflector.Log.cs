using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Configuration.Kubernetes;

internal sealed partial class KubernetesReflector
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{SourceId}: listed {Count} objects at resourceVersion {ResourceVersion}")]
        public static partial void Listed(ILogger logger, string sourceId, int count, string? resourceVersion);

        [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "{SourceId}: watching from resourceVersion {ResourceVersion}")]
        public static partial void Watching(ILogger logger, string sourceId, string? resourceVersion);

        [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "{SourceId}: resourceVersion {ResourceVersion} expired (410 Gone); relisting")]
        public static partial void ResourceVersionExpired(ILogger logger, string sourceId, string? resourceVersion);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "{SourceId}: the API server does not serve {ApiVersion} {Kind} (404; is the CRD installed? deploy/crds has minimal ones); treating it as empty and listing again every {RetrySeconds} s")]
        public static partial void KindNotServed(ILogger logger, string sourceId, string apiVersion, string kind, double retrySeconds);

        [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "{SourceId}: the resource is served now")]
        public static partial void KindServed(ILogger logger, string sourceId);

        [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "{SourceId}: {Operation} failed")]
        public static partial void RequestFailed(ILogger logger, string sourceId, string operation, Exception exception);

        [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "{SourceId}: watch returned an error: code {Code}, reason {Reason}: {Message}")]
        public static partial void WatchErrorEvent(ILogger logger, string sourceId, int? code, string? reason, string? message);

        [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "{SourceId}: a watch event could not be read")]
        public static partial void UndecodableEvent(ILogger logger, string sourceId, Exception exception);

        [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "{SourceId}: no event or bookmark for {IdleSeconds} s; re-watching from resourceVersion {ResourceVersion}")]
        public static partial void WatchIdle(ILogger logger, string sourceId, double idleSeconds, string? resourceVersion);

        [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "{SourceId}: watch connection lost; re-watching from resourceVersion {ResourceVersion}")]
        public static partial void WatchDropped(ILogger logger, string sourceId, string? resourceVersion, Exception exception);

        [LoggerMessage(EventId = 11, Level = LogLevel.Debug, Message = "{SourceId}: bookmark at resourceVersion {ResourceVersion}")]
        public static partial void Bookmark(ILogger logger, string sourceId, string? resourceVersion);

        [LoggerMessage(EventId = 12, Level = LogLevel.Debug, Message = "{SourceId}: {Reason}; retrying in {DelayMs} ms")]
        public static partial void BackingOff(ILogger logger, string sourceId, string reason, double delayMs);
    }
}
