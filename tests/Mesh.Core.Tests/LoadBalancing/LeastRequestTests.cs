using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Core.Tests.LoadBalancing;

public class LeastRequestTests
{
    [Test]
    public void Pick_OneEndpointLoaded_LoadedEndpointPickedMuchLess()
    {
        // Arrange: endpoint 0 has 10 requests in flight, the others none.
        var endpoints = TestEndpoints.Many(5);
        StartRequests(endpoints[0], 10);
        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));
        const int Picks = 10_000;

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, Picks);

        // Assert: the two candidates are always distinct, so the loaded endpoint loses every comparison;
        // the idle ones share the traffic.
        Assert.That(counts[0], Is.Zero);
        Assert.That(counts.Skip(1), Has.All.GreaterThan(Picks / 4 * 0.8));
    }

    [Test]
    public void Pick_GradedLoad_FewerInFlightPickedMoreOften()
    {
        // Arrange: in-flight 0, 1, 2, 3.
        var endpoints = TestEndpoints.Many(4);
        for (var i = 0; i < endpoints.Length; i++)
        {
            StartRequests(endpoints[i], i);
        }

        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 10_000);

        // Assert: with two choices the least loaded endpoint wins whenever it is sampled (about half the picks)
        // and the most loaded never wins.
        Assert.That(counts[0], Is.GreaterThan(counts[1]));
        Assert.That(counts[1], Is.GreaterThan(counts[2]));
        Assert.That(counts[2], Is.GreaterThan(counts[3]));
        Assert.That(counts[3], Is.Zero);
        Assert.That(counts[0], Is.GreaterThan(4_000));
    }

    [Test]
    public void Pick_NoLoad_SpreadsOverAllEndpoints()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(5);
        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 10_000);

        // Assert
        Assert.That(counts, Has.All.InRange(1_500, 2_500));
    }

    [TestCase(1, 5, 0)]
    [TestCase(2, 4, 1)]
    [TestCase(0, 1, 0)]
    [TestCase(1, 8, 0)]
    [TestCase(3, 8, 1)]
    [TestCase(3, 16, 0)]
    public void Pick_UnequalWeights_LowerInFlightPerUnitOfWeightWins(int lightInFlight, int heavyInFlight, int expected)
    {
        // Arrange: a weight-1 and a weight-4 endpoint; the pick is the lower in-flight / weight,
        // e.g. light 2 in flight → 2 against heavy 4 → 1 (heavy wins) or heavy 8 → 2 against light 1 → 1 (light wins).
        var endpoints = TestEndpoints.WithWeights(1, 4);
        StartRequests(endpoints[0], lightInFlight);
        StartRequests(endpoints[1], heavyInFlight);
        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 1_000);

        // Assert: with two endpoints both are compared on every pick.
        Assert.That(counts[expected], Is.EqualTo(1_000));
    }

    [Test]
    public void Pick_UnequalWeightsEqualLoadPerWeight_TieGoesToTheFirstSample()
    {
        // Arrange: 1 / 1 = 4 / 4.
        var endpoints = TestEndpoints.WithWeights(1, 4);
        StartRequests(endpoints[0], 1);
        StartRequests(endpoints[1], 4);
        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 10_000);

        // Assert: the first sample is drawn by weight (1 : 4), so the heavy endpoint wins about 80 % of ties.
        Assert.That((double)counts[1] / 10_000, Is.EqualTo(0.8).Within(0.02));
    }

    [Test]
    public void Pick_UnequalWeightsNoLoad_SpreadsInProportionToWeight()
    {
        // Arrange: weights 1, 1, 8 and no load: every comparison ties, so the first, weight-sampled candidate
        // wins and the shares follow the weights (10 %, 10 %, 80 %), as Envoy's weight / (active + 1) when idle.
        var endpoints = TestEndpoints.WithWeights(1, 1, 8);
        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 10_000);

        // Assert
        Assert.That(counts[0], Is.InRange(800, 1_200));
        Assert.That(counts[1], Is.InRange(800, 1_200));
        Assert.That(counts[2], Is.InRange(7_600, 8_400));
    }

    [Test]
    public void Pick_RequestsComplete_EndpointWinsAgain()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(2);
        StartRequests(endpoints[0], 3);
        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));
        Assert.That(picker.Pick(default), Is.SameAs(endpoints[1]), "precondition: the idle endpoint wins");

        // Act: endpoint 0 finishes its requests and endpoint 1 gets busy.
        for (var i = 0; i < 3; i++)
        {
            endpoints[0].State.OnRequestCompleted(TimeSpan.FromMilliseconds(5));
        }

        StartRequests(endpoints[1], 2);

        // Assert
        Assert.That(picker.Pick(default), Is.SameAs(endpoints[0]));
    }

    [Test]
    public void Pick_SingleEndpoint_ReturnsItWhateverItsLoad()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(1);
        StartRequests(endpoints[0], 100);
        var picker = TestEndpoints.Picker(new LeastRequestPolicy(), endpoints, new Random(42));

        // Act
        var picked = picker.Pick(default);

        // Assert
        Assert.That(picked, Is.SameAs(endpoints[0]));
    }

    private static void StartRequests(EndpointModel endpoint, int count)
    {
        for (var i = 0; i < count; i++)
        {
            endpoint.State.OnRequestStarted();
        }
    }
}
