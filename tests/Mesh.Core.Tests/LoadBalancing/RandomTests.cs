using Mesh.LoadBalancing;

namespace Mesh.Core.Tests.LoadBalancing;

public class RandomTests
{
    // Chi-square critical values at p = 0.001: a fair picker fails with probability 1/1000 for a random seed,
    // and the fixed seed makes the outcome deterministic.
    private const double ChiSquareCritical4 = 18.467;
    private const double ChiSquareCritical9 = 27.877;

    [TestCase(5, ChiSquareCritical4)]
    [TestCase(10, ChiSquareCritical9)]
    public void Pick_SeededRandom_UniformByChiSquare(int endpointCount, double critical)
    {
        // Arrange
        var endpoints = TestEndpoints.Many(endpointCount);
        var picker = TestEndpoints.Picker(new RandomPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 50_000);

        // Assert
        var shares = Enumerable.Repeat(1.0 / endpointCount, endpointCount).ToArray();
        Assert.That(TestEndpoints.ChiSquare(counts, shares), Is.LessThan(critical));
    }

    [Test]
    public void Pick_UnequalWeights_IgnoresWeights()
    {
        // Arrange
        var endpoints = TestEndpoints.WithWeights(1, 9, 1, 9, 1);
        var picker = TestEndpoints.Picker(new RandomPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 50_000);

        // Assert
        Assert.That(TestEndpoints.ChiSquare(counts, [0.2, 0.2, 0.2, 0.2, 0.2]), Is.LessThan(ChiSquareCritical4));
    }

    [Test]
    public void Pick_RandomSource_DrawsFromTheContextRandom()
    {
        // Arrange: a source that always draws 0 makes every pick the first endpoint.
        var endpoints = TestEndpoints.Many(4);
        var picker = TestEndpoints.Picker(new RandomPolicy(), endpoints, new ZeroRandom());

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 100);

        // Assert
        Assert.That(counts, Is.EqualTo(new[] { 100, 0, 0, 0 }));
    }
}
