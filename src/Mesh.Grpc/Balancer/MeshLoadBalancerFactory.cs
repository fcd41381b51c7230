using Grpc.Net.Client.Balancer;
using Mesh.Grpc.Balancer.Internal;

namespace Mesh.Grpc.Balancer;

/// <summary>
/// The mesh's load-balancing policy for a <c>GrpcChannel</c> (<c>"mesh"</c> in the service config the
/// <see cref="XdsResolverFactory"/> returns): one subchannel per endpoint, and a picker that routes each call by
/// its <c>/package.Service/Method</c> path and metadata to a cluster and picks a READY subchannel with the
/// cluster's policy (round robin, weighted round robin, least request, ring hash, ...).
/// </summary>
public sealed class MeshLoadBalancerFactory : LoadBalancerFactory
{
    /// <summary>The policy name in the service config.</summary>
    public const string PolicyName = "mesh";

    /// <summary>The key of the channel in the policy's configuration (set by the resolver, not by users).</summary>
    internal const string ChannelKey = "meshChannel";

    /// <inheritdoc />
    public override string Name => PolicyName;

    /// <inheritdoc />
    public override LoadBalancer Create(LoadBalancerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Configuration.TryGetValue(ChannelKey, out var channel);
        return new MeshLoadBalancer(options.Controller, options.LoggerFactory, channel as MeshChannel);
    }
}
