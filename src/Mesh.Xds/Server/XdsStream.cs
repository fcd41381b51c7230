using System.Globalization;
using System.Threading.Channels;
using Envoy.Config.Core.V3;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Server;

/// <summary>
/// One ADS stream: a loop that handles the client's requests and the snapshot changes of its key one at a time, in
/// arrival order, and is the stream's only writer (gRPC's response writer allows one write at a time). Requests are
/// read by a separate pump into the loop's queue; a snapshot change is one coalesced signal in the same queue.
/// </summary>
/// <typeparam name="TRequest">The request message (SotW or delta).</typeparam>
/// <typeparam name="TResponse">The response message.</typeparam>
internal abstract partial class XdsStream<TRequest, TResponse> : IXdsSnapshotWatcher, IDisposable
    where TRequest : class
{
    /// <summary>The order in which a snapshot change is pushed, so that a client learns of a cluster before the routes that use it (Envoy's make-before-break order).</summary>
    private static readonly string[] PushOrder =
    [
        XdsResourceSnapshot.ClusterTypeUrl,
        XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl,
        XdsResourceSnapshot.ListenerTypeUrl,
        XdsResourceSnapshot.RouteConfigurationTypeUrl,
    ];

    private static readonly Comparer<string> TypeOrder = Comparer<string>.Create(static (a, b) =>
    {
        var x = Array.IndexOf(PushOrder, a);
        var y = Array.IndexOf(PushOrder, b);
        x = x < 0 ? PushOrder.Length : x;
        y = y < 0 ? PushOrder.Length : y;
        return x != y ? x.CompareTo(y) : string.CompareOrdinal(a, b);
    });

    /// <summary>Requests read ahead of the loop at most; then the pump stops reading and HTTP/2 flow control holds the client back.</summary>
    private const int MaxQueuedRequests = 64;

    // A null entry is the signal "the snapshot of this stream's key changed".
    private readonly Channel<TRequest?> _events = Channel.CreateUnbounded<TRequest?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _requestSlots = new(MaxQueuedRequests, MaxQueuedRequests);
    private readonly IAsyncStreamReader<TRequest> _requests;
    private readonly IServerStreamWriter<TResponse> _responses;
    private readonly XdsStreamProtocol _protocol;
    private readonly string _peer;
    private readonly string? _userAgentHeader;
    private XdsServerClientStatus? _status;
    private string _key = string.Empty;
    private int _snapshotChangePending;
    private long _lastNonce;

    protected XdsStream(XdsSnapshotCache cache, XdsStreamProtocol protocol, IAsyncStreamReader<TRequest> requests, IServerStreamWriter<TResponse> responses, string peer, string? userAgentHeader, ILogger logger)
    {
        Cache = cache;
        _protocol = protocol;
        _requests = requests;
        _responses = responses;
        _peer = peer;
        _userAgentHeader = userAgentHeader;
        Logger = logger;
        StreamId = cache.NextStreamId();
        if (cache.Options.ControlPlaneIdentifier is { } identifier)
        {
            ControlPlane = new ControlPlane { Identifier = identifier };
        }
    }

    public XdsServerClientStatus Status => _status ?? throw new InvalidOperationException("The stream has not received its first request yet.");

    protected XdsSnapshotCache Cache { get; }

    protected ILogger Logger { get; }

    protected long StreamId { get; }

    protected string NodeId => _status?.NodeId ?? string.Empty;

    /// <summary>The snapshot the loop works from: taken when the stream starts and on every change signal.</summary>
    protected XdsResourceSnapshot? Snapshot { get; private set; }

    /// <summary>The <c>control_plane</c> of every response, from <see cref="XdsServerOptions.ControlPlaneIdentifier"/>.</summary>
    protected ControlPlane? ControlPlane { get; }

    public void OnSnapshotChanged()
    {
        // Coalesced: however many snapshots are set while the loop is busy, it reads the latest one once.
        if (Interlocked.Exchange(ref _snapshotChangePending, 1) == 0)
        {
            _events.Writer.TryWrite(null);
        }
    }

    /// <summary>
    /// Runs the stream until the client closes it or goes away (<paramref name="callCancelled"/>), or the server stops
    /// (<paramref name="serverStopping"/>, ending the call with <c>UNAVAILABLE</c> so the client reconnects elsewhere).
    /// </summary>
    public async Task RunAsync(CancellationToken callCancelled, CancellationToken serverStopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callCancelled, serverStopping);
        var cancellationToken = linked.Token;
        var pump = PumpRequestsAsync(cancellationToken);
        var reason = "unknown";
        try
        {
            await foreach (var request in _events.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (request is null)
                {
                    // Cleared before reading the snapshot, so that a snapshot set from now on signals again.
                    Volatile.Write(ref _snapshotChangePending, 0);
                    Snapshot = Cache.GetSnapshot(_key);
                    await OnSnapshotChangedAsync(TypeOrder, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                _requestSlots.Release();
                if (_status is null)
                {
                    Start(GetNode(request));
                }

                await OnRequestAsync(request, cancellationToken).ConfigureAwait(false);
            }

            var readFailure = await pump.ConfigureAwait(false);
            reason = readFailure is null ? "the client closed its request stream" : $"reading a request failed: {readFailure.Message}";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            reason = callCancelled.IsCancellationRequested ? "the client went away" : "the server is stopping";
        }
        catch (Exception e) when (e is IOException || (e is InvalidOperationException && callCancelled.IsCancellationRequested))
        {
            // A write to a connection that broke: the client is gone, which is not the server's failure.
            reason = $"the connection broke: {e.Message}";
        }
        catch (RpcException e)
        {
            reason = $"ended with {e.StatusCode}: {e.Status.Detail}";
            throw;
        }
        catch (Exception e)
        {
            reason = $"failed: {e.Message}";
            Log.StreamFailed(Logger, e, StreamId, NodeId);
            throw;
        }
        finally
        {
            _events.Writer.TryComplete();
            await linked.CancelAsync().ConfigureAwait(false);
            await pump.ConfigureAwait(false);
            if (_status is not null)
            {
                Cache.CancelWatch(_key, this);
                Log.StreamClosed(Logger, _protocol, StreamId, _status.NodeId, (Now - _status.ConnectedAt).TotalSeconds, reason);
            }
        }

        if (serverStopping.IsCancellationRequested && !callCancelled.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "The xDS server is shutting down; reconnect to another one."));
        }
    }

    /// <summary>Releases the request queue's semaphore; call after <see cref="RunAsync"/> completed.</summary>
    public void Dispose() => _requestSlots.Dispose();

    /// <summary>The node of a request (set on a stream's first request only, by most clients).</summary>
    protected abstract Node? GetNode(TRequest request);

    /// <summary>Handles one request: ACK/NACK bookkeeping, subscription changes, and the responses they call for.</summary>
    protected abstract ValueTask OnRequestAsync(TRequest request, CancellationToken cancellationToken);

    /// <summary>Pushes what changed, for each type the client asked for (in the order given).</summary>
    protected abstract ValueTask OnSnapshotChangedAsync(IComparer<string> typeOrder, CancellationToken cancellationToken);

    protected ValueTask SendAsync(TResponse response, CancellationToken cancellationToken) =>
        new(_responses.WriteAsync(response, cancellationToken));

    /// <summary>A nonce unique on this stream and increasing with every response.</summary>
    protected string NextNonce() => (++_lastNonce).ToString(CultureInfo.InvariantCulture);

    protected DateTimeOffset Now => Cache.TimeProvider.GetUtcNow();

    protected static RpcException MissingTypeUrl(string field) =>
        new(new Status(StatusCode.InvalidArgument, $"{field} is empty: on an aggregated (ADS) stream every request must name its resource type."));

    protected void RecordAck(string typeUrl, string version, string nonce)
    {
        var now = Now;
        Status.Update(typeUrl, s => s with { LastAckedVersion = version, LastAckedAt = now });
        Log.Ack(Logger, NodeId, typeUrl, version, nonce, StreamId);
    }

    protected void RecordNack(string typeUrl, string version, string nonce, string errorMessage)
    {
        var nack = new XdsNackStatus(version, nonce, errorMessage, Now);
        Status.Update(typeUrl, s => s with { LastNack = nack });
        XdsServerTelemetry.RecordNack(typeUrl);
        Log.Nack(Logger, NodeId, typeUrl, version, nonce, StreamId, errorMessage);
    }

    protected void RecordSubscription(string typeUrl, IEnumerable<string> names, bool wildcard)
    {
        string[] sorted = [.. names.Order(StringComparer.Ordinal)];
        Status.Update(typeUrl, s => s with { SubscribedNames = sorted, Wildcard = wildcard });
    }

    protected void RecordSent(string typeUrl, string version, string nonce, int resourceCount, int removedCount)
    {
        var now = Now;
        Status.Update(typeUrl, s => s with { LastSentVersion = version, LastSentNonce = nonce, LastSentResourceCount = resourceCount, LastSentAt = now });
        XdsServerTelemetry.RecordPush(typeUrl);
        XdsServerTelemetry.TracePush(typeUrl, version, NodeId, resourceCount, removedCount, Snapshot?.Origin ?? default);
        Log.Push(Logger, typeUrl, version, resourceCount, removedCount, nonce, NodeId, StreamId);
    }

    protected void LogStaleNonce(string typeUrl, string nonce) => Log.StaleNonce(Logger, NodeId, typeUrl, nonce, StreamId);

    private void Start(Node? node)
    {
        node ??= new Node();
        _key = Cache.GetSnapshotKey(node);
        _status = new XdsServerClientStatus(StreamId, _protocol, node, _key, _peer, _userAgentHeader, Now);
        Snapshot = Cache.Watch(_key, this);
        Log.StreamOpened(Logger, _protocol, StreamId, _status.NodeId, _status.Cluster, _status.UserAgent, _peer, _key, Snapshot?.Version ?? "(none yet)");
    }

    /// <summary>Reads requests into the loop's queue; returns the read failure, if any (a client that goes away is not one).</summary>
    private async Task<Exception?> PumpRequestsAsync(CancellationToken cancellationToken)
    {
        Exception? failure = null;
        try
        {
            while (await _requests.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                await _requestSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
                _events.Writer.TryWrite(_requests.Current);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The connection broke, or a request could not be parsed: the loop ends after what was queued.
            failure = e;
        }
        finally
        {
            _events.Writer.TryComplete();
        }

        return failure;
    }
}
