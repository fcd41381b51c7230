using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Resilience;

namespace Mesh.Core.Tests.Resilience;

/// <summary>Envoy's healthy panic threshold: with too few endpoints left after ejections, the cluster ignores ejections.</summary>
public class PanicThresholdTests
{
    // 4 endpoints, threshold 50: panic when 100 x healthy < 50 x 4, i.e. with fewer than 2 healthy.
    [TestCase(50, 0, false)]
    [TestCase(50, 1, false)]
    [TestCase(50, 2, false)]
    [TestCase(50, 3, true)]
    [TestCase(50, 4, true)]
    [TestCase(100, 1, true)]
    [TestCase(75, 1, false)]
    [TestCase(76, 1, true)]
    [TestCase(0, 3, false)]
    public void RefreshPicker_EjectedShare_PanicsBelowThreshold(int threshold, int ejected, bool panic)
    {
        using var harness = Build(threshold);
        var cluster = harness.Cluster;

        Eject(cluster, ejected);

        Assert.That(cluster.IsInPanic, Is.EqualTo(panic));
        Assert.That(cluster.IsInPanic, Is.EqualTo(100.0 * (4 - ejected) / 4 < threshold), "Envoy: healthy percent below the threshold");
        var expected = panic ? cluster.Endpoints : cluster.Endpoints.Skip(ejected);
        Assert.That(PickSet(cluster), Is.EquivalentTo(expected));
    }

    [Test]
    public void RefreshPicker_PanicThresholdZeroAndAllEjected_HasNoEndpoint()
    {
        using var harness = Build(threshold: 0);
        var cluster = harness.Cluster;

        Eject(cluster, 4);

        Assert.That(cluster.IsInPanic, Is.False);
        Assert.That(cluster.Pick(default(PickContext)), Is.Null);
        Assert.That(cluster.DescribeUnavailability(), Is.EqualTo("cluster 'backend' has 4 endpoint(s), none usable (4 ejected)"));
    }

    [Test]
    public void RefreshPicker_Panic_StillExcludesEndpointsUnhealthyAtTheSource()
    {
        // 4 endpoints, one unhealthy by its source: 3 usable. Ejecting 2 leaves 1 of 3 healthy (33 %) < 50 %: panic over the usable 3.
        using var harness = Build(threshold: 50, unhealthy: 3);
        var cluster = harness.Cluster;

        Eject(cluster, 2);

        Assert.That(cluster.IsInPanic, Is.True);
        Assert.That(PickSet(cluster), Is.EquivalentTo(cluster.Endpoints.Take(3)));
    }

    [Test]
    public void RefreshPicker_EndpointReturns_LeavesPanic()
    {
        using var harness = Build(threshold: 50, baseEjection: TimeSpan.FromSeconds(10));
        var cluster = harness.Cluster;
        Eject(cluster, 3);
        Assert.That(cluster.IsInPanic, Is.True);

        harness.Time.Advance(TimeSpan.FromSeconds(10));

        Assert.That(cluster.IsInPanic, Is.False);
        Assert.That(PickSet(cluster), Is.EquivalentTo(cluster.Endpoints));
    }

    [Test]
    public void RefreshPicker_SubsetsOfTheService_FollowTheSharedDetector()
    {
        var options = ExecutorHarness.Options(4, s =>
        {
            s.OutlierDetection = Detection(50, TimeSpan.FromSeconds(30));
            for (var i = 0; i < 4; i++)
            {
                s.Endpoints[i].Labels["version"] = i < 2 ? "v1" : "v2";
            }

            s.Subsets["v1"] = new() { ["version"] = "v1" };
        });
        using var harness = new ExecutorHarness(options);
        var all = harness.State.Current.Clusters["backend"];
        var v1 = harness.State.Current.Clusters["backend/v1"];

        all.Detector!.Report(v1.Endpoints[0], AttemptOutcome.FromStatus(503));

        Assert.That(v1.IsInPanic, Is.False, "1 of 2 healthy is not below 50 %");
        Assert.That(PickSet(v1), Is.EquivalentTo(new[] { v1.Endpoints[1] }));
        Assert.That(PickSet(all), Is.EquivalentTo(all.Endpoints.Skip(1)));
    }

    private static OutlierDetectionOptions Detection(int threshold, TimeSpan baseEjection) => new()
    {
        Consecutive5xxErrors = 1,
        MaxEjectionPercent = 100,
        PanicThresholdPercent = threshold,
        Interval = TimeSpan.FromSeconds(1),
        BaseEjectionTime = baseEjection,
    };

    private static ExecutorHarness Build(int threshold, int? unhealthy = null, TimeSpan? baseEjection = null) =>
        new(ExecutorHarness.Options(4, s =>
        {
            s.OutlierDetection = Detection(threshold, baseEjection ?? TimeSpan.FromSeconds(30));
            if (unhealthy is { } index)
            {
                s.Endpoints[index].Health = EndpointHealth.Unhealthy;
            }
        }));

    /// <summary>Ejects the first <paramref name="count"/> endpoints through the cluster's detector (one 503 each).</summary>
    private static void Eject(ClusterModel cluster, int count)
    {
        for (var i = 0; i < count; i++)
        {
            cluster.Detector!.Report(cluster.Endpoints[i], AttemptOutcome.FromStatus(503));
            Assert.That(cluster.Endpoints[i].State.IsEjected, Is.True);
        }
    }

    /// <summary>The endpoints round robin visits in 40 picks.</summary>
    private static HashSet<EndpointModel> PickSet(ClusterModel cluster)
    {
        var picked = new HashSet<EndpointModel>();
        for (var i = 0; i < 40; i++)
        {
            picked.Add(cluster.Pick(default(PickContext)) ?? throw new AssertionException("no endpoint picked"));
        }

        return picked;
    }
}
