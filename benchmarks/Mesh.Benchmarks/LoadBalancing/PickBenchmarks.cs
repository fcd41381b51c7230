using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Routing;

namespace Mesh.Benchmarks.LoadBalancing;

/// <summary>
/// One <see cref="EndpointPicker.Pick"/> per operation, for every built-in policy, over pickers built
/// as the snapshot builder builds them (<see cref="LoadBalancingPolicy.CreatePicker"/> with the defaults).
/// Every pick gets the next of 4096 precomputed request hashes, so consistent-hash picks search a
/// different part of the ring or table each time, as real traffic does; the other policies ignore it.
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory("Pick")]
public class PickBenchmarks
{
    private const int HashCount = 4096;

    private EndpointPicker _picker = EmptyPicker.Instance;
    private ulong[] _hashes = [];
    private int _next;

    public static IEnumerable<PickCase> Cases =>
    [
        new(LoadBalancingDefaults.RoundRobin, VariedWeights: false),
        new(LoadBalancingDefaults.Random, VariedWeights: false),
        new(LoadBalancingDefaults.WeightedRoundRobin, VariedWeights: true),
        new(LoadBalancingDefaults.WeightedRandom, VariedWeights: true),
        new(LoadBalancingDefaults.LeastRequest, VariedWeights: false),
        new(LoadBalancingDefaults.LeastRequest, VariedWeights: true),
        new(LoadBalancingDefaults.RingHash, VariedWeights: true),
        new(LoadBalancingDefaults.Maglev, VariedWeights: true),
    ];

    [ParamsSource(nameof(Cases))]
    public PickCase Policy { get; set; } = null!;

    [Params(1, 100, 10_000)]
    public int Endpoints { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var endpoints = ImmutableArray.CreateBuilder<EndpointModel>(Endpoints);
        for (var i = 0; i < Endpoints; i++)
        {
            var address = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://10.{i >> 16}.{(i >> 8) & 255}.{i & 255}:8080/"));
            var state = new EndpointState();
            for (var inFlight = 0; inFlight < i % 4; inFlight++)
            {
                // Uneven load, so that least-request compares real numbers.
                state.OnRequestStarted();
            }

            endpoints.Add(new EndpointModel(address, FrozenDictionary<string, string>.Empty, Policy.VariedWeights ? 1 + (i % 10) : 1, null, EndpointHealth.Healthy, state));
        }

        var context = new LoadBalancingContext(
            "backend",
            endpoints.MoveToImmutable(),
            Random.Shared,
            LoadBalancingDefaults.MinimumRingSize,
            LoadBalancingDefaults.MaximumRingSize,
            LoadBalancingDefaults.MaglevTableSize);
        _picker = CreatePolicy(Policy.Name).CreatePicker(context);

        _hashes = new ulong[HashCount];
        for (var i = 0; i < HashCount; i++)
        {
            _hashes[i] = RequestHashPolicy.Hash(string.Create(CultureInfo.InvariantCulture, $"user-{i}"));
        }
    }

    [Benchmark]
    public EndpointModel? Pick()
    {
        var context = new PickContext(_hashes[_next++ & (HashCount - 1)]);
        return _picker.Pick(in context);
    }

    private static LoadBalancingPolicy CreatePolicy(string name) => name switch
    {
        LoadBalancingDefaults.RoundRobin => new RoundRobinPolicy(),
        LoadBalancingDefaults.Random => new RandomPolicy(),
        LoadBalancingDefaults.WeightedRoundRobin => new WeightedRoundRobinPolicy(),
        LoadBalancingDefaults.WeightedRandom => new WeightedRandomPolicy(),
        LoadBalancingDefaults.LeastRequest => new LeastRequestPolicy(),
        LoadBalancingDefaults.RingHash => new RingHashPolicy(),
        LoadBalancingDefaults.Maglev => new MaglevPolicy(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a built-in policy"),
    };
}

/// <summary>A policy and whether its endpoints have weights 1..10 (cycling) or all weight 1.</summary>
public sealed record PickCase(string Name, bool VariedWeights)
{
    // The summary table shows this.
    public override string ToString() => VariedWeights ? $"{Name} w=1..10" : Name;
}
