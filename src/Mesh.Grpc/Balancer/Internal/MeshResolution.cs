using System.Collections.Frozen;
using Grpc.Net.Client.Balancer;
using Mesh.Grpc.Security;
using Mesh.Model;

namespace Mesh.Grpc.Balancer.Internal;

/// <summary>What the resolver hands the load balancer with every update: the snapshot, the target's service and the channel's connectivity holder.</summary>
internal sealed class MeshResolution(MeshSnapshot snapshot, ServiceModel? service, MeshChannel channel, string? error, FrozenDictionary<string, EndpointTls>? tls = null)
{
    /// <summary>The endpoint key (<c>http://10.0.0.1:50051</c>) of each address.</summary>
    public static readonly BalancerAttributesKey<string> EndpointKey = new("mesh.endpoint");

    /// <summary>How connections to the address are secured; absent for plaintext endpoints.</summary>
    public static readonly BalancerAttributesKey<EndpointTls> TlsKey = new("mesh.tls");

    /// <summary>The runtime state of an endpoint with TLS, where a verified handshake notes the server's identity.</summary>
    public static readonly BalancerAttributesKey<EndpointState> StateKey = new("mesh.endpoint_state");

    /// <summary>The endpoints with TLS, by endpoint key.</summary>
    public FrozenDictionary<string, EndpointTls> Tls { get; } = tls ?? FrozenDictionary<string, EndpointTls>.Empty;

    public MeshSnapshot Snapshot { get; } = snapshot;

    /// <summary>The target's service, or null when the mesh does not know it (see <see cref="Error"/>).</summary>
    public ServiceModel? Service { get; } = service;

    public MeshChannel Channel { get; } = channel;

    public string? Error { get; } = error;
}
