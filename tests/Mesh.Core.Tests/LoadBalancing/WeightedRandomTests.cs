using Mesh.LoadBalancing;

namespace Mesh.Core.Tests.LoadBalancing;

public class WeightedRandomTests
{
    [TestCase(new[] { 1, 2, 3, 4 })]
    [TestCase(new[] { 1, 1, 8 })]
    [TestCase(new[] { 100, 1 })]
    [TestCase(new[] { 5, 5, 5, 5, 5 })]
    public void Pick_SeededRandom_SharesProportionalToWeights(int[] weights)
    {
        // Arrange
        var endpoints = TestEndpoints.WithWeights(weights);
        var picker = TestEndpoints.Picker(new WeightedRandomPolicy(), endpoints, new Random(42));
        const int Picks = 100_000;

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, Picks);

        // Assert: each share within 1 percentage point of w_i / W (the standard deviation is at most 0.16 points).
        double total = weights.Sum();
        for (var i = 0; i < weights.Length; i++)
        {
            Assert.That((double)counts[i] / Picks, Is.EqualTo(weights[i] / total).Within(0.01), $"endpoint {i} (weight {weights[i]})");
        }
    }

    [Test]
    public void Pick_SeededRandom_PassesChiSquare()
    {
        // Arrange
        var endpoints = TestEndpoints.WithWeights(1, 2, 3, 4);
        var picker = TestEndpoints.Picker(new WeightedRandomPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 100_000);

        // Assert: 16.266 is the chi-square critical value for 3 degrees of freedom at p = 0.001.
        Assert.That(TestEndpoints.ChiSquare(counts, [0.1, 0.2, 0.3, 0.4]), Is.LessThan(16.266));
    }

    [TestCase(0L, 0)]
    [TestCase(2L, 0)]
    [TestCase(3L, 1)]
    [TestCase(4L, 2)]
    [TestCase(5L, 2)]
    public void Pick_DrawOverWeightSum_LandsOnTheEndpointOwningTheDraw(long draw, int expected)
    {
        // Arrange: weights 3, 1, 2 own the draws [0, 3), [3, 4) and [4, 6).
        var endpoints = TestEndpoints.WithWeights(3, 1, 2);
        var picker = TestEndpoints.Picker(new WeightedRandomPolicy(), endpoints, new FixedDrawRandom(draw));

        // Act
        var picked = picker.Pick(default);

        // Assert
        Assert.That(picked, Is.SameAs(endpoints[expected]));
    }

    private sealed class FixedDrawRandom(long draw) : Random
    {
        public override long NextInt64(long maxValue) => draw;
    }
}
