namespace Mesh.Http;

/// <summary>How a mesh-enabled <c>HttpClient</c> treats requests. Configured per named client.</summary>
public sealed class MeshHttpOptions
{
    /// <summary>
    /// Send the logical host (<c>backend</c>) as the <c>Host</c> header (<c>:authority</c> in HTTP/2) instead of the
    /// endpoint's address, as a sidecar proxy does. Default <see langword="true"/>.
    /// </summary>
    public bool PreserveHost { get; set; } = true;

    /// <summary>What to do with a request whose host is not a mesh service. Default <see cref="UnknownHostBehavior.PassThrough"/>.</summary>
    public UnknownHostBehavior UnknownHost { get; set; } = UnknownHostBehavior.PassThrough;

    /// <summary>Tag request metrics with the address and port of the endpoint that answered (high cardinality; off by default). Attempt spans always carry them.</summary>
    public bool RecordEndpointInMetrics { get; set; }

    /// <summary>
    /// How failures the mesh decides locally (timeout, overflow, open circuit, rate limit, no route, no usable endpoint)
    /// reach the caller. Default <see cref="LocalFailureMode.Exception"/>.
    /// </summary>
    public LocalFailureMode LocalFailures { get; set; } = LocalFailureMode.Exception;
}

/// <summary>How local failures reach the caller.</summary>
public enum LocalFailureMode
{
    /// <summary>An <see cref="HttpRequestException"/> whose inner exception is a <see cref="MeshException"/> naming the service and the reason.</summary>
    Exception,

    /// <summary>
    /// A response made by the mesh, as a sidecar answers: 504 for timeouts, 429 for rate limits, 404 when no route
    /// matches, 503 otherwise; with the header <c>x-mesh-local-reply</c> naming the reason and the explanation as body.
    /// </summary>
    StatusCode,
}

/// <summary>What happens to requests for hosts the mesh does not know.</summary>
public enum UnknownHostBehavior
{
    /// <summary>Send them unchanged, as if the mesh were not there.</summary>
    PassThrough,

    /// <summary>Fail them with an <see cref="HttpRequestException"/> whose inner exception is a <see cref="MeshException"/>.</summary>
    Fail,
}
