using System.Collections.Immutable;
using Mesh.Model;

namespace Mesh.LoadBalancing;

/// <summary>
/// A named load-balancing algorithm. For every change of a cluster's endpoints it builds a new
/// <see cref="EndpointPicker"/> for exactly those endpoints (as grpc-dotnet builds a picker per state
/// change), so picks never see a half-updated list. Register custom policies with
/// <c>IMeshBuilder.AddLoadBalancingPolicy&lt;T&gt;()</c> and select them by <see cref="Name"/> in configuration.
/// </summary>
public abstract class LoadBalancingPolicy
{
    /// <summary>The name used in configuration (<c>LoadBalancer:Policy</c>), compared case-insensitively.</summary>
    public abstract string Name { get; }

    /// <summary>Whether the policy needs a request hash (<c>LoadBalancer:ConsistentHash</c>).</summary>
    public virtual bool RequiresRequestHash => false;

    /// <summary>Builds a picker over the usable endpoints in <paramref name="context"/>; called off the request path.</summary>
    public abstract EndpointPicker CreatePicker(LoadBalancingContext context);
}

/// <summary>Picks endpoints for requests. Implementations are thread-safe, lock-free and allocation-free.</summary>
public abstract class EndpointPicker
{
    /// <summary>Picks an endpoint, or returns <see langword="null"/> when there is none.</summary>
    public abstract EndpointModel? Pick(in PickContext context);
}

/// <summary>Per-request input to a pick.</summary>
/// <param name="RequestHash">The request's hash for consistent-hash policies, when the request carries the hashed value.</param>
public readonly record struct PickContext(ulong? RequestHash);

/// <summary>What a policy builds a picker from.</summary>
public sealed class LoadBalancingContext
{
    internal LoadBalancingContext(string clusterName, ImmutableArray<EndpointModel> endpoints, Random random, int minimumRingSize, int maximumRingSize, int tableSize)
    {
        ClusterName = clusterName;
        Endpoints = endpoints;
        Random = random;
        MinimumRingSize = minimumRingSize;
        MaximumRingSize = maximumRingSize;
        TableSize = tableSize;
    }

    /// <summary>The cluster the picker serves.</summary>
    public string ClusterName { get; }

    /// <summary>The usable endpoints (healthy or of unknown health), in configuration order.</summary>
    public ImmutableArray<EndpointModel> Endpoints { get; }

    /// <summary>The random source; thread-safe in production, seeded in tests.</summary>
    public Random Random { get; }

    /// <summary>RingHash: minimum ring entries.</summary>
    public int MinimumRingSize { get; }

    /// <summary>RingHash: maximum ring entries.</summary>
    public int MaximumRingSize { get; }

    /// <summary>Maglev: lookup table size (a prime).</summary>
    public int TableSize { get; }
}

/// <summary>A picker for a cluster without usable endpoints.</summary>
internal sealed class EmptyPicker : EndpointPicker
{
    public static EmptyPicker Instance { get; } = new();

    public override EndpointModel? Pick(in PickContext context) => null;
}
