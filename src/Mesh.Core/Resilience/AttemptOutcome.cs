namespace Mesh.Resilience;

/// <summary>How an attempt failed before or without a response from the endpoint.</summary>
public enum AttemptFailure
{
    /// <summary>The endpoint answered; see the status code.</summary>
    None,

    /// <summary>No connection could be made (refused, unreachable, name resolution).</summary>
    ConnectFailure,

    /// <summary>The connection was reset or closed before a complete response.</summary>
    Reset,

    /// <summary>The per-try timeout expired.</summary>
    Timeout,

    /// <summary>Any other failure (protocol error, TLS failure, ...).</summary>
    Other,
}

/// <summary>
/// The outcome of one attempt, in the transport-neutral terms that retry conditions, outlier
/// detection and breakers reason about. Local failures count as 5xx and as gateway errors, as in Envoy.
/// A gRPC call's outcome also carries its gRPC status: any status but OK is a failure (gRFC A50), and
/// gRPC retry conditions (gRFC A44) match it.
/// </summary>
/// <param name="StatusCode">The response status (HTTP, or for gRPC the HTTP status Envoy maps the gRPC status to), 0 when there was none.</param>
/// <param name="Failure">The local failure, if the endpoint did not answer.</param>
public readonly record struct AttemptOutcome(int StatusCode, AttemptFailure Failure)
{
    /// <summary>The gRPC status of a gRPC call that ended with one; <see langword="null"/> for HTTP and for local failures.</summary>
    public int? GrpcStatus { get; init; }

    /// <summary>A response with this status code.</summary>
    public static AttemptOutcome FromStatus(int statusCode) => new(statusCode, AttemptFailure.None);

    /// <summary>A gRPC call that ended with this status (0 = OK, 14 = UNAVAILABLE, ...).</summary>
    public static AttemptOutcome FromGrpcStatus(int grpcStatus) =>
        new(GrpcStatusMapping.ToHttpStatus(grpcStatus) ?? 500, AttemptFailure.None) { GrpcStatus = grpcStatus };

    /// <summary>A local failure without a response.</summary>
    public static AttemptOutcome FromFailure(AttemptFailure failure) => new(0, failure);

    /// <summary>Whether the endpoint failed to answer at all.</summary>
    public bool IsLocalFailure => Failure != AttemptFailure.None;

    /// <summary>A 5xx response, a gRPC status other than OK, or a local failure: what Envoy's consecutive_5xx counts.</summary>
    public bool Is5xx => IsLocalFailure || (GrpcStatus is { } grpc ? grpc != 0 : StatusCode >= 500);

    /// <summary>502, 503, 504 or a local failure: what Envoy's consecutive_gateway_failure counts.</summary>
    public bool IsGatewayError => IsLocalFailure || StatusCode is 502 or 503 or 504;

    /// <summary>Whether outlier detection and breakers count the attempt as a success (anything but a 5xx, a gRPC error or a local failure).</summary>
    public bool IsSuccess => !Is5xx;
}
