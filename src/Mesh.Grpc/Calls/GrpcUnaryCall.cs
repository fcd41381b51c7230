using Grpc.Core;
using Grpc.Core.Interceptors;
using Mesh.Grpc.Balancer;
using Mesh.Model;

namespace Mesh.Grpc.Calls;

/// <summary>One unary call through the mesh, as the resilience pipeline sends it: each attempt is a new call on the channel.</summary>
internal abstract class GrpcUnaryCall
{
    private readonly TaskCompletionSource<GrpcAttemptResult> _final = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IDisposable? _current;
    private int _disposed;

    private readonly CancellationTokenSource? _deadline;
    private readonly CancellationToken _applicationToken;

    protected GrpcUnaryCall(string method, long snapshotVersion, CallOptions options, TimeProvider time)
    {
        Method = method;
        SnapshotVersion = snapshotVersion;
        _applicationToken = options.CancellationToken;
        CallerToken = options.CancellationToken;
        if (options.Deadline is { } deadline && deadline != DateTime.MaxValue)
        {
            // The mesh waits between attempts (fault delay, backoff, admission); the call's deadline bounds those waits too.
            _deadline = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
            var remaining = deadline.ToUniversalTime() - time.GetUtcNow().UtcDateTime;
            _deadline.CancelAfter(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
            CallerToken = _deadline.Token;
        }
    }

    public string Method { get; }

    public long SnapshotVersion { get; }

    /// <summary>The application's cancellation, and the call's deadline when it has one.</summary>
    public CancellationToken CallerToken { get; }

    /// <summary>Whether the call's deadline (not the application) ended it.</summary>
    public bool DeadlinePassed => _deadline is { IsCancellationRequested: true } && !_applicationToken.IsCancellationRequested;

    public void ReleaseDeadline() => _deadline?.Dispose();

    /// <summary>The channel the last attempt went through, as its picker reported it.</summary>
    public MeshChannel? Channel { get; protected set; }

    /// <summary>The endpoint of the last attempt that got an answer (a response or a status), or <see langword="null"/>.</summary>
    public EndpointModel? Answered { get; protected set; }

    /// <summary>The request message.</summary>
    public abstract object Request { get; }

    public Task<GrpcAttemptResult> Final => _final.Task;

    /// <summary>Starts attempt <paramref name="attempt"/> on <paramref name="endpoint"/> and waits for its end.</summary>
    public abstract Task<GrpcAttemptResult> SendAsync(EndpointModel endpoint, int attempt, CancellationToken cancellationToken);

    public void Complete(GrpcAttemptResult result) => _final.TrySetResult(result);

    protected void Track(IDisposable call)
    {
        Volatile.Write(ref _current, call);
        if (Volatile.Read(ref _disposed) != 0)
        {
            call.Dispose();
        }
    }

    public async Task<Metadata> ResponseHeadersAsync()
    {
        var result = await _final.Task.ConfigureAwait(false);
        if (result.Headers is { } headers)
        {
            return await headers.ConfigureAwait(false);
        }

        throw result.Error ?? new RpcException(Status.DefaultCancelled);
    }

    public Status GetStatus() => _final.Task.IsCompletedSuccessfully
        ? _final.Task.Result.Status
        : throw new InvalidOperationException("Unable to get the status because the call is not complete.");

    public Metadata GetTrailers() => _final.Task.IsCompletedSuccessfully
        ? _final.Task.Result.Trailers?.Invoke() ?? Metadata.Empty
        : throw new InvalidOperationException("Can't get the call trailers because the call has not completed successfully.");

    /// <summary>Disposing the call cancels the attempt in flight, as disposing a channel's call does.</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _disposed, 1);
        Volatile.Read(ref _current)?.Dispose();
    }
}

/// <inheritdoc />
internal sealed class GrpcUnaryCall<TRequest, TResponse> : GrpcUnaryCall
    where TRequest : class
    where TResponse : class
{
    private readonly TRequest _request;
    private readonly ClientInterceptorContext<TRequest, TResponse> _context;
    private readonly Interceptor.AsyncUnaryCallContinuation<TRequest, TResponse> _continuation;

    public GrpcUnaryCall(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, Interceptor.AsyncUnaryCallContinuation<TRequest, TResponse> continuation, long snapshotVersion, TimeProvider time)
        : base(context.Method.FullName, snapshotVersion, context.Options, time)
    {
        _request = request;
        _context = context;
        _continuation = continuation;
    }

    public override object Request => _request;

    public override async Task<GrpcAttemptResult> SendAsync(EndpointModel endpoint, int attempt, CancellationToken cancellationToken)
    {
        var picked = new GrpcAttemptContext(endpoint, SnapshotVersion);
        var previous = GrpcAttemptContext.Current;
        AsyncUnaryCall<TResponse> call;

        // The channel starts the HTTP request inside the continuation, so its picker sees this attempt's context.
        GrpcAttemptContext.Current = picked;
        try
        {
            var options = _context.Options.WithCancellationToken(cancellationToken);
            call = _continuation(_request, new ClientInterceptorContext<TRequest, TResponse>(_context.Method, _context.Host, options));
        }
        finally
        {
            GrpcAttemptContext.Current = previous;
        }

        Track(call);
        try
        {
            var response = await call.ResponseAsync.ConfigureAwait(false);
            Answered = endpoint;
            return GrpcAttemptResult.Succeeded(call, response);
        }
        catch (RpcException ex) when (cancellationToken.IsCancellationRequested && ex.StatusCode == StatusCode.Cancelled)
        {
            // The mesh's own timeout cancelled the attempt (the pipeline turns this into DEADLINE_EXCEEDED, or a retry), or the
            // call's deadline or the application did (then the call ends with that).
            call.Dispose();
            throw new OperationCanceledException(ex.Message, ex, cancellationToken);
        }
        catch (RpcException ex)
        {
            Answered = endpoint;
            return GrpcAttemptResult.Failed(call, ex);
        }
        finally
        {
            Channel = picked.Channel ?? Channel;
        }
    }
}
