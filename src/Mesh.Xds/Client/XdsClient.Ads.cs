using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Envoy.Service.Discovery.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Mesh.Xds.Resources;
using RpcStatus = Mesh.Xds.Protos.Google.Rpc.Status;

namespace Mesh.Xds.Client;

/// <summary>The ADS stream: connection loop with backoff, the request writer, response handling and timers.</summary>
internal sealed partial class XdsClient
{
    private const int InvalidArgument = 3;
    private const int NotFound = 5;
    private const int PermissionDenied = 7;

    private async Task RunAsync(AggregatedDiscoveryService.AggregatedDiscoveryServiceClient client, CancellationToken shutdown)
    {
        var backoff = new XdsBackoff(
            _options.Random ?? Random.Shared, _options.BackoffInitial, _options.BackoffMultiplier, _options.BackoffJitter, _options.BackoffMax);
        while (!shutdown.IsCancellationRequested)
        {
            bool receivedResponse;
            try
            {
                receivedResponse = await RunStreamAsync(client, shutdown).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A bug in one attempt must not end the client: log it and retry with backoff.
            catch (Exception e) when (!shutdown.IsCancellationRequested)
#pragma warning restore CA1031
            {
                Log.AttemptFailed(_logger, _server.ServerUri, e);
                OnStreamEnded(responseReceived: false, $"{e.GetType().Name}: {e.Message}");
                receivedResponse = false;
            }

            if (shutdown.IsCancellationRequested)
            {
                break;
            }

            if (receivedResponse)
            {
                // The server answered, so it is reachable: reopen at once and start the backoff over (gRFC A57; as grpc-go and grpc-java).
                backoff.Reset();
                continue;
            }

            var delay = backoff.Next();
            lock (_lock)
            {
                _counters = _counters with { LastBackoff = delay };
            }

            try
            {
                await Task.Delay(delay, _time, shutdown).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Runs one ADS stream until it ends; returns whether it received at least one response.</summary>
    private async Task<bool> RunStreamAsync(AggregatedDiscoveryService.AggregatedDiscoveryServiceClient client, CancellationToken shutdown)
    {
        using var streamCts = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        AdsStream stream;
        var call = client.StreamAggregatedResources(cancellationToken: streamCts.Token);
        lock (_lock)
        {
            if (_disposed)
            {
                call.Dispose();
                return false;
            }

            SetState_NeedsLock(XdsConnectionState.Connecting);
            stream = new AdsStream(call, streamCts);
            _stream = stream;
            _counters = _counters with { StreamsStarted = _counters.StreamsStarted + 1 };
            foreach (var typeState in _types.Values)
            {
                // The nonce belongs to the old stream; the ACKed version is kept and sent again.
                typeState.Nonce = string.Empty;
                typeState.PendingError = null;
                typeState.Dirty = false;
                if (typeState.Resources.Count > 0)
                {
                    MarkDirty_NeedsLock(typeState);
                }
            }
        }

        var writer = WriteLoopAsync(stream);
        Exception? error = null;
        try
        {
            while (await stream.Call.ResponseStream.MoveNext(streamCts.Token).ConfigureAwait(false))
            {
                OnResponse(stream, stream.Call.ResponseStream.Current);
            }
        }
#pragma warning disable CA1031 // Any failure of the stream is reported and retried; none may end the loop.
        catch (Exception e)
#pragma warning restore CA1031
        {
            error = e;
        }
        finally
        {
            await streamCts.CancelAsync().ConfigureAwait(false);
            await writer.ConfigureAwait(false);
            stream.Call.Dispose();
            lock (_lock)
            {
                if (ReferenceEquals(_stream, stream))
                {
                    _stream = null;
                }

                StopRequestedTimers_NeedsLock();
            }
        }

        if (shutdown.IsCancellationRequested)
        {
            return false;
        }

        // A failed write (e.g. connection refused) cancels the read: then report the write's error, not the cancellation.
        var reported = error is RpcException { StatusCode: not StatusCode.Cancelled } ? error : stream.WriteError ?? error;
        var reason = Describe(reported, stream.Call);
        OnStreamEnded(stream.ResponseReceived, reason);
        return stream.ResponseReceived;
    }

    /// <summary>Writes the queued requests of the stream, one type at a time, each composed from the latest state.</summary>
    private async Task WriteLoopAsync(AdsStream stream)
    {
        try
        {
            await foreach (var typeState in stream.Pending.Reader.ReadAllAsync(stream.Cancellation.Token).ConfigureAwait(false))
            {
                DiscoveryRequest? request;
                lock (_lock)
                {
                    if (!ReferenceEquals(_stream, stream))
                    {
                        return;
                    }

                    request = ComposeRequest_NeedsLock(stream, typeState);
                }

                if (request is null)
                {
                    continue;
                }

                await stream.Call.RequestStream.WriteAsync(request, stream.Cancellation.Token).ConfigureAwait(false);
                lock (_lock)
                {
                    if (!ReferenceEquals(_stream, stream))
                    {
                        return;
                    }

                    OnRequestSent_NeedsLock(stream, typeState, request);
                }
            }
        }
        catch (OperationCanceledException) when (stream.Cancellation.IsCancellationRequested)
        {
            // The stream ended.
        }
#pragma warning disable CA1031 // The error ends the stream and is reported by the read side.
        catch (Exception e)
#pragma warning restore CA1031
        {
            stream.WriteError ??= e;
            await stream.Cancellation.CancelAsync().ConfigureAwait(false);
        }
    }

    private DiscoveryRequest? ComposeRequest_NeedsLock(AdsStream stream, TypeState typeState)
    {
        if (!typeState.Dirty)
        {
            return null;
        }

        typeState.Dirty = false;
        var request = new DiscoveryRequest
        {
            TypeUrl = typeState.Type.TypeUrl,
            VersionInfo = typeState.Version,
            ResponseNonce = typeState.Nonce,
        };
        var names = new List<string>(typeState.Resources.Keys);
        names.Sort(StringComparer.Ordinal);
        request.ResourceNames.AddRange(names);
        if (typeState.PendingError is { } nack)
        {
            request.ErrorDetail = nack;
            typeState.PendingError = null;
        }

        // The xDS protocol needs the node only on the first request of a stream.
        if (stream.FirstRequest)
        {
            request.Node = _bootstrap.Node;
            stream.FirstRequest = false;
        }

        return request;
    }

    private void OnRequestSent_NeedsLock(AdsStream stream, TypeState typeState, DiscoveryRequest request)
    {
        if (!stream.Connected)
        {
            // The write completed, so the HTTP/2 stream is open on a live connection: the channel is READY (gRFC A57).
            stream.Connected = true;
            SetState_NeedsLock(XdsConnectionState.Ready);
        }

        Log.RequestSent(_logger, typeState.Type.Name, request.VersionInfo, request.ResponseNonce, request.ResourceNames.Count);
        var transient = _server.ResourceTimerIsTransient;
        var timeout = transient ? _options.TransientResourceTimeout : _options.ResourceDoesNotExistTimeout;
        foreach (var name in request.ResourceNames)
        {
            if (!typeState.Resources.TryGetValue(name, out var entry) || entry.Watch != WatchState.Started)
            {
                continue;
            }

            entry.Watch = WatchState.Requested;
            entry.StopTimer();
            var timer = new ResourceTimer(this, typeState, entry);
            entry.Timer = _time.CreateTimer(static state => ((ResourceTimer)state!).Fire(), timer, timeout, Timeout.InfiniteTimeSpan);
            timer.Timer = entry.Timer;
        }
    }

    private void OnResourceTimer(ResourceTimer timer)
    {
        lock (_lock)
        {
            var entry = timer.Entry;
            if (_disposed || entry.Timer is null || !ReferenceEquals(entry.Timer, timer.Timer) || entry.Watch != WatchState.Requested
                || !timer.Type.Resources.TryGetValue(entry.Name, out var current) || !ReferenceEquals(current, entry))
            {
                return;
            }

            entry.StopTimer();
            entry.Watch = WatchState.TimedOut;
            var typeName = timer.Type.Type.Name;
            if (_server.ResourceTimerIsTransient)
            {
                var message = $"{typeName} '{entry.Name}' was not received from xDS server {_server} within {_options.TransientResourceTimeout.TotalSeconds} s";
                entry.Status = XdsResourceStatus.Timeout;
                entry.Error = new XdsResourceErrorState(message, string.Empty, _time.GetUtcNow(), null);
                Log.ResourceTimedOut(_logger, typeName, entry.Name, _server.ServerUri, _options.TransientResourceTimeout);
                ScheduleAll(entry, w => w.OnError(message));
                return;
            }

            entry.Value = null;
            entry.RawValue = null;
            entry.Status = XdsResourceStatus.DoesNotExist;
            _counters = _counters with { ResourcesNotFound = _counters.ResourcesNotFound + 1 };
            Log.ResourceDoesNotExist(_logger, typeName, entry.Name, _server.ServerUri, _options.ResourceDoesNotExistTimeout);
            ScheduleAll(entry, static w => w.OnResourceDoesNotExist());
        }
    }

    /// <summary>No timer runs while there is no connected stream (gRFC A57); the resent request starts them again.</summary>
    private void StopRequestedTimers_NeedsLock()
    {
        foreach (var typeState in _types.Values)
        {
            foreach (var entry in typeState.Resources.Values)
            {
                if (entry.Watch == WatchState.Requested)
                {
                    entry.StopTimer();
                    entry.Watch = WatchState.Started;
                }
            }
        }
    }

    private void OnResponse(AdsStream stream, DiscoveryResponse response)
    {
        TypeState? typeState;
        lock (_lock)
        {
            if (!ReferenceEquals(_stream, stream))
            {
                return;
            }

            stream.ResponseReceived = true;
            _counters = _counters with { ResponsesReceived = _counters.ResponsesReceived + 1 };
            SetState_NeedsLock(XdsConnectionState.Ready);
            if (!_types.TryGetValue(response.TypeUrl, out typeState))
            {
                // Neither ACK nor NACK: the client cannot validate what it never asked for (as grpc-go).
                Log.UnknownType(_logger, response.TypeUrl, response.VersionInfo, response.Nonce);
                return;
            }
        }

        // Decoding may be slow for big responses: outside the lock (this loop is the only one handling responses).
        var decoded = Decode(typeState.Type, response);
        lock (_lock)
        {
            if (!ReferenceEquals(_stream, stream))
            {
                return;
            }

            Apply_NeedsLock(typeState, response, decoded);
        }
    }

    private static DecodedResponse Decode(XdsResourceType type, DiscoveryResponse response)
    {
        var decoded = new DecodedResponse();
        for (var i = 0; i < response.Resources.Count; i++)
        {
            var position = i.ToString(CultureInfo.InvariantCulture);
            var any = response.Resources[i];
            if (any.TypeUrl == ResourceWrapperTypeUrl)
            {
                // xds.config.resource-in-sotw: the resource comes wrapped in envoy.service.discovery.v3.Resource.
                try
                {
                    any = any.Unpack<Resource>().Resource_;
                }
                catch (InvalidProtocolBufferException e)
                {
                    decoded.TopLevelErrors.Add($"resources[{position}]: cannot read the Resource wrapper: {e.Message}");
                    continue;
                }

                if (any is null)
                {
                    decoded.TopLevelErrors.Add($"resources[{position}]: the Resource wrapper has no resource");
                    continue;
                }
            }

            if (any.TypeUrl != type.TypeUrl)
            {
                decoded.TopLevelErrors.Add($"resources[{position}]: type URL '{any.TypeUrl}' is not the response's '{type.TypeUrl}'");
                continue;
            }

            XdsDecodeResult result;
            try
            {
                result = type.Decode(any);
            }
#pragma warning disable CA1031 // A decoder bug rejects this resource only, not the stream.
            catch (Exception e)
#pragma warning restore CA1031
            {
                result = XdsDecodeResult.Invalid(null, $"the {type.Name} decoder failed: {e.Message}");
            }

            if (string.IsNullOrEmpty(result.Name))
            {
                decoded.TopLevelErrors.Add($"resources[{position}]: {result.Error ?? "the decoder returned no name"}");
                continue;
            }

            var name = result.Name;
            if (decoded.Valid.Remove(name) || decoded.Invalid.ContainsKey(name))
            {
                decoded.Invalid[name] = ("appears more than once in the response", any);
            }
            else if (result.Error is not null || result.Resource is null)
            {
                decoded.Invalid[name] = (result.Error ?? "the decoder returned no resource", any);
            }
            else
            {
                decoded.Valid[name] = (result.Resource, any);
            }

            decoded.Order.Add(name);
        }

        return decoded;
    }

    private void Apply_NeedsLock(TypeState typeState, DiscoveryResponse response, DecodedResponse decoded)
    {
        var type = typeState.Type;
        var version = response.VersionInfo;
        var now = _time.GetUtcNow();
        typeState.Nonce = response.Nonce;
        var nackMessage = decoded.ErrorMessage(type.Name, version);
        if (nackMessage is null)
        {
            typeState.Version = version;
            typeState.PendingError = null;
            _counters = _counters with { ResponsesAcked = _counters.ResponsesAcked + 1 };
            Log.Acked(_logger, type.Name, version, response.Nonce, response.Resources.Count);
        }
        else
        {
            typeState.PendingError = new RpcStatus { Code = InvalidArgument, Message = nackMessage };
            _counters = _counters with { ResponsesNacked = _counters.ResponsesNacked + 1 };
            Log.Nacked(_logger, type.Name, version, response.Nonce, typeState.Version, nackMessage);
        }

        MarkDirty_NeedsLock(typeState);

        foreach (var (name, (value, any)) in decoded.Valid)
        {
            if (!typeState.Resources.TryGetValue(name, out var entry))
            {
                continue; // Not subscribed (e.g. a server that ignores the names): ignored, as the protocol says.
            }

            entry.StopTimer();
            entry.Watch = WatchState.Received;
            if (entry.DeletionIgnored)
            {
                entry.DeletionIgnored = false;
                Log.ResourceReturned(_logger, type.Name, name, version);
            }

            // Notify on a new or changed value, and on the same value after a rejection or error (it is valid again).
            var changed = entry.RawValue is null || !entry.RawValue.Equals(any) || entry.Status != XdsResourceStatus.Acked;
            entry.Value = value;
            entry.RawValue = any;
            entry.Version = version;
            entry.LastUpdated = now;
            entry.Status = XdsResourceStatus.Acked;
            entry.Error = null;
            if (changed)
            {
                ScheduleAll(entry, w => w.OnChanged(value));
            }
        }

        foreach (var (name, (error, any)) in decoded.Invalid)
        {
            if (!typeState.Resources.TryGetValue(name, out var entry))
            {
                continue;
            }

            entry.StopTimer();
            entry.Watch = WatchState.Received;
            var details = $"{type.Name} '{name}' in version '{version}' was rejected: {error}";
            var repeated = entry.Status == XdsResourceStatus.Nacked && entry.Error?.Details == details;
            entry.Status = XdsResourceStatus.Nacked;
            entry.Error = new XdsResourceErrorState(details, version, now, any);
            if (!repeated)
            {
                ScheduleAll(entry, w => w.OnError(details));
            }

            if (_server.FailOnDataErrors && entry.Value is not null)
            {
                DropValue_NeedsLock(entry);
            }
        }

        foreach (var resourceError in response.ResourceErrors)
        {
            ApplyResourceError_NeedsLock(typeState, resourceError, version, now);
        }

        if (type.AllResourcesRequiredInSotW)
        {
            ApplyDeletions_NeedsLock(typeState, decoded, version);
        }
    }

    /// <summary>
    /// LDS and CDS responses carry every subscribed resource, so a cached one missing was deleted. gRFC A88: ignored by
    /// default (the value stays, watchers get an error once); honoured with <c>fail_on_data_errors</c>.
    /// </summary>
    private void ApplyDeletions_NeedsLock(TypeState typeState, DecodedResponse decoded, string version)
    {
        var type = typeState.Type;
        foreach (var entry in typeState.Resources.Values)
        {
            if (entry.Value is null || decoded.Valid.ContainsKey(entry.Name) || decoded.Invalid.ContainsKey(entry.Name))
            {
                // Without a cached value the absence may just mean the server has not seen the request yet: the timer decides.
                continue;
            }

            if (_server.FailOnDataErrors)
            {
                Log.ResourceDeleted(_logger, type.Name, entry.Name, version, _server.ServerUri);
                entry.Status = XdsResourceStatus.DoesNotExist;
                entry.Error = null;
                DropValue_NeedsLock(entry);
                continue;
            }

            if (!entry.DeletionIgnored)
            {
                entry.DeletionIgnored = true;
                Log.DeletionIgnored(_logger, type.Name, entry.Name, version, _server.ServerUri);
                var message = $"{type.Name} '{entry.Name}' is missing from version '{version}' (deleted by the server); the last received value stays in use (gRFC A88; the '{XdsServerConfig.FailOnDataErrorsFeature}' server feature makes deletions apply)";
                ScheduleAll(entry, w => w.OnError(message));
            }
        }
    }

    /// <summary>An error the server reports for one resource (xRFC TP3, gRFC A88).</summary>
    private void ApplyResourceError_NeedsLock(TypeState typeState, ResourceError resourceError, string version, DateTimeOffset now)
    {
        var name = resourceError.ResourceName?.Name;
        if (name is null || !typeState.Resources.TryGetValue(name, out var entry))
        {
            return;
        }

        var code = resourceError.ErrorDetail?.Code ?? 0;
        var details = $"xDS server {_server} reports an error for {typeState.Type.Name} '{name}': {(StatusCode)code}: {resourceError.ErrorDetail?.Message}";
        entry.StopTimer();
        entry.Watch = WatchState.Received;
        entry.Status = XdsResourceStatus.ReceivedError;
        entry.Error = new XdsResourceErrorState(details, version, now, null);
        Log.ServerResourceError(_logger, typeState.Type.Name, name, details);
        ScheduleAll(entry, w => w.OnError(details));
        if (code is NotFound or PermissionDenied)
        {
            if (entry.Value is null)
            {
                ScheduleAll(entry, static w => w.OnResourceDoesNotExist());
            }
            else if (_server.FailOnDataErrors)
            {
                DropValue_NeedsLock(entry);
            }
        }
    }

    /// <summary>Drops the cached value of a resource and tells its watchers to stop using it.</summary>
    private void DropValue_NeedsLock(ResourceEntry entry)
    {
        if (entry.Value is null)
        {
            return;
        }

        entry.Value = null;
        entry.RawValue = null;
        _counters = _counters with { ResourcesNotFound = _counters.ResourcesNotFound + 1 };
        ScheduleAll(entry, static w => w.OnResourceDoesNotExist());
    }

    private void OnStreamEnded(bool responseReceived, string reason)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _lastStreamError = reason;
            _lastStreamErrorTime = _time.GetUtcNow();
            if (responseReceived)
            {
                // Servers close streams in normal operation (max connection age, rebalancing): not an error (gRFC A57).
                Log.StreamClosed(_logger, _server.ServerUri, reason);
                SetState_NeedsLock(XdsConnectionState.Connecting);
                return;
            }

            _counters = _counters with { StreamFailures = _counters.StreamFailures + 1 };
            if (_state != XdsConnectionState.TransientFailure)
            {
                Log.StreamFailed(_logger, _server.ServerUri, reason);
            }
            else
            {
                Log.StreamFailedAgain(_logger, _server.ServerUri, reason);
            }

            SetState_NeedsLock(XdsConnectionState.TransientFailure);
            var message = $"xDS server {_server} is unreachable: {reason}";
            foreach (var typeState in _types.Values)
            {
                foreach (var entry in typeState.Resources.Values)
                {
                    ScheduleAll(entry, w => w.OnError(message));
                }
            }
        }
    }

    private void SetState_NeedsLock(XdsConnectionState state)
    {
        if (_state == state || _disposed)
        {
            return;
        }

        var previous = _state;
        _state = state;
        // Quiet: Information only for the first connection and for a recovery; the failure itself is a warning.
        if (state == XdsConnectionState.Ready && (!_everConnected || previous == XdsConnectionState.TransientFailure))
        {
            _everConnected = true;
            Log.Connected(_logger, _server.ServerUri);
        }
        else
        {
            Log.StateChanged(_logger, _server.ServerUri, previous, state);
        }
    }

    private void MarkDirty_NeedsLock(TypeState typeState)
    {
        if (typeState.Dirty)
        {
            return;
        }

        typeState.Dirty = true;
        _stream?.Pending.Writer.TryWrite(typeState);
    }

    private static string Describe(Exception? error, AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> call)
    {
        if (error is RpcException rpc)
        {
            var inner = rpc.Status.DebugException?.Message;
            return inner is null ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : $"{rpc.StatusCode}: {rpc.Status.Detail} ({inner})";
        }

        if (error is not null)
        {
            return $"{error.GetType().Name}: {error.Message}";
        }

        // The server ended the stream with a status.
        try
        {
            var status = call.GetStatus();
            return $"the server closed the stream ({status.StatusCode}: {status.Detail})";
        }
        catch (InvalidOperationException)
        {
            return "the server closed the stream";
        }
    }

    /// <summary>One ADS call and what happened on it.</summary>
    private sealed class AdsStream(AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> call, CancellationTokenSource cancellation)
    {
        public AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> Call { get; } = call;

        public CancellationTokenSource Cancellation { get; } = cancellation;

        /// <summary>Types with a request to send; each type is queued at most once (<see cref="TypeState.Dirty"/>).</summary>
        public Channel<TypeState> Pending { get; } = Channel.CreateUnbounded<TypeState>(new UnboundedChannelOptions { SingleReader = true });

        public bool FirstRequest { get; set; } = true;

        public bool Connected { get; set; }

        public bool ResponseReceived { get; set; }

        public Exception? WriteError { get; set; }
    }

    /// <summary>The state of one does-not-exist timer.</summary>
    private sealed class ResourceTimer(XdsClient client, TypeState type, ResourceEntry entry)
    {
        public TypeState Type { get; } = type;

        public ResourceEntry Entry { get; } = entry;

        public ITimer? Timer { get; set; }

        public void Fire() => client.OnResourceTimer(this);
    }

    /// <summary>The resources of one response, decoded outside the lock.</summary>
    private sealed class DecodedResponse
    {
        public Dictionary<string, (object Value, Any Any)> Valid { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, (string Error, Any Any)> Invalid { get; } = new(StringComparer.Ordinal);

        public List<string> TopLevelErrors { get; } = [];

        public List<string> Order { get; } = [];

        /// <summary>The NACK message naming every rejected resource, or null when all are valid.</summary>
        public string? ErrorMessage(string typeName, string version)
        {
            if (Invalid.Count == 0 && TopLevelErrors.Count == 0)
            {
                return null;
            }

            var message = new StringBuilder();
            message.Append(CultureInfo.InvariantCulture, $"{typeName} response version '{version}': {Invalid.Count + TopLevelErrors.Count} invalid resource(s): ");
            var first = true;
            foreach (var error in TopLevelErrors)
            {
                message.Append(first ? string.Empty : "; ").Append(error);
                first = false;
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in Order)
            {
                if (seen.Add(name) && Invalid.TryGetValue(name, out var invalid))
                {
                    message.Append(first ? string.Empty : "; ").Append(name).Append(": ").Append(invalid.Error);
                    first = false;
                }
            }

            return message.ToString();
        }
    }
}
