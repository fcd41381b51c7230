using Mesh.LoadBalancing;

namespace Mesh.Core.Tests.LoadBalancing;

public class WeightedRoundRobinTests
{
    // Above this many steps (endpoints × cycle length) BuildCycle switches from nginx's algorithm to earliest deadline first.
    private const long ExactBuildBudget = 1 << 24;

    [Test]
    public void Pick_Weights231StartZero_NginxSmoothSequence()
    {
        // Arrange: nginx with weights s1=2, s2=3, s3=1 picks s2, s1, s2, s3, s1, s2 (current weights
        // [2,3,1] → s2, [4,0,2] → s1, [0,3,3] → s2, [2,0,4] → s3, [4,3,-1] → s1, [0,6,0] → s2).
        var endpoints = TestEndpoints.WithWeights(2, 3, 1);
        var picker = TestEndpoints.Picker(new WeightedRoundRobinPolicy(), endpoints, new ZeroRandom());

        // Act
        var picked = new int[12];
        for (var i = 0; i < picked.Length; i++)
        {
            picked[i] = endpoints.IndexOf(picker.Pick(default)!);
        }

        // Assert: two full cycles.
        Assert.That(picked, Is.EqualTo(new[] { 1, 0, 1, 2, 0, 1, 1, 0, 1, 2, 0, 1 }));
    }

    [TestCase(new long[] { 2, 3, 1 }, new[] { 1, 0, 1, 2, 0, 1 })]
    [TestCase(new long[] { 20, 30, 10 }, new[] { 1, 0, 1, 2, 0, 1 })]
    [TestCase(new long[] { 5, 1, 1 }, new[] { 0, 0, 1, 0, 2, 0, 0 })]
    [TestCase(new long[] { 1, 1, 2 }, new[] { 2, 0, 1, 2 })]
    [TestCase(new long[] { 4, 4, 4 }, new[] { 0, 1, 2 })]
    [TestCase(new long[] { 7 }, new[] { 0 })]
    public void BuildCycle_SmallWeights_NginxSequenceAfterGcdReduction(long[] weights, int[] expected)
    {
        // Act
        var cycle = WeightedRoundRobinPolicy.BuildCycle(weights, LoadBalancingDefaults.MaxWeightedRoundRobinCycle);

        // Assert
        Assert.That(cycle, Is.EqualTo(expected));
    }

    [TestCase(new long[] { 6, 9, 3 }, 6)]
    [TestCase(new long[] { 100, 200, 300 }, 6)]
    [TestCase(new long[] { 1000, 1000 }, 2)]
    [TestCase(new long[] { 12, 18 }, 5)]
    [TestCase(new long[] { 7, 5 }, 12)]
    public void BuildCycle_CommonDivisor_CycleIsReducedWeightSum(long[] weights, int expectedLength)
    {
        // Act
        var cycle = WeightedRoundRobinPolicy.BuildCycle(weights, LoadBalancingDefaults.MaxWeightedRoundRobinCycle);

        // Assert
        Assert.That(cycle, Has.Length.EqualTo(expectedLength));
    }

    [TestCase(new[] { 2, 3, 1 })]
    [TestCase(new[] { 5, 1, 1 })]
    [TestCase(new[] { 1, 2, 3, 4, 5 })]
    [TestCase(new[] { 7, 11, 13 })]
    [TestCase(new[] { 1, 100 })]
    [TestCase(new[] { 3, 3, 1 })]
    [TestCase(new[] { 997, 1, 2, 500 })]
    public void Pick_AnyStartOneCycle_EachEndpointExactlyItsWeight(int[] weights)
    {
        // Arrange: these weight sets have no common divisor, so a cycle is W = Σ w_i picks. The start
        // offset is random, so this also checks a window of W picks that wraps around the cycle.
        var endpoints = TestEndpoints.WithWeights(weights);
        var picker = TestEndpoints.Picker(new WeightedRoundRobinPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, weights.Sum());

        // Assert
        Assert.That(counts, Is.EqualTo(weights));
    }

    [TestCase(new[] { 2, 3, 1 })]
    [TestCase(new[] { 5, 1, 1 })]
    [TestCase(new[] { 1, 2, 3, 4, 5 })]
    [TestCase(new[] { 7, 11, 13 })]
    [TestCase(new[] { 1, 100 })]
    public void BuildCycle_SmallWeights_EveryPrefixWithinOnePickOfItsShare(int[] weights)
    {
        // Arrange: smooth means interleaved; after t picks endpoint i has about t * w_i / W of them, never a burst.
        var total = weights.Sum();

        // Act
        var cycle = WeightedRoundRobinPolicy.BuildCycle(weights.Select(w => (long)w).ToArray(), LoadBalancingDefaults.MaxWeightedRoundRobinCycle);

        // Assert
        Assert.That(MaxPrefixDeviation(cycle, weights.Select(w => (long)w).ToArray(), total), Is.LessThan(1.0));
    }

    [Test]
    public void BuildCycle_LargeCycleThroughEarliestDeadlineFirst_EachEndpointExactlyItsWeight()
    {
        // Arrange: 64 endpoints with weights 501, 1001, ..., 32001 sum to 1,040,064 (just under the 2^20 cap,
        // so no scaling) and need 64 × 1,040,064 ≈ 6.7e7 > 2^24 steps, which takes the earliest-deadline-first path.
        var weights = Enumerable.Range(1, 64).Select(i => (500L * i) + 1).ToArray();
        var total = weights.Sum();
        Assert.That(total, Is.LessThanOrEqualTo(LoadBalancingDefaults.MaxWeightedRoundRobinCycle));
        Assert.That(weights.Length * total, Is.GreaterThan(ExactBuildBudget));

        // Act
        var cycle = WeightedRoundRobinPolicy.BuildCycle((long[])weights.Clone(), LoadBalancingDefaults.MaxWeightedRoundRobinCycle);

        // Assert
        Assert.That(cycle, Has.Length.EqualTo(total));
        Assert.That(Count(cycle, weights.Length), Is.EqualTo(weights));
        Assert.That(MaxPrefixDeviation(cycle, weights, total), Is.LessThan(2.0), "the earliest-deadline-first schedule is also smooth");
    }

    [Test]
    public void Pick_LargeCycleThroughEarliestDeadlineFirst_EachEndpointExactlyItsWeightPerCycle()
    {
        // Arrange: 20 endpoints, weights 4003, 8003, ..., 80003: W = 840,060 and 20 × W > 2^24.
        var weights = Enumerable.Range(1, 20).Select(i => (4000 * i) + 3).ToArray();
        Assert.That(20L * weights.Sum(), Is.GreaterThan(ExactBuildBudget));
        var endpoints = TestEndpoints.WithWeights(weights);
        var picker = TestEndpoints.Picker(new WeightedRoundRobinPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, weights.Sum());

        // Assert
        Assert.That(counts, Is.EqualTo(weights));
    }

    [TestCase(new long[] { 1, 1_000_000, 2_000_000, 3 })]
    [TestCase(new long[] { 1_000_003, 2_000_000, 999_999 })]
    [TestCase(new long[] { 100_007, 200_007, 300_007, 400_007, 500_007, 600_007, 700_007, 800_007, 900_007, 1_000_007, 1_100_007, 1_200_007, 1_300_007, 1_400_007, 1_500_007, 1_600_007, 1_700_007, 1_800_007, 1_900_007, 2_000_007 })]
    public void BuildCycle_WeightSumAboveMaxCycle_ScaledDownKeepingShares(long[] weights)
    {
        // Arrange: the weight sums exceed MaxWeightedRoundRobinCycle (2^20); the last set also needs the
        // earliest-deadline-first path after scaling (20 endpoints × about 2^20 > 2^24).
        var total = weights.Sum();
        Assert.That(total, Is.GreaterThan(LoadBalancingDefaults.MaxWeightedRoundRobinCycle));

        // Act
        var cycle = WeightedRoundRobinPolicy.BuildCycle((long[])weights.Clone(), LoadBalancingDefaults.MaxWeightedRoundRobinCycle);

        // Assert: the cycle fits the cap (plus at most one slot per endpoint raised to weight 1), every endpoint
        // is in it, and each endpoint's count is within one pick of its exact share w_i × L / W.
        var counts = Count(cycle, weights.Length);
        Assert.That(cycle, Has.Length.LessThanOrEqualTo(LoadBalancingDefaults.MaxWeightedRoundRobinCycle + weights.Length));
        Assert.That(cycle, Has.Length.GreaterThan(LoadBalancingDefaults.MaxWeightedRoundRobinCycle / 2));
        Assert.That(counts, Has.All.GreaterThanOrEqualTo(1));
        for (var i = 0; i < weights.Length; i++)
        {
            var exact = (double)weights[i] * cycle.Length / total;
            Assert.That(counts[i], Is.EqualTo(exact).Within(1.0), $"endpoint {i} (weight {weights[i]})");
        }
    }

    [Test]
    public void BuildCycle_SmallMaxCycle_ScalesToTheCap()
    {
        // Arrange: weights 30, 61, 10 (W = 101, no common divisor) with a cap of 10 scale to
        // floor(w × 10 / 101) = 2, 6, 0, and the last is raised to 1 so that it stays in the cycle.
        long[] weights = [30, 61, 10];

        // Act
        var cycle = WeightedRoundRobinPolicy.BuildCycle(weights, maxCycle: 10);

        // Assert
        Assert.That(Count(cycle, 3), Is.EqualTo(new[] { 2, 6, 1 }));
    }

    [Test]
    public void Pick_EqualWeights_PlainRoundRobinInListOrder()
    {
        // Arrange
        var endpoints = TestEndpoints.WithWeights(3, 3, 3, 3);
        var picker = TestEndpoints.Picker(new WeightedRoundRobinPolicy(), endpoints, new ZeroRandom());

        // Act
        var picked = Enumerable.Range(0, 8).Select(_ => endpoints.IndexOf(picker.Pick(default)!)).ToArray();

        // Assert
        Assert.That(picked, Is.EqualTo(new[] { 0, 1, 2, 3, 0, 1, 2, 3 }));
    }

    private static int[] Count(int[] cycle, int endpointCount)
    {
        var counts = new int[endpointCount];
        foreach (var i in cycle)
        {
            counts[i]++;
        }

        return counts;
    }

    /// <summary>The largest |picks_i(t) − t × w_i / W| over every prefix t of the cycle and every endpoint i.</summary>
    /// <remarks>
    /// Between two picks of i its count is constant and its due share grows, so the extremes are just before
    /// a pick (largest deficit) and just after it (largest excess): checking those is O(W), not O(n × W).
    /// </remarks>
    private static double MaxPrefixDeviation(int[] cycle, long[] weights, long total)
    {
        var picks = new long[weights.Length];
        var max = 0.0;
        for (var t = 1; t <= cycle.Length; t++)
        {
            var i = cycle[t - 1];
            max = Math.Max(max, Math.Abs(picks[i] - ((double)(t - 1) * weights[i] / total)));
            picks[i]++;
            max = Math.Max(max, Math.Abs(picks[i] - ((double)t * weights[i] / total)));
        }

        TestContext.Out.WriteLine($"max prefix deviation {max:F3}");
        return max;
    }
}
