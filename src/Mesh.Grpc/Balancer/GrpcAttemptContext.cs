using Mesh.Model;

namespace Mesh.Grpc.Balancer;

/// <summary>
/// What the mesh's call interceptor tells the channel's picker about one attempt: the endpoint the resilience
/// pipeline chose for it. It flows to the picker in the call's execution context (grpc-dotnet starts the HTTP
/// request from the interceptor's continuation), and the picker answers with the channel it belongs to, so
/// later picks can take the channel's connectivity into account.
/// </summary>
internal sealed class GrpcAttemptContext(EndpointModel endpoint, long snapshotVersion)
{
    private static readonly AsyncLocal<GrpcAttemptContext?> CurrentContext = new();

    /// <summary>The attempt being started on this flow, if the mesh interceptor started it.</summary>
    public static GrpcAttemptContext? Current
    {
        get => CurrentContext.Value;
        set => CurrentContext.Value = value;
    }

    /// <summary>The endpoint chosen for the attempt.</summary>
    public EndpointModel Endpoint { get; } = endpoint;

    /// <summary>The version of the snapshot the endpoint was chosen from.</summary>
    public long SnapshotVersion { get; } = snapshotVersion;

    /// <summary>Set by the picker: the channel that sends the attempt.</summary>
    public MeshChannel? Channel { get; set; }
}
