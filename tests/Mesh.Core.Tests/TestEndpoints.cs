using System.Collections.Frozen;
using System.Collections.Immutable;
using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Core.Tests;

/// <summary>Endpoints, contexts and pickers built through the internal constructors, as the snapshot builder builds them.</summary>
internal static class TestEndpoints
{
    public static EndpointModel Create(int index, int weight = 1, EndpointState? state = null, EndpointHealth health = EndpointHealth.Healthy) =>
        new(
            new Uri($"http://10.0.{index / 250}.{(index % 250) + 1}:{5000 + index}"),
            FrozenDictionary<string, string>.Empty,
            weight,
            locality: null,
            health,
            state ?? new EndpointState());

    public static ImmutableArray<EndpointModel> Many(int count, Func<int, int>? weight = null)
    {
        var builder = ImmutableArray.CreateBuilder<EndpointModel>(count);
        for (var i = 0; i < count; i++)
        {
            builder.Add(Create(i, weight?.Invoke(i) ?? 1));
        }

        return builder.MoveToImmutable();
    }

    public static ImmutableArray<EndpointModel> WithWeights(params int[] weights)
    {
        var builder = ImmutableArray.CreateBuilder<EndpointModel>(weights.Length);
        for (var i = 0; i < weights.Length; i++)
        {
            builder.Add(Create(i, weights[i]));
        }

        return builder.MoveToImmutable();
    }

    public static LoadBalancingContext Context(
        ImmutableArray<EndpointModel> endpoints,
        Random random,
        int minimumRingSize = LoadBalancingDefaults.MinimumRingSize,
        int maximumRingSize = LoadBalancingDefaults.MaximumRingSize,
        int tableSize = LoadBalancingDefaults.MaglevTableSize) =>
        new("test", endpoints, random, minimumRingSize, maximumRingSize, tableSize);

    public static EndpointPicker Picker(LoadBalancingPolicy policy, ImmutableArray<EndpointModel> endpoints, Random random) =>
        policy.CreatePicker(Context(endpoints, random));

    /// <summary>Picks <paramref name="count"/> times and counts the picks per endpoint index.</summary>
    public static int[] CountPicks(EndpointPicker picker, ImmutableArray<EndpointModel> endpoints, int count, PickContext context = default)
    {
        var counts = new int[endpoints.Length];
        for (var i = 0; i < count; i++)
        {
            var picked = picker.Pick(in context);
            Assert.That(picked, Is.Not.Null);
            counts[endpoints.IndexOf(picked!)]++;
        }

        return counts;
    }

    /// <summary>Pearson's chi-square statistic of observed counts against expected shares.</summary>
    public static double ChiSquare(int[] observed, double[] expectedShares)
    {
        var total = observed.Sum();
        var chi = 0.0;
        for (var i = 0; i < observed.Length; i++)
        {
            var expected = total * expectedShares[i];
            chi += (observed[i] - expected) * (observed[i] - expected) / expected;
        }

        return chi;
    }
}

/// <summary>A random source that always returns the smallest value, so start offsets are 0 and draws land on the first entry.</summary>
internal sealed class ZeroRandom : Random
{
    public override int Next() => 0;

    public override int Next(int maxValue) => 0;

    public override int Next(int minValue, int maxValue) => minValue;

    public override long NextInt64() => 0;

    public override long NextInt64(long maxValue) => 0;

    public override long NextInt64(long minValue, long maxValue) => minValue;

    public override double NextDouble() => 0;
}

/// <summary>A random source whose <see cref="Next(int)"/> returns a fixed value (modulo the bound), to choose a start offset.</summary>
internal sealed class FixedRandom(int value) : Random
{
    public override int Next(int maxValue) => value % maxValue;
}
