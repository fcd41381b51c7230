using Grpc.Net.Client.Balancer;
using Mesh.Model;

namespace Mesh.Grpc.Balancer.Internal;

/// <summary>What the resolver hands the load balancer with every update: the snapshot, the target's service and the channel's connectivity holder.</summary>
internal sealed class MeshResolution(MeshSnapshot snapshot, ServiceModel? service, MeshChannel channel, string? error)
{
    /// <summary>The endpoint key (<c>http://10.0.0.1:50051</c>) of each address.</summary>
    public static readonly BalancerAttributesKey<string> EndpointKey = new("mesh.endpoint");

    public MeshSnapshot Snapshot { get; } = snapshot;

    /// <summary>The target's service, or null when the mesh does not know it (see <see cref="Error"/>).</summary>
    public ServiceModel? Service { get; } = service;

    public MeshChannel Channel { get; } = channel;

    public string? Error { get; } = error;
}
