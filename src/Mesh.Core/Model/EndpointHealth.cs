namespace Mesh.Model;

/// <summary>An endpoint's health as reported by its source (Envoy's <c>HealthStatus</c> subset).</summary>
public enum EndpointHealth
{
    /// <summary>Health is not known; the endpoint takes traffic (as in gRPC and Envoy).</summary>
    Unknown = 0,

    /// <summary>Healthy; takes traffic.</summary>
    Healthy = 1,

    /// <summary>Unhealthy; takes no traffic.</summary>
    Unhealthy = 2,

    /// <summary>Shutting down; takes no new traffic.</summary>
    Draining = 3,
}
