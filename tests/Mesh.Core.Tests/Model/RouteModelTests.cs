using Mesh.Configuration;

namespace Mesh.Core.Tests.Model;

public class RouteModelTests
{
    [TestCase(80, 20)]
    [TestCase(50, 50)]
    [TestCase(1, 99)]
    public void PickCluster_WeightedDestinations_SplitByWeight(int v1Weight, int v2Weight)
    {
        // Arrange
        var snapshot = TestMesh.BuildValid(SplitService((v1Weight, v2Weight)), new Random(42));
        var route = snapshot.Services[0].Routes[0];
        const int Picks = 100_000;

        // Act
        var toV1 = 0;
        for (var i = 0; i < Picks; i++)
        {
            toV1 += route.PickCluster().Name == "backend/v1" ? 1 : 0;
        }

        // Assert: the standard deviation of the share is at most 0.16 percentage points.
        Assert.That(route.TotalWeight, Is.EqualTo(v1Weight + v2Weight));
        Assert.That((double)toV1 / Picks, Is.EqualTo((double)v1Weight / (v1Weight + v2Weight)).Within(0.01));
    }

    [Test]
    public void PickCluster_NoWeights_EqualSplit()
    {
        // Arrange
        var snapshot = TestMesh.BuildValid(SplitService(null), new Random(42));
        var route = snapshot.Services[0].Routes[0];

        // Act
        var toV1 = Enumerable.Range(0, 10_000).Count(_ => route.PickCluster().Name == "backend/v1");

        // Assert
        Assert.That(toV1, Is.InRange(4_800, 5_200));
    }

    [Test]
    public void PickCluster_ZeroWeightDestination_NeverPicked()
    {
        // Arrange: a weight of 0 is allowed (draining a version) and then takes nothing.
        var snapshot = TestMesh.BuildValid(SplitService((0, 1)), new Random(42));
        var route = snapshot.Services[0].Routes[0];

        // Act
        var names = Enumerable.Range(0, 1_000).Select(_ => route.PickCluster().Name).Distinct().ToArray();

        // Assert
        Assert.That(names, Is.EqualTo(new[] { "backend/v2" }));
    }

    private static MeshOptions SplitService((int V1, int V2)? weights) =>
        TestMesh.Service(count: 2, configure: s =>
        {
            s.Subsets["v1"] = new() { ["version"] = "v1" };
            s.Subsets["v2"] = new() { ["version"] = "v2" };
            s.Routes.Add(new RouteOptions
            {
                Destinations =
                {
                    new() { Subset = "v1", Weight = weights?.V1 },
                    new() { Subset = "v2", Weight = weights?.V2 },
                },
            });
        });
}
