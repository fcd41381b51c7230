namespace Mesh.LoadBalancing;

/// <summary>Names of the built-in policies and their defaults (Envoy's where Envoy has one).</summary>
public static class LoadBalancingDefaults
{
    /// <summary>Cycles through endpoints in order, starting at a random one.</summary>
    public const string RoundRobin = "RoundRobin";

    /// <summary>Uniformly random.</summary>
    public const string Random = "Random";

    /// <summary>Smooth weighted round robin (nginx): each endpoint exactly its weight's share per cycle, interleaved.</summary>
    public const string WeightedRoundRobin = "WeightedRoundRobin";

    /// <summary>Random with probability proportional to weight.</summary>
    public const string WeightedRandom = "WeightedRandom";

    /// <summary>Power of two choices over in-flight requests per unit of weight.</summary>
    public const string LeastRequest = "LeastRequest";

    /// <summary>Consistent hashing on a ring (Ketama, as Envoy's ring_hash).</summary>
    public const string RingHash = "RingHash";

    /// <summary>Consistent hashing with Maglev's lookup table.</summary>
    public const string Maglev = "Maglev";

    /// <summary>The policy used when none is configured.</summary>
    public const string DefaultPolicy = RoundRobin;

    /// <summary>Envoy's default minimum ring size.</summary>
    public const int MinimumRingSize = 1024;

    /// <summary>Envoy's default (and upper bound of) maximum ring size: 8M entries.</summary>
    public const int MaximumRingSize = 8 * 1024 * 1024;

    /// <summary>Envoy's default Maglev table size.</summary>
    public const int MaglevTableSize = 65537;

    /// <summary>The largest smooth-WRR cycle precomputed; larger weight sums are scaled down proportionally.</summary>
    public const int MaxWeightedRoundRobinCycle = 1 << 20;
}
