namespace Mesh.Resilience;

/// <summary>
/// The two mappings between HTTP and gRPC status codes the mesh needs: Envoy's gRPC-to-HTTP mapping
/// (<c>Grpc::Utility::grpcToHttpStatus</c>), which gives a gRPC outcome an HTTP-comparable status, and gRPC's
/// HTTP-to-gRPC mapping (grpc/grpc <c>doc/http-grpc-status-mapping.md</c>), which gRFC A33 uses for an
/// <c>http_status</c> fault on a gRPC call.
/// </summary>
internal static class GrpcStatusMapping
{
    /// <summary>The highest gRPC status code (UNAUTHENTICATED).</summary>
    public const int MaxStatus = 16;

    /// <summary>The HTTP status Envoy answers for a gRPC status, or <see langword="null"/> for a code outside 0–16.</summary>
    public static int? ToHttpStatus(int grpcStatus) => grpcStatus switch
    {
        0 => 200,
        1 => 499,
        2 => 500,
        3 => 400,
        4 => 504,
        5 => 404,
        6 => 409,
        7 => 403,
        8 => 429,
        9 => 400,
        10 => 409,
        11 => 400,
        12 => 501,
        13 => 500,
        14 => 503,
        15 => 500,
        16 => 401,
        _ => null,
    };

    /// <summary>The gRPC status a client reports for an HTTP status without <c>grpc-status</c>.</summary>
    public static int FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 => 13, // INTERNAL
        401 => 16, // UNAUTHENTICATED
        403 => 7, // PERMISSION_DENIED
        404 => 12, // UNIMPLEMENTED
        429 or 502 or 503 or 504 => 14, // UNAVAILABLE
        _ => 2, // UNKNOWN
    };
}
