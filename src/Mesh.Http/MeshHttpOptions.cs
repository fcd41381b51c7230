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

    /// <summary>Tag request metrics with the endpoint's address and port (high cardinality; off by default). Spans always carry them.</summary>
    public bool RecordEndpointInMetrics { get; set; }
}

/// <summary>What happens to requests for hosts the mesh does not know.</summary>
public enum UnknownHostBehavior
{
    /// <summary>Send them unchanged, as if the mesh were not there.</summary>
    PassThrough,

    /// <summary>Fail them with an <see cref="HttpRequestException"/> whose inner exception is a <see cref="MeshException"/>.</summary>
    Fail,
}
