namespace Mesh;

/// <summary>Why the mesh could not send a request.</summary>
public enum MeshFailureReason
{
    /// <summary>The host is not a service of the mesh (and unknown hosts are configured to fail).</summary>
    UnknownService,

    /// <summary>No route of the service matches the request.</summary>
    NoRoute,

    /// <summary>The chosen cluster has no endpoint that can take traffic.</summary>
    NoUsableEndpoint,

    /// <summary>The route's timeout, or every try's per-try timeout, expired.</summary>
    Timeout,

    /// <summary>The cluster's connection-pool thresholds refused the request (Envoy overflow); never retried.</summary>
    Overflow,

    /// <summary>A cluster circuit breaker is open; never retried.</summary>
    CircuitOpen,

    /// <summary>A local rate limit refused the request.</summary>
    RateLimited,
}

/// <summary>The mesh could not send a request; the message names the service and the reason.</summary>
public sealed class MeshException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MeshException(string service, MeshFailureReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Service = service;
        Reason = reason;
    }

    /// <summary>The logical service the request addressed.</summary>
    public string Service { get; }

    /// <summary>Why the request could not be sent.</summary>
    public MeshFailureReason Reason { get; }
}
