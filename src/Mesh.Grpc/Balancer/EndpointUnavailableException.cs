namespace Mesh.Grpc.Balancer;

/// <summary>The endpoint picked for a gRPC attempt has no usable connection; the attempt never reached a server.</summary>
public sealed class EndpointUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EndpointUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public EndpointUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the connection failure.</summary>
    public EndpointUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
