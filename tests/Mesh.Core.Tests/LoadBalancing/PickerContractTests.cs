using System.Collections.Immutable;
using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Core.Tests.LoadBalancing;

/// <summary>What every built-in policy promises: null without endpoints, and picks that allocate nothing.</summary>
public class PickerContractTests
{
    private const int Picks = 10_000;

    private static IEnumerable<TestCaseData> AllPolicies() =>
        TestMesh.Policies().Select(p => new TestCaseData(p).SetArgDisplayNames(p.Name));

    [TestCaseSource(nameof(AllPolicies))]
    public void Pick_NoEndpoints_ReturnsNull(LoadBalancingPolicy policy)
    {
        // Arrange
        var picker = TestEndpoints.Picker(policy, ImmutableArray<EndpointModel>.Empty, new Random(42));

        // Act
        var withoutHash = picker.Pick(default);
        var withHash = picker.Pick(new PickContext(12345UL));

        // Assert
        Assert.That(withoutHash, Is.Null);
        Assert.That(withHash, Is.Null);
    }

    [TestCaseSource(nameof(AllPolicies))]
    public void Pick_SingleEndpoint_AlwaysThatEndpoint(LoadBalancingPolicy policy)
    {
        // Arrange
        var endpoints = TestEndpoints.WithWeights(3);
        var picker = TestEndpoints.Picker(policy, endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 100, new PickContext(policy.RequiresRequestHash ? 99UL : null));

        // Assert
        Assert.That(counts, Is.EqualTo(new[] { 100 }));
    }

    [TestCaseSource(nameof(AllPolicies))]
    public void ClusterPick_AllEndpointsUnusable_ReturnsNull(LoadBalancingPolicy policy)
    {
        // Arrange: unhealthy and draining endpoints are left out of the picker.
        var options = TestMesh.Service(count: 2, configure: s =>
        {
            s.Endpoints[0].Health = EndpointHealth.Unhealthy;
            s.Endpoints[1].Health = EndpointHealth.Draining;
            s.LoadBalancer = new LoadBalancerOptions
            {
                Policy = policy.Name,
                ConsistentHash = policy.RequiresRequestHash ? new ConsistentHashOptions { HttpHeaderName = "x-user" } : null,
            };
        });
        var cluster = TestMesh.BuildValid(options).Clusters["backend"];
        var request = TestRequest.Get("/", headers: new() { ["x-user"] = "alice" });

        // Act
        var picked = cluster.Pick(ref request);

        // Assert
        Assert.That(picked, Is.Null);
        Assert.That(cluster.UsableCount, Is.Zero);
        Assert.That(cluster.DescribeUnavailability(), Is.EqualTo("cluster 'backend' has 2 endpoint(s), none usable (1 unhealthy, 1 draining)"));
    }

    [TestCaseSource(nameof(AllPolicies))]
    public void ClusterPick_SomeEndpointsUnusable_PicksOnlyUsable(LoadBalancingPolicy policy)
    {
        // Arrange: endpoints of unknown health take traffic, unhealthy ones do not.
        var options = TestMesh.Service(count: 3, configure: s =>
        {
            s.Endpoints[0].Health = EndpointHealth.Unknown;
            s.Endpoints[1].Health = EndpointHealth.Unhealthy;
            s.LoadBalancer = new LoadBalancerOptions
            {
                Policy = policy.Name,
                ConsistentHash = policy.RequiresRequestHash ? new ConsistentHashOptions { HttpQueryParameterName = "user" } : null,
            };
        });
        var cluster = TestMesh.BuildValid(options).Clusters["backend"];

        // Act
        var picked = new HashSet<string>();
        for (var i = 0; i < 500; i++)
        {
            var request = TestRequest.Get("/", query: $"?user=u{i}");
            picked.Add(cluster.Pick(ref request)!.Key);
        }

        // Assert
        Assert.That(picked, Is.EquivalentTo(new[] { "http://127.0.0.1:5001", "http://127.0.0.1:5003" }));
    }

    [TestCaseSource(nameof(AllPolicies))]
    public void Pick_AfterWarmUp_AllocatesNothing(LoadBalancingPolicy policy)
    {
        // Arrange: unequal weights so the weighted code paths run; a seeded Random is allocation-free.
        var endpoints = TestEndpoints.WithWeights(1, 2, 3, 4, 5, 6, 7, 8);
        var picker = TestEndpoints.Picker(policy, endpoints, new Random(42));
        endpoints[2].State.OnRequestStarted();
        RunPicks(picker, 1_000);

        // Act: the least of three runs, so a tier-up of the JIT on this thread during one run is not counted as the picks'.
        var allocated = long.MaxValue;
        for (var run = 0; run < 3 && allocated != 0; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            RunPicks(picker, Picks);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // Assert
        Assert.That(allocated, Is.Zero);
    }

    [TestCaseSource(nameof(AllPolicies))]
    public void ClusterPick_RequestAfterWarmUp_AllocatesNothing(LoadBalancingPolicy policy)
    {
        // Arrange: through the cluster, including the request hash (header) for the hashing policies.
        var options = TestMesh.Service(count: 6, configure: s => s.LoadBalancer = new LoadBalancerOptions
        {
            Policy = policy.Name,
            ConsistentHash = policy.RequiresRequestHash ? new ConsistentHashOptions { HttpHeaderName = "x-user" } : null,
        });
        var cluster = TestMesh.BuildValid(options).Clusters["backend"];
        var request = TestRequest.Get("/", headers: new() { ["x-user"] = "alice" });
        RunClusterPicks(cluster, ref request, 1_000);

        // Act: the least of three runs, so a tier-up of the JIT on this thread during one run is not counted as the picks'.
        var allocated = long.MaxValue;
        for (var run = 0; run < 3 && allocated != 0; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            RunClusterPicks(cluster, ref request, Picks);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // Assert
        Assert.That(allocated, Is.Zero);
    }

    private static void RunPicks(EndpointPicker picker, int count)
    {
        for (var i = 0; i < count; i++)
        {
            // Alternate hashed and hashless picks; non-hashing policies ignore the hash.
            var context = new PickContext((i & 1) == 0 ? (ulong)i * 0x9E3779B97F4A7C15UL : null);
            if (picker.Pick(in context) is null)
            {
                Assert.Fail("a picker over endpoints returned null");
            }
        }
    }

    private static void RunClusterPicks(ClusterModel cluster, ref TestRequest request, int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (cluster.Pick(ref request) is null)
            {
                Assert.Fail("a cluster with endpoints returned null");
            }
        }
    }
}
