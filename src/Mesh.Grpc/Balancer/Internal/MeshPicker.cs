using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Mesh.Grpc.Calls;
using Mesh.Model;
using Mesh.Resilience;

namespace Mesh.Grpc.Balancer.Internal;

/// <summary>
/// Picks a subchannel for each call. A call started by the mesh's call interceptor comes with the endpoint its
/// resilience pipeline chose (<see cref="GrpcAttemptContext"/>): its subchannel is used when READY, the call waits
/// while it connects and fails (UNAVAILABLE, so the pipeline may retry elsewhere) when it cannot connect. A call
/// on a plain channel is routed here: by path and metadata to a route, by weight to a cluster, then to a READY
/// endpoint with the cluster's policy.
/// </summary>
internal sealed class MeshPicker(MeshResolution resolution, ConnectivityView view) : SubchannelPicker
{
    public override PickResult Pick(PickContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (resolution.Service is not { } service)
        {
            return PickResult.ForFailure(new Status(StatusCode.Unavailable, resolution.Error ?? "The channel's target is not a mesh service."));
        }

        if (GrpcAttemptContext.Current is { } attempt)
        {
            attempt.Channel = resolution.Channel;
            return PickFor(attempt.Endpoint, attempt.SnapshotVersion, tracker: null);
        }

        if (context.Request is not { } request)
        {
            return PickResult.ForFailure(new Status(StatusCode.Internal, "The call has no request to route."));
        }

        var callView = new GrpcHttpRequestView(request);
        var route = service.SelectRoute(ref callView);
        if (route is null)
        {
            return PickResult.ForFailure(new Status(StatusCode.Unavailable, $"No route of service '{service.Name}' matches {request.RequestUri?.AbsolutePath}."));
        }

        var cluster = route.PickCluster();
        var pick = cluster.CreatePickContext(ref callView);
        var endpoint = resolution.Channel.Pick(cluster, in pick);
        if (endpoint is null)
        {
            return PickResult.ForFailure(new Status(StatusCode.Unavailable, cluster.DescribeUnavailability(), new EndpointUnavailableException(cluster.DescribeUnavailability())));
        }

        // No endpoint of the cluster is READY (else the pick was among them): as gRPC's round_robin, calls wait while
        // another one is still connecting, and fail only once every one has failed.
        if (view.TryGet(endpoint.Key, out var chosen) && chosen.State == ConnectivityState.TransientFailure && AnyConnecting(cluster))
        {
            return PickResult.ForQueue();
        }

        return PickFor(endpoint, resolution.Snapshot.Version, new EndpointCallTracker(cluster, endpoint));
    }

    private bool AnyConnecting(ClusterModel cluster)
    {
        foreach (var candidate in cluster.Candidates)
        {
            if (view.TryGet(candidate.Key, out var entry) && entry.State is ConnectivityState.Idle or ConnectivityState.Connecting)
            {
                return true;
            }
        }

        return false;
    }

    private PickResult PickFor(EndpointModel endpoint, long snapshotVersion, ISubchannelCallTracker? tracker)
    {
        if (resolution.Channel.TlsError is { } tlsError && resolution.Tls.ContainsKey(endpoint.Key))
        {
            // Never plaintext to an endpoint whose cluster asks for TLS.
            return PickResult.ForFailure(new Status(StatusCode.Unavailable, $"Endpoint {endpoint.Key} requires TLS, but {tlsError}.", new EndpointUnavailableException(tlsError)));
        }

        if (!view.TryGet(endpoint.Key, out var entry))
        {
            // Chosen from a newer snapshot than this picker's: the next picker has it.
            return snapshotVersion > resolution.Snapshot.Version
                ? PickResult.ForQueue()
                : PickResult.ForFailure(new Status(StatusCode.Unavailable, $"Endpoint {endpoint.Key} is not an endpoint of '{resolution.Channel.Target}'.", new EndpointUnavailableException(endpoint.Key)));
        }

        return entry.State switch
        {
            ConnectivityState.Ready => PickResult.ForSubchannel(entry.Subchannel, tracker),
            ConnectivityState.TransientFailure => PickResult.ForFailure(new Status(
                StatusCode.Unavailable,
                $"Endpoint {endpoint.Key} cannot be reached: {entry.Status.Detail}",
                new EndpointUnavailableException($"{endpoint.Key}: {entry.Status.Detail}", entry.Status.DebugException))),
            _ => PickResult.ForQueue(),
        };
    }

    /// <summary>Counts a plain channel's call on its endpoint (least request) and reports failures to outlier detection.</summary>
    private sealed class EndpointCallTracker(ClusterModel cluster, EndpointModel endpoint) : ISubchannelCallTracker
    {
        private long _start;

        public void Start()
        {
            _start = TimeProvider.System.GetTimestamp();
            endpoint.State.OnRequestStarted();
        }

        public void Complete(CompletionContext context)
        {
            // grpc-dotnet reports the HTTP exchange, not the gRPC status: only transport failures are known here.
            var answered = context.Error is null;
            endpoint.State.OnRequestCompleted(TimeProvider.System.GetElapsedTime(_start), answered);
            cluster.Detector?.Report(endpoint, answered ? AttemptOutcome.FromGrpcStatus(0) : AttemptOutcome.FromFailure(AttemptFailure.Reset));
        }
    }
}
