using System.Collections.Immutable;
using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Core.Tests.LoadBalancing;

public class MaglevTests
{
    private const int SmallPrime = 65_537;

    [Test]
    public void Pick_SameHash_SameEndpointAcrossPicksAndPickers()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(10);
        var first = CreatePicker(endpoints, new Random(1));
        var second = CreatePicker(endpoints, new Random(2));

        // Act
        var mismatches = 0;
        for (var i = 0; i < 1_000; i++)
        {
            var context = new PickContext(RingHashTests.KeyHash(i));
            var a = first.Pick(in context);
            mismatches += ReferenceEquals(a, first.Pick(in context)) && ReferenceEquals(a, second.Pick(in context)) ? 0 : 1;
        }

        // Assert
        Assert.That(mismatches, Is.Zero);
    }

    [TestCase(65_537)]
    [TestCase(131)]
    [TestCase(5)]
    public void Pick_HashesOneTableSizeApart_SameEndpoint(int tableSize)
    {
        // Arrange: a pick is table[hash mod size], so hashes that differ by the configured size share a slot.
        var endpoints = TestEndpoints.Many(3);
        var picker = new MaglevPolicy().CreatePicker(TestEndpoints.Context(endpoints, new Random(42), tableSize: tableSize));

        // Act
        var mismatches = 0;
        var distinct = new HashSet<EndpointModel>();
        for (var h = 0UL; h < (ulong)tableSize; h++)
        {
            var a = picker.Pick(new PickContext(h));
            distinct.Add(a!);
            mismatches += ReferenceEquals(a, picker.Pick(new PickContext(h + (ulong)tableSize))) ? 0 : 1;
        }

        // Assert
        Assert.That(mismatches, Is.Zero);
        Assert.That(distinct, Has.Count.EqualTo(3));
    }

    [TestCase(10, SmallPrime)]
    [TestCase(7, 131)]
    [TestCase(3, 5)]
    public void CreatePicker_EqualWeights_EachEndpointFloorOrCeilingOfTableShare(int endpointCount, int tableSize)
    {
        // Arrange: with equal weights every endpoint takes one slot per round, so shares differ by at most one slot.
        var endpoints = TestEndpoints.Many(endpointCount);
        var picker = new MaglevPolicy().CreatePicker(TestEndpoints.Context(endpoints, new Random(42), tableSize: tableSize));

        // Act
        var slots = CountSlots(picker, endpoints, tableSize);

        // Assert
        Assert.That(slots, Has.All.InRange(tableSize / endpointCount, (tableSize / endpointCount) + 1));
    }

    [TestCase(new[] { 1, 2, 3, 4 })]
    [TestCase(new[] { 1, 10 })]
    [TestCase(new[] { 5, 3, 1, 1 })]
    public void CreatePicker_UnequalWeights_TableSharesFollowWeights(int[] weights)
    {
        // Arrange
        var endpoints = TestEndpoints.WithWeights(weights);
        var picker = CreatePicker(endpoints, new Random(42));

        // Act
        var slots = CountSlots(picker, endpoints, SmallPrime);

        // Assert: an endpoint takes a slot each time its weight reaches the next multiple of the heaviest weight,
        // so its slot count is within one round (n slots) of size × w_i / W.
        double total = weights.Sum();
        for (var i = 0; i < weights.Length; i++)
        {
            Assert.That(slots[i], Is.EqualTo(SmallPrime * weights[i] / total).Within(weights.Length), $"endpoint {i} (weight {weights[i]})");
        }
    }

    [Test]
    public void Pick_RemoveOneOfTen_OnlyRemovedKeysAndFewOthersMove()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(10);
        var before = MapSlots(CreatePicker(endpoints, new Random(42)), endpoints);

        // Act
        var after = MapSlots(CreatePicker(endpoints.RemoveAt(4), new Random(42)), endpoints);

        // Assert: the removed endpoint's slots all go to others. Rebuilding the table lets a few other slots change
        // hands too (the Maglev paper reports a few percent at most; 0.24 % here), far below 1/N = 10 %.
        var (movedOfRemoved, removedSlots, movedOfSurvivors, survivorSlots) = RingHashTests.Moves(before, after, removed: 4);
        TestContext.Out.WriteLine($"moved among survivors: {(double)movedOfSurvivors / survivorSlots:P2}");
        Assert.That(movedOfRemoved, Is.EqualTo(removedSlots));
        Assert.That((double)movedOfSurvivors / survivorSlots, Is.LessThanOrEqualTo(0.02));
    }

    [Test]
    public void Pick_NoRequestHash_PicksAtRandom()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(5);
        var picker = CreatePicker(endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 20_000, new PickContext(null));

        // Assert
        Assert.That(counts, Has.All.InRange(3_600, 4_400));
    }

    [TestCase(2, true)]
    [TestCase(3, true)]
    [TestCase(131, true)]
    [TestCase(65_537, true)]
    [TestCase(131_071, true)]
    [TestCase(5_000_011, true)]
    [TestCase(0, false)]
    [TestCase(1, false)]
    [TestCase(-7, false)]
    [TestCase(4, false)]
    [TestCase(65_536, false)]
    [TestCase(65_541, false)]
    [TestCase(1_000_000, false)]
    public void IsPrime_Value_Classified(int value, bool expected)
    {
        // Act
        var prime = MaglevPolicy.IsPrime(value);

        // Assert
        Assert.That(prime, Is.EqualTo(expected));
    }

    private static EndpointPicker CreatePicker(ImmutableArray<EndpointModel> endpoints, Random random) =>
        new MaglevPolicy().CreatePicker(TestEndpoints.Context(endpoints, random, tableSize: SmallPrime));

    private static int[] CountSlots(EndpointPicker picker, ImmutableArray<EndpointModel> endpoints, int tableSize)
    {
        var counts = new int[endpoints.Length];
        for (var h = 0UL; h < (ulong)tableSize; h++)
        {
            counts[endpoints.IndexOf(picker.Pick(new PickContext(h))!)]++;
        }

        return counts;
    }

    /// <summary>Which endpoint (index in <paramref name="indexSpace"/>) owns each table slot.</summary>
    private static int[] MapSlots(EndpointPicker picker, ImmutableArray<EndpointModel> indexSpace)
    {
        var map = new int[SmallPrime];
        for (var h = 0UL; h < SmallPrime; h++)
        {
            map[h] = indexSpace.IndexOf(picker.Pick(new PickContext(h))!);
        }

        return map;
    }
}
