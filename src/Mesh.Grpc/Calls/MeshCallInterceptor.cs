using Grpc.Core;
using Grpc.Core.Interceptors;
using Mesh.Grpc.Balancer;
using Mesh.Grpc.Balancer.Internal;
using Mesh.Grpc.Telemetry;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Resilience;
using Mesh.Telemetry;

namespace Mesh.Grpc.Calls;

/// <summary>
/// The mesh around the calls of one channel target: routes each call by method and metadata, then runs a unary
/// call through the resilience pipeline with gRPC semantics (route timeout as DEADLINE_EXCEEDED, retries on gRPC
/// status codes with gRFC A44's backoff, circuit breaking whose overflow is UNAVAILABLE and never retried, fault
/// injection with gRPC status codes, outlier detection fed by each attempt's status). Each attempt's endpoint
/// reaches the channel's picker through <see cref="GrpcAttemptContext"/>. Streaming calls are routed and picked,
/// counted and reported the same way, with the route timeout as their deadline; they are not retried or hedged.
/// </summary>
internal sealed class MeshCallInterceptor : Interceptor, IAttemptTransport<GrpcUnaryCall, GrpcAttemptResult>
{
    private readonly MeshState _state;
    private readonly GrpcMeshTelemetry _telemetry;
    private readonly TimeProvider _time;
    private readonly string _target;
    private readonly ResilientExecutor<GrpcUnaryCall, GrpcAttemptResult> _executor;
    private MeshChannel? _channel;

    public MeshCallInterceptor(MeshState state, MeshTelemetry meshTelemetry, GrpcMeshTelemetry telemetry, TimeProvider time, Random random, string target)
    {
        _state = state;
        _telemetry = telemetry;
        _time = time;
        _target = target;
        _executor = new ResilientExecutor<GrpcUnaryCall, GrpcAttemptResult>(this, time, random, meshTelemetry);
    }

    public string Target => _target;

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        var snapshot = _state.Current;
        if (MeshResolver.FindService(snapshot, _target) is not { } service)
        {
            // Not (yet) in the mesh: the channel's resolver holds or fails the call with the reason.
            return continuation(request, context);
        }

        var path = context.Method.FullName;
        var view = new GrpcCallView(path, context.Options.Headers);
        if (service.SelectRoute(ref view) is not { } route)
        {
            return FailedUnary<TResponse>(new Status(StatusCode.Unavailable, $"No route of service '{service.Name}' matches {path}; add a route without a match as the last route to catch the rest."));
        }

        var cluster = route.PickCluster();
        var pick = cluster.CreatePickContext(ref view);
        AddPeerMetadata(ref context);
        if (ResilientExecutor<GrpcUnaryCall, GrpcAttemptResult>.IsSingleAttempt(service, route, cluster)
            && _executor.TryBeginAttempt(cluster, in pick, out var endpoint, out var start))
        {
            // The common case: no timeout, retry, fault or breaker on the route; the channel's own call is returned, watched to its end.
            return SingleAttempt(request, context, continuation, snapshot.Version, service, route, cluster, endpoint, start);
        }

        var call = new GrpcUnaryCall<TRequest, TResponse>(request, context, continuation, snapshot.Version, _time);
        var response = RunUnaryAsync<TResponse>(call, service, route, cluster, pick);
        return new AsyncUnaryCall<TResponse>(
            response,
            static s => ((GrpcUnaryCall)s).ResponseHeadersAsync(),
            static s => ((GrpcUnaryCall)s).GetStatus(),
            static s => ((GrpcUnaryCall)s).GetTrailers(),
            static s => ((GrpcUnaryCall)s).Dispose(),
            call);
    }

    private AsyncUnaryCall<TResponse> SingleAttempt<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation, long snapshotVersion, ServiceModel service, RouteModel route, ClusterModel cluster, EndpointModel endpoint, long start)
        where TRequest : class
        where TResponse : class
    {
        _telemetry.RecordAttemptStarted(context.Method.FullName, _target);
        var picked = new GrpcAttemptContext(endpoint, snapshotVersion);
        var previous = GrpcAttemptContext.Current;
        AsyncUnaryCall<TResponse> call;
        GrpcAttemptContext.Current = picked;
        try
        {
            call = continuation(request, context);
        }
        catch (Exception ex)
        {
            _executor.EndAttempt(cluster, endpoint, start, _executor.Classify(ex, context.Options.CancellationToken));
            throw;
        }
        finally
        {
            GrpcAttemptContext.Current = previous;
        }

        var response = WatchSingleAsync(call, request, context.Method.FullName, service, route, cluster, endpoint, start, picked, context.Options.CancellationToken);
        // The state overload: static delegates over the channel's call, none allocated per call.
        return new AsyncUnaryCall<TResponse>(
            response,
            static s => ((AsyncUnaryCall<TResponse>)s).ResponseHeadersAsync,
            static s => ((AsyncUnaryCall<TResponse>)s).GetStatus(),
            static s => ((AsyncUnaryCall<TResponse>)s).GetTrailers(),
            static s => ((AsyncUnaryCall<TResponse>)s).Dispose(),
            call);
    }

    private async Task<TResponse> WatchSingleAsync<TResponse>(AsyncUnaryCall<TResponse> call, object request, string method, ServiceModel service, RouteModel route, ClusterModel cluster, EndpointModel endpoint, long start, GrpcAttemptContext picked, CancellationToken callerToken)
    {
        AttemptOutcome outcome = default;
        var status = StatusCode.OK;
        TResponse? response = default;
        try
        {
            response = await call.ResponseAsync.ConfigureAwait(false);
            outcome = AttemptOutcome.FromGrpcStatus(0);
            return response;
        }
        catch (RpcException ex)
        {
            status = ex.StatusCode;
            outcome = callerToken.IsCancellationRequested && ex.StatusCode == StatusCode.Cancelled ? default : GrpcAttemptResult.Classify(ex);
            throw;
        }
        finally
        {
            _executor.EndAttempt(cluster, endpoint, start, outcome);
            if (picked.Channel is { } channel && !ReferenceEquals(channel, _channel))
            {
                Volatile.Write(ref _channel, channel);
            }

            var elapsed = _time.GetElapsedTime(start);
            _telemetry.RecordAttempt(method, _target, status, elapsed);
            _telemetry.RecordCall(method, _target, service.Name, route.Name, cluster.Name, status, elapsed, endpoint, request, response, _telemetry.IstioEnabled ? call.ResponseHeadersAsync : null);
        }
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        if (!TryBeginStream(ref context, out var stream, out var failure))
        {
            if (failure is not { } f)
            {
                return continuation(request, context);
            }

            return new AsyncServerStreamingCall<TResponse>(new FailedReader<TResponse>(f), Task.FromException<Metadata>(new RpcException(f)), () => f, () => Metadata.Empty, static () => { });
        }

        AsyncServerStreamingCall<TResponse> call;
        using (stream.Enter())
        {
            call = continuation(request, context);
        }

        stream.OnRequest(request);

        stream.Watch(call.GetStatus);
        return new AsyncServerStreamingCall<TResponse>(new TrackedReader<TResponse>(call.ResponseStream, stream), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, () => { stream.End(null); call.Dispose(); });
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        if (!TryBeginStream(ref context, out var stream, out var failure))
        {
            if (failure is not { } f)
            {
                return continuation(context);
            }

            return new AsyncClientStreamingCall<TRequest, TResponse>(new FailedWriter<TRequest>(f), Task.FromException<TResponse>(new RpcException(f)), Task.FromException<Metadata>(new RpcException(f)), () => f, () => Metadata.Empty, static () => { });
        }

        AsyncClientStreamingCall<TRequest, TResponse> call;
        using (stream.Enter())
        {
            call = continuation(context);
        }

        stream.Watch(call.GetStatus);
        var response = call.ResponseAsync.ContinueWith(
            static (t, s) =>
            {
                var tracked = (TrackedStream)s!;
                if (t.IsCompletedSuccessfully)
                {
                    tracked.OnResponse(t.Result);
                }

                tracked.End(t.Exception?.InnerException as RpcException is { } rpc ? rpc.Status : t.IsCompletedSuccessfully ? Status.DefaultSuccess : Status.DefaultCancelled);
                return t;
            },
            stream,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default).Unwrap();
        return new AsyncClientStreamingCall<TRequest, TResponse>(stream.Track(call.RequestStream), response, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, () => { stream.End(null); call.Dispose(); });
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        if (!TryBeginStream(ref context, out var stream, out var failure))
        {
            if (failure is not { } f)
            {
                return continuation(context);
            }

            return new AsyncDuplexStreamingCall<TRequest, TResponse>(new FailedWriter<TRequest>(f), new FailedReader<TResponse>(f), Task.FromException<Metadata>(new RpcException(f)), () => f, () => Metadata.Empty, static () => { });
        }

        AsyncDuplexStreamingCall<TRequest, TResponse> call;
        using (stream.Enter())
        {
            call = continuation(context);
        }

        stream.Watch(call.GetStatus);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(stream.Track(call.RequestStream), new TrackedReader<TResponse>(call.ResponseStream, stream), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, () => { stream.End(null); call.Dispose(); });
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        // Blocking calls take the asynchronous path, so they get the same routing and resilience.
        using var call = AsyncUnaryCall(request, context, (r, c) => new AsyncUnaryCall<TResponse>(
            Task.Run(() => continuation(r, c)), Task.FromResult(Metadata.Empty), () => Status.DefaultSuccess, () => Metadata.Empty, static () => { }));
        return call.ResponseAsync.GetAwaiter().GetResult();
    }

    private async Task<TResponse> RunUnaryAsync<TResponse>(GrpcUnaryCall call, ServiceModel service, RouteModel route, ClusterModel cluster, PickContext pick)
    {
        var start = _time.GetTimestamp();
        var status = StatusCode.OK;
        object? response = null;
        Task<Metadata>? responseHeaders = null;
        try
        {
            GrpcAttemptResult result;
            try
            {
                result = await _executor.ExecuteAsync(service, route, cluster, call, pick, replayable: true, idempotent: true, call.CallerToken).ConfigureAwait(false);
            }
            catch (MeshException ex)
            {
                result = GrpcAttemptResult.Local(ToStatus(ex));
            }
            catch (OperationCanceledException) when (call.CallerToken.IsCancellationRequested)
            {
                // The call's own deadline also ends what the mesh waits for (a fault delay, a retry backoff), as in gRPC.
                result = GrpcAttemptResult.Local(call.DeadlinePassed
                    ? new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded")
                    : new Status(StatusCode.Cancelled, "Call canceled by the client."));
            }

            status = result.Status.StatusCode;
            response = result.Response;
            responseHeaders = result.Headers;
            call.Complete(result);
            call.ReleaseDeadline();
            if (result.Error is { } error)
            {
                throw error;
            }

            return (TResponse)result.Response!;
        }
        finally
        {
            if (call.Channel is { } channel)
            {
                Volatile.Write(ref _channel, channel);
            }

            _telemetry.RecordCall(call.Method, _target, service.Name, route.Name, cluster.Name, status, _time.GetElapsedTime(start), call.Answered, call.Request, response, responseHeaders);
        }
    }

    /// <summary>The status a mesh refusal ends a gRPC call with: a timeout is DEADLINE_EXCEEDED, every other refusal UNAVAILABLE.</summary>
    internal static Status ToStatus(MeshException exception) => new(
        exception.Reason == MeshFailureReason.Timeout ? StatusCode.DeadlineExceeded : StatusCode.Unavailable,
        exception.Message,
        exception);

    private bool TryBeginStream<TRequest, TResponse>(ref ClientInterceptorContext<TRequest, TResponse> context, out TrackedStream stream, out Status? failure)
        where TRequest : class
        where TResponse : class
    {
        stream = null!;
        failure = null;
        var snapshot = _state.Current;
        if (MeshResolver.FindService(snapshot, _target) is not { } service)
        {
            return false;
        }

        var path = context.Method.FullName;
        var view = new GrpcCallView(path, context.Options.Headers);
        if (service.SelectRoute(ref view) is not { } route)
        {
            failure = new Status(StatusCode.Unavailable, $"No route of service '{service.Name}' matches {path}; add a route without a match as the last route to catch the rest.");
            return false;
        }

        var cluster = route.PickCluster();
        var pick = cluster.CreatePickContext(ref view);
        if (route.Policy.Fault is { HasAbort: true } fault && _executor.TryInjectAbort(service, fault))
        {
            failure = new Status((StatusCode)fault.AbortGrpcStatusOrMapped, "fault injected by the mesh");
            return false;
        }

        if (!_executor.TryBeginAttempt(cluster, in pick, out var endpoint, out var start))
        {
            failure = new Status(StatusCode.Unavailable, cluster.UsableCount == 0
                ? $"Service '{service.Name}': {cluster.DescribeUnavailability()}."
                : $"Service '{service.Name}': cluster '{cluster.Name}' is at its limit of {cluster.State.Settings.MaxRequests} requests in flight; the call failed fast.");
            return false;
        }

        // A31: the route's max_stream_duration is the stream's deadline, unless the caller's is earlier.
        if (route.Policy.Timeout is { } timeout)
        {
            var deadline = _time.GetUtcNow().UtcDateTime + timeout;
            if (context.Options.Deadline is not { } existing || deadline < existing)
            {
                context = new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithDeadline(deadline));
            }
        }

        AddPeerMetadata(ref context);
        _telemetry.RecordAttemptStarted(path, _target);
        stream = new TrackedStream(this, service, route, cluster, endpoint, start, snapshot.Version, path);
        return true;
    }

    /// <summary>Adds Istio's metadata exchange headers when Istio's metrics are on.</summary>
    private void AddPeerMetadata<TRequest, TResponse>(ref ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        var headers = _telemetry.WithPeerMetadata(context.Options.Headers);
        if (!ReferenceEquals(headers, context.Options.Headers))
        {
            context = new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers!));
        }
    }

    ValueTask<GrpcAttemptResult> IAttemptTransport<GrpcUnaryCall, GrpcAttemptResult>.SendAsync(GrpcUnaryCall request, EndpointModel endpoint, int attempt, CancellationToken cancellationToken)
    {
        _telemetry.RecordAttemptStarted(request.Method, _target);
        return new(SendAttemptAsync(request, endpoint, attempt, cancellationToken));
    }

    private async Task<GrpcAttemptResult> SendAttemptAsync(GrpcUnaryCall request, EndpointModel endpoint, int attempt, CancellationToken cancellationToken)
    {
        var start = _time.GetTimestamp();
        var status = StatusCode.Cancelled;
        try
        {
            var result = await request.SendAsync(endpoint, attempt, cancellationToken).ConfigureAwait(false);
            status = result.Status.StatusCode;
            return result;
        }
        finally
        {
            if (request.Channel is { } channel)
            {
                Volatile.Write(ref _channel, channel);
            }

            _telemetry.RecordAttempt(request.Method, _target, status, _time.GetElapsedTime(start));
        }
    }

    AttemptOutcome IAttemptTransport<GrpcUnaryCall, GrpcAttemptResult>.Classify(GrpcAttemptResult response) => response.Outcome;

    AttemptFailure IAttemptTransport<GrpcUnaryCall, GrpcAttemptResult>.Classify(Exception exception) =>
        exception is RpcException rpc && GrpcAttemptResult.Classify(rpc) is { IsLocalFailure: true } outcome ? outcome.Failure : AttemptFailure.Other;

    GrpcAttemptResult IAttemptTransport<GrpcUnaryCall, GrpcAttemptResult>.CreateLocalReply(GrpcUnaryCall request, FaultPolicy fault) =>
        GrpcAttemptResult.Local(new Status((StatusCode)fault.AbortGrpcStatusOrMapped, "fault injected by the mesh"));

    bool IAttemptTransport<GrpcUnaryCall, GrpcAttemptResult>.QueuesOverflow => false;

    EndpointModel? IAttemptTransport<GrpcUnaryCall, GrpcAttemptResult>.Pick(ClusterModel cluster, in PickContext pick) =>
        Volatile.Read(ref _channel) is { } channel ? channel.Pick(cluster, in pick) : cluster.Pick(in pick);

    private static AsyncUnaryCall<TResponse> FailedUnary<TResponse>(Status status) =>
        new(Task.FromException<TResponse>(new RpcException(status)), Task.FromException<Metadata>(new RpcException(status)), () => status, () => Metadata.Empty, static () => { });

    /// <summary>A streaming call's single attempt: ended once, when its status is known or it is disposed.</summary>
    private sealed class TrackedStream(MeshCallInterceptor owner, ServiceModel service, RouteModel route, ClusterModel cluster, EndpointModel endpoint, long start, long snapshotVersion, string method)
    {
        private readonly bool _count = owner._telemetry.IstioEnabled;
        private Func<Status>? _getStatus;
        private int _ended;
        private long _requestMessages;
        private long _requestBytes;
        private long _responseMessages;
        private long _responseBytes;

        /// <summary>Counts a message the client sent, for Istio's metrics.</summary>
        public void OnRequest(object? message)
        {
            if (_count)
            {
                Count(ref _requestMessages, ref _requestBytes, message);
            }
        }

        /// <summary>Counts a message the server sent, for Istio's metrics.</summary>
        public void OnResponse(object? message)
        {
            if (_count)
            {
                Count(ref _responseMessages, ref _responseBytes, message);
            }
        }

        /// <summary>The request stream, counting what is written when Istio's metrics are on.</summary>
        public IClientStreamWriter<T> Track<T>(IClientStreamWriter<T> writer) => _count ? new TrackedWriter<T>(writer, this) : writer;

        // A message that is not protobuf's makes the total unknown (-1) for good.
        private static void Count(ref long messages, ref long bytes, object? message)
        {
            Interlocked.Increment(ref messages);
            var size = GrpcMeshTelemetry.MessageBytes(message);
            if (size < 0)
            {
                Interlocked.Exchange(ref bytes, long.MinValue);
            }
            else
            {
                Interlocked.Add(ref bytes, size);
            }
        }

        public AttemptScope Enter()
        {
            var previous = GrpcAttemptContext.Current;
            var context = new GrpcAttemptContext(endpoint, snapshotVersion);
            GrpcAttemptContext.Current = context;
            return new AttemptScope(this, context, previous);
        }

        public void Watch(Func<Status> getStatus) => _getStatus = getStatus;

        /// <summary>Reports the end: the status when known (null: from the call if it has one, else cancelled by the caller).</summary>
        public void End(Status? status)
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0)
            {
                return;
            }

            if (status is null && _getStatus is { } getStatus)
            {
                try
                {
                    status = getStatus();
                }
                catch (InvalidOperationException)
                {
                    // Not complete: disposed by the caller before the end, neither the endpoint's fault nor a success.
                }
            }

            var outcome = status is { } s ? (s.DebugException is not null ? GrpcAttemptResult.Classify(new RpcException(s)) : AttemptOutcome.FromGrpcStatus((int)s.StatusCode)) : default;
            owner._executor.EndAttempt(cluster, endpoint, start, outcome);
            // A stream is one attempt and one call (gRFC A66 counts both).
            var elapsed = owner._time.GetElapsedTime(start);
            var code = status?.StatusCode ?? StatusCode.Cancelled;
            owner._telemetry.RecordAttempt(method, owner._target, code, elapsed);
            owner._telemetry.RecordCall(method, owner._target, service.Name, route.Name, cluster.Name, code, elapsed, endpoint, Sizes());
        }

        private IstioSizes Sizes()
        {
            if (!_count)
            {
                return IstioSizes.None;
            }

            var requestBytes = Interlocked.Read(ref _requestBytes);
            var responseBytes = Interlocked.Read(ref _responseBytes);
            return new IstioSizes(requestBytes < 0 ? -1 : requestBytes, responseBytes < 0 ? -1 : responseBytes, Interlocked.Read(ref _requestMessages), Interlocked.Read(ref _responseMessages));
        }

        public readonly struct AttemptScope(TrackedStream stream, GrpcAttemptContext context, GrpcAttemptContext? previous) : IDisposable
        {
            public void Dispose()
            {
                GrpcAttemptContext.Current = previous;
                if (context.Channel is { } channel)
                {
                    Volatile.Write(ref stream.Owner._channel, channel);
                }
            }
        }

        private MeshCallInterceptor Owner => owner;
    }

    /// <summary>Reports the stream's end when its last message has been read or reading fails.</summary>
    private sealed class TrackedReader<T>(IAsyncStreamReader<T> inner, TrackedStream stream) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            try
            {
                var more = await inner.MoveNext(cancellationToken).ConfigureAwait(false);
                if (more)
                {
                    stream.OnResponse(inner.Current);
                }
                else
                {
                    stream.End(null);
                }

                return more;
            }
            catch (RpcException ex)
            {
                stream.End(ex.Status);
                throw;
            }
        }
    }

    /// <summary>Counts the messages the client writes, for Istio's metrics.</summary>
    private sealed class TrackedWriter<T>(IClientStreamWriter<T> inner, TrackedStream stream) : IClientStreamWriter<T>
    {
        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public Task CompleteAsync() => inner.CompleteAsync();

        public async Task WriteAsync(T message)
        {
            await inner.WriteAsync(message).ConfigureAwait(false);
            stream.OnRequest(message);
        }
    }

    private sealed class FailedReader<T>(Status status) : IAsyncStreamReader<T>
    {
        public T Current => default!;

        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromException<bool>(new RpcException(status));
    }

    private sealed class FailedWriter<T>(Status status) : IClientStreamWriter<T>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task CompleteAsync() => Task.CompletedTask;

        public Task WriteAsync(T message) => Task.FromException(new RpcException(status));
    }
}
