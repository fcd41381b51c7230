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

    [Test]
    public void Pick_UniformDrawsOverTheUnitInterval_LandOnEachEndpointExactlyItsWeightShare()
    {
        // Arrange: weights 3, 1, 2, and 6,000 draws evenly spread over [0, 1): the alias table must map
        // exactly 3/6, 1/6 and 2/6 of the unit interval to the three endpoints.
        var endpoints = TestEndpoints.WithWeights(3, 1, 2);
        var random = new SequenceRandom(Enumerable.Range(0, 6_000).Select(k => (k + 0.5) / 6_000));
        var picker = TestEndpoints.Picker(new WeightedRandomPolicy(), endpoints, random);

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 6_000);

        // Assert
        Assert.That(counts, Is.EqualTo(new[] { 3_000, 1_000, 2_000 }));
    }

    private sealed class SequenceRandom(IEnumerable<double> values) : Random
    {
        private readonly IEnumerator<double> _values = values.GetEnumerator();

        public override double NextDouble() => _values.MoveNext() ? _values.Current : throw new InvalidOperationException("no more draws");
    }
}
