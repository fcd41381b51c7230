using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Resilience;

/// <summary>
/// What a transport (HTTP, gRPC) gives the resilience pipeline: sending one attempt to one endpoint,
/// and mapping its responses and exceptions to <see cref="AttemptOutcome"/>s.
/// </summary>
internal interface IAttemptTransport<TRequest, TResponse>
{
    /// <summary>Sends attempt <paramref name="attempt"/> (0 = the first) of <paramref name="request"/> to <paramref name="endpoint"/>. Attempts after the first may run concurrently (hedging) and need their own copy of a mutable request.</summary>
    ValueTask<TResponse> SendAsync(TRequest request, EndpointModel endpoint, int attempt, CancellationToken cancellationToken);

    /// <summary>Classifies a response.</summary>
    AttemptOutcome Classify(TResponse response);

    /// <summary>Classifies an exception thrown by <see cref="SendAsync"/> (not a cancellation).</summary>
    AttemptFailure Classify(Exception exception);

    /// <summary>A locally made response for an injected abort (its HTTP status, or for gRPC its gRPC status).</summary>
    TResponse CreateLocalReply(TRequest request, FaultPolicy fault);

    /// <summary>
    /// Picks the endpoint of an attempt. By default the cluster's policy picks among its usable endpoints; a
    /// transport with its own view of connectivity (gRPC's subchannels) picks among the endpoints it can reach now.
    /// </summary>
    EndpointModel? Pick(ClusterModel cluster, in PickContext pick) => cluster.Pick(in pick);

    /// <summary>
    /// Whether a request over the cluster's max requests waits in its pending queue (Envoy's max_pending_requests, for
    /// HTTP). gRPC has no such queue (gRFC A32): the overflow fails at once.
    /// </summary>
    bool QueuesOverflow => true;
}
