using System.Net.Sockets;
using Grpc.Core;
using Mesh.Grpc.Balancer;
using Mesh.Resilience;

namespace Mesh.Grpc.Calls;

/// <summary>
/// How one attempt of a unary call ended: its response or its status, and the underlying call (for headers and
/// trailers). The resilience pipeline sees it as a response and classifies it by its gRPC status; a failed
/// attempt is a value, not an exception, so retries decide on it without throwing.
/// </summary>
internal sealed class GrpcAttemptResult : IDisposable
{
    private GrpcAttemptResult(object? response, RpcException? error, IDisposable? call, Task<Metadata>? headers, Func<Metadata>? trailers)
    {
        Response = response;
        Error = error;
        Call = call;
        Headers = headers;
        Trailers = trailers;
        Outcome = error is null ? AttemptOutcome.FromGrpcStatus(0) : Classify(error);
    }

    public object? Response { get; }

    public RpcException? Error { get; }

    public Status Status => Error?.Status ?? Status.DefaultSuccess;

    public AttemptOutcome Outcome { get; }

    public IDisposable? Call { get; }

    public Task<Metadata>? Headers { get; }

    public Func<Metadata>? Trailers { get; }

    public static GrpcAttemptResult Succeeded<TResponse>(AsyncUnaryCall<TResponse> call, TResponse response) =>
        new(response, null, call, call.ResponseHeadersAsync, call.GetTrailers);

    public static GrpcAttemptResult Failed<TResponse>(AsyncUnaryCall<TResponse> call, RpcException error) =>
        new(null, error, call, call.ResponseHeadersAsync, call.GetTrailers);

    /// <summary>An answer the mesh made itself (an injected abort).</summary>
    public static GrpcAttemptResult Local(Status status) => new(null, new RpcException(status), null, null, null);

    /// <summary>
    /// A status the server sent is its gRPC status; a call that never got one (no connection, a reset stream, an
    /// endpoint the channel could not reach) is a local failure, which outlier detection and retries treat as such.
    /// </summary>
    internal static AttemptOutcome Classify(RpcException error)
    {
        for (Exception? inner = error.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case EndpointUnavailableException:
                    return AttemptOutcome.FromFailure(AttemptFailure.ConnectFailure);
                case HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError }:
                    return AttemptOutcome.FromFailure(AttemptFailure.ConnectFailure);
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.TimedOut }:
                    return AttemptOutcome.FromFailure(AttemptFailure.ConnectFailure);
                case HttpRequestException or IOException or SocketException:
                    return AttemptOutcome.FromFailure(AttemptFailure.Reset);
            }
        }

        return AttemptOutcome.FromGrpcStatus((int)error.StatusCode);
    }

    public void Dispose() => Call?.Dispose();
}
