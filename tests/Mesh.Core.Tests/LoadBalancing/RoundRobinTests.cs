using Mesh.LoadBalancing;

namespace Mesh.Core.Tests.LoadBalancing;

public class RoundRobinTests
{
    [TestCase(0, new[] { 0, 1, 2, 3, 0, 1, 2, 3, 0 })]
    [TestCase(2, new[] { 2, 3, 0, 1, 2, 3, 0, 1, 2 })]
    [TestCase(3, new[] { 3, 0, 1, 2, 3, 0, 1, 2, 3 })]
    public void Pick_StartOffset_CyclesInOrderFromOffset(int start, int[] expected)
    {
        // Arrange
        var endpoints = TestEndpoints.Many(4);
        var picker = TestEndpoints.Picker(new RoundRobinPolicy(), endpoints, new FixedRandom(start));

        // Act
        var picked = new int[expected.Length];
        for (var i = 0; i < picked.Length; i++)
        {
            picked[i] = endpoints.IndexOf(picker.Pick(default)!);
        }

        // Assert
        Assert.That(picked, Is.EqualTo(expected));
    }

    [Test]
    public void Pick_ZeroStart_IgnoresWeights()
    {
        // Arrange: weights are for the weighted policies; round robin visits each endpoint once per cycle.
        var endpoints = TestEndpoints.WithWeights(5, 1, 3);
        var picker = TestEndpoints.Picker(new RoundRobinPolicy(), endpoints, new ZeroRandom());

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 30);

        // Assert
        Assert.That(counts, Is.EqualTo(new[] { 10, 10, 10 }));
    }

    [TestCase(1, 1)]
    [TestCase(3, 1000)]
    [TestCase(7, 10_000)]
    [TestCase(10, 9_999)]
    public void Pick_ManyPicks_EachEndpointWithinOneOfFairShare(int endpointCount, int picks)
    {
        // Arrange
        var endpoints = TestEndpoints.Many(endpointCount);
        var picker = TestEndpoints.Picker(new RoundRobinPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, picks);

        // Assert
        var share = (double)picks / endpointCount;
        Assert.That(counts, Has.All.InRange(share - 1, share + 1));
    }

    [Test]
    public void Pick_ConcurrentPickers_EachEndpointWithinOneOfFairShare()
    {
        // Arrange: the cycle position is one Interlocked counter, so concurrent picks never skip or repeat a slot.
        var endpoints = TestEndpoints.Many(5);
        var picker = TestEndpoints.Picker(new RoundRobinPolicy(), endpoints, new Random(42));
        var counts = new int[endpoints.Length];
        const int Threads = 4;
        const int PicksPerThread = 25_000;

        // Act
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ =>
        {
            var local = new int[endpoints.Length];
            for (var i = 0; i < PicksPerThread; i++)
            {
                local[endpoints.IndexOf(picker.Pick(default)!)]++;
            }

            for (var e = 0; e < local.Length; e++)
            {
                Interlocked.Add(ref counts[e], local[e]);
            }
        });

        // Assert: 100,000 picks over 5 endpoints is exactly 20,000 each.
        Assert.That(counts, Has.All.EqualTo(Threads * PicksPerThread / endpoints.Length));
    }

    [Test]
    public void CreatePicker_SeededRandom_StartsAtTheDrawnOffset()
    {
        // Arrange: the start offset is the first Next(count) of the random source.
        var endpoints = TestEndpoints.Many(10);
        var expectedStart = new Random(7).Next(endpoints.Length);

        // Act
        var picker = TestEndpoints.Picker(new RoundRobinPolicy(), endpoints, new Random(7));

        // Assert
        Assert.That(picker.Pick(default), Is.SameAs(endpoints[expectedStart]));
    }
}
