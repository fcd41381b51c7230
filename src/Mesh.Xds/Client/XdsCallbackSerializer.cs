using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Client;

/// <summary>
/// Runs watcher callbacks one at a time, in the order they were scheduled, on one background loop (grpc-go's
/// callback serializer), so watchers need no locking and never run under the client's lock.
/// </summary>
internal sealed partial class XdsCallbackSerializer : IAsyncDisposable
{
    private readonly Channel<Action> _queue = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ILogger _logger;
    private readonly Task _loop;

    public XdsCallbackSerializer(ILogger logger)
    {
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Queues a callback; ignored after disposal.</summary>
    public void Schedule(Action callback) => _queue.Writer.TryWrite(callback);

    /// <summary>Stops taking callbacks and waits for the queued ones to run.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        await foreach (var callback in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                callback();
            }
#pragma warning disable CA1031 // A failing watcher must not stop the callbacks of the others.
            catch (Exception e)
#pragma warning restore CA1031
            {
                Log.WatcherFailed(_logger, e);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(229, LogLevel.Error, "An xDS resource watcher threw; the other watchers keep receiving updates")]
        public static partial void WatcherFailed(ILogger logger, Exception exception);
    }
}
