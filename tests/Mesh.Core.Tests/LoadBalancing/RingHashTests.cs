using System.Collections.Immutable;
using System.Globalization;
using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Routing;

namespace Mesh.Core.Tests.LoadBalancing;

public class RingHashTests
{
    private const int KeyCount = 100_000;

    [Test]
    public void Pick_SameHash_SameEndpointAcrossPicksAndPickers()
    {
        // Arrange: two pickers over the same endpoints built with different random sources.
        var endpoints = TestEndpoints.Many(10);
        var first = CreatePicker(endpoints, new Random(1));
        var second = CreatePicker(endpoints, new Random(2));

        // Act
        var mismatches = 0;
        for (var i = 0; i < 1_000; i++)
        {
            var context = new PickContext(KeyHash(i));
            var a = first.Pick(in context);
            var b = first.Pick(in context);
            var c = second.Pick(in context);
            mismatches += ReferenceEquals(a, b) && ReferenceEquals(a, c) ? 0 : 1;
        }

        // Assert
        Assert.That(mismatches, Is.Zero);
    }

    [Test]
    public void Pick_HashOfAnEntryKey_LandsOnThatEntrysEndpoint()
    {
        // Arrange: ring entries are XXH64 of "host:port_i" (Envoy's ring_hash keys); 5 endpoints on a 1,025-entry
        // ring have 205 entries each, and a request hashing exactly to an entry goes to that entry's endpoint.
        var endpoints = TestEndpoints.Many(5);
        var picker = CreatePicker(endpoints, new Random(42));

        // Act
        var wrong = 0;
        foreach (var endpoint in endpoints)
        {
            for (var i = 0; i < 205; i++)
            {
                var context = new PickContext(RequestHashPolicy.Hash($"{endpoint.Host}:{endpoint.Port}_{i}"));
                wrong += ReferenceEquals(picker.Pick(in context), endpoint) ? 0 : 1;
            }
        }

        // Assert
        Assert.That(wrong, Is.Zero);
    }

    [TestCase(2)]
    [TestCase(5)]
    [TestCase(8)]
    public void Pick_HashAfterTheLastEntry_WrapsToTheFirstEntry(int endpointCount)
    {
        // Arrange: the ring is a circle, so a hash above every entry belongs to the entry with the lowest hash.
        // Each endpoint has 1024 / N entries rounded up (A42 sizing with equal weights).
        var endpoints = TestEndpoints.Many(endpointCount);
        var picker = CreatePicker(endpoints, new Random(42));
        var perEndpoint = (int)Math.Ceiling(1024.0 / endpointCount);
        var entries = endpoints.SelectMany(e => Enumerable.Range(0, perEndpoint).Select(i => (Hash: RequestHashPolicy.Hash($"{e.Host}:{e.Port}_{i}"), Endpoint: e))).ToArray();
        var lowest = entries.MinBy(x => x.Hash);
        var highest = entries.MaxBy(x => x.Hash);

        // Act
        var afterLast = picker.Pick(new PickContext(highest.Hash + 1));

        // Assert
        Assert.That(afterLast, Is.SameAs(lowest.Endpoint));
        Assert.That(picker.Pick(new PickContext(highest.Hash)), Is.SameAs(highest.Endpoint));
    }

    [Test]
    public void Pick_ManyKeysEqualWeights_EveryEndpointGetsAReasonableShare()
    {
        // Arrange: 10 endpoints on a 1,030-entry ring (103 each); the share of each is the sum of its arcs.
        var endpoints = TestEndpoints.Many(10);
        var picker = CreatePicker(endpoints, new Random(42));

        // Act
        var shares = Shares(MapKeys(picker, endpoints));

        // Assert: with 103 entries per endpoint an arc sum is within about ±30 % of the mean (Envoy's own bound
        // is similar at the default ring size); a broken hash or ring would put many keys on one endpoint.
        TestContext.Out.WriteLine(string.Join(", ", shares.Select(s => s.ToString("F4", CultureInfo.InvariantCulture))));
        Assert.That(shares, Has.All.InRange(0.07, 0.13));
    }

    [Test]
    public void Pick_LargerMinimumRing_EvenerShares()
    {
        // Arrange: 16,384 entries, 1,639 per endpoint, make each arc sum within a few percent of 1/N.
        var endpoints = TestEndpoints.Many(10);
        var picker = new RingHashPolicy().CreatePicker(TestEndpoints.Context(endpoints, new Random(42), minimumRingSize: 16_384));

        // Act
        var shares = Shares(MapKeys(picker, endpoints));

        // Assert
        Assert.That(shares, Has.All.InRange(0.09, 0.11));
    }

    [Test]
    public void Pick_UnequalWeights_SharesFollowWeights()
    {
        // Arrange
        var endpoints = TestEndpoints.WithWeights(1, 3, 6);
        var picker = CreatePicker(endpoints, new Random(42));

        // Act
        var shares = Shares(MapKeys(picker, endpoints));

        // Assert
        Assert.That(shares[0], Is.EqualTo(0.1).Within(0.03));
        Assert.That(shares[1], Is.EqualTo(0.3).Within(0.05));
        Assert.That(shares[2], Is.EqualTo(0.6).Within(0.05));
    }

    [Test]
    public void Pick_RemoveOneOfTen_OnlyRemovedKeysAndAFewOthersMove()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(10);
        var before = MapKeys(CreatePicker(endpoints, new Random(42)), endpoints);
        var survivors = endpoints.RemoveAt(4);

        // Act
        var after = MapKeys(CreatePicker(survivors, new Random(42)), endpoints);

        // Assert: every key of the removed endpoint moves. A survivor's key moves only when a new ring entry lands
        // just before it: A42 sizing gives each of 9 endpoints 114 entries instead of 103, so 99 of the 1,026
        // entries (9.6 % of the ring) are new, and fewer keys than that, so fewer than 1/N = 10 %, change hands
        // (7.7 % here).
        var (movedOfRemoved, removedKeys, movedOfSurvivors, survivorKeys) = Moves(before, after, removed: 4);
        TestContext.Out.WriteLine($"moved among survivors: {(double)movedOfSurvivors / survivorKeys:P2}");
        Assert.That(movedOfRemoved, Is.EqualTo(removedKeys));
        Assert.That(removedKeys, Is.GreaterThan(0));
        Assert.That((double)movedOfSurvivors / survivorKeys, Is.LessThanOrEqualTo(1.0 / 10));
    }

    [Test]
    public void Pick_AddOneToTen_AboutOneEleventhMovesToTheNewEndpoint()
    {
        // Arrange
        var all = TestEndpoints.Many(11);
        var ten = all.RemoveAt(10);
        var before = MapKeys(CreatePicker(ten, new Random(42)), all);

        // Act
        var after = MapKeys(CreatePicker(all, new Random(42)), all);

        // Assert: the new endpoint takes about 1/(N+1) of the keys. A42 sizing also shrinks each old endpoint from
        // 103 to 94 entries, so 90 of the 1,030 old entries (8.7 % of the ring) vanish, and only keys whose next
        // entry vanished can change hands among the old endpoints: fewer than 1/(N+1) = 9.1 % (6.6 % here).
        var toNew = 0;
        var amongOld = 0;
        for (var k = 0; k < KeyCount; k++)
        {
            toNew += after[k] == 10 ? 1 : 0;
            amongOld += after[k] != 10 && after[k] != before[k] ? 1 : 0;
        }

        TestContext.Out.WriteLine($"to new: {(double)toNew / KeyCount:P2}, among old: {(double)amongOld / KeyCount:P2}");
        Assert.That((double)toNew / KeyCount, Is.EqualTo(1.0 / 11).Within(0.03));
        Assert.That((double)amongOld / KeyCount, Is.LessThanOrEqualTo(1.0 / 11));
    }

    [TestCase(new[] { 1, 1, 1, 1 }, 1024, 8 * 1024 * 1024, 1024)]
    [TestCase(new[] { 1, 3 }, 1024, 8 * 1024 * 1024, 1024)]
    [TestCase(new[] { 1, 1, 1, 1 }, 10, 100, 12)]
    [TestCase(new[] { 1, 2047 }, 1024, 8 * 1024 * 1024, 2048)]
    [TestCase(new[] { 1, 8191 }, 1024, 4096, 4096)]
    [TestCase(new[] { 1, 1, 1 }, 1024, 8 * 1024 * 1024, 1026)]
    [TestCase(new[] { 5 }, 1024, 8 * 1024 * 1024, 1024)]
    [TestCase(new[] { 1, 1, 1, 1, 1, 1, 1, 1 }, 4096, 2048, 2048)]
    public void CreatePicker_RingSizing_FollowsGrfcA42(int[] weights, int minimumRingSize, int maximumRingSize, int expectedRingSize)
    {
        // Arrange: scale = min(ceil(min_w × min_ring) / min_w, max_ring) with normalized weights, so the
        // lightest endpoint gets at least one entry; the ring has ceil(scale) entries (each endpoint at least one).
        var endpoints = TestEndpoints.WithWeights(weights);
        var context = TestEndpoints.Context(endpoints, new Random(42), minimumRingSize, maximumRingSize);

        // Act
        var picker = (RingHashPolicy.Picker)new RingHashPolicy().CreatePicker(context);

        // Assert
        Assert.That(picker.RingSize, Is.EqualTo(expectedRingSize));
    }

    [Test]
    public void Pick_NoRequestHash_PicksAtRandom()
    {
        // Arrange
        var endpoints = TestEndpoints.Many(5);
        var picker = CreatePicker(endpoints, new Random(42));

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 20_000, new PickContext(null));

        // Assert: spread over every endpoint in about its ring share.
        Assert.That(counts, Has.All.InRange(2_800, 5_200));
    }

    [Test]
    public void Pick_NoRequestHash_DrawsFromTheContextRandom()
    {
        // Arrange: a source that always draws the same value puts every hashless request at the same point.
        var endpoints = TestEndpoints.Many(5);
        var picker = CreatePicker(endpoints, new ZeroRandom());

        // Act
        var counts = TestEndpoints.CountPicks(picker, endpoints, 100, new PickContext(null));

        // Assert
        Assert.That(counts.Count(c => c == 100), Is.EqualTo(1));
    }

    [Test]
    public void ClusterPick_HeaderHash_SameHeaderValueSameEndpointAndMissingHeaderRandom()
    {
        // Arrange: RingHash on the x-user header, through the snapshot builder.
        var options = TestMesh.Service(count: 8, configure: s => s.LoadBalancer = new LoadBalancerOptions
        {
            Policy = LoadBalancingDefaults.RingHash,
            ConsistentHash = new ConsistentHashOptions { HttpHeaderName = "x-user" },
        });
        var cluster = TestMesh.BuildValid(options).Clusters["backend"];

        // Act
        var sameUser = new HashSet<EndpointModel>();
        var distinctUsers = new HashSet<EndpointModel>();
        var noHeader = new HashSet<EndpointModel>();
        for (var i = 0; i < 200; i++)
        {
            var alice = TestRequest.Get("/", headers: new() { ["X-User"] = "alice" });
            sameUser.Add(cluster.Pick(ref alice)!);
            var other = TestRequest.Get("/", headers: new() { ["x-user"] = $"user-{i}" });
            distinctUsers.Add(cluster.Pick(ref other)!);
            var anonymous = TestRequest.Get("/");
            noHeader.Add(cluster.Pick(ref anonymous)!);
        }

        // Assert
        Assert.That(sameUser, Has.Count.EqualTo(1));
        Assert.That(distinctUsers, Has.Count.EqualTo(8));
        Assert.That(noHeader, Has.Count.EqualTo(8));
    }

    [Test]
    public void ClusterPick_HeaderHash_IsXxHash64OfTheValue()
    {
        // Arrange: the request hash is XXH64 (seed 0) of the UTF-8 value, as gRPC and Envoy compute it, so a
        // request and an explicit PickContext with that hash reach the same endpoint.
        var options = TestMesh.Service(count: 8, configure: s => s.LoadBalancer = new LoadBalancerOptions
        {
            Policy = LoadBalancingDefaults.RingHash,
            ConsistentHash = new ConsistentHashOptions { HttpCookieName = "session" },
        });
        var cluster = TestMesh.BuildValid(options).Clusters["backend"];
        var request = TestRequest.Get("/", cookies: "theme=dark; session=abc123");

        // Act
        var picked = cluster.Pick(ref request);

        // Assert
        var context = new PickContext(System.IO.Hashing.XxHash64.HashToUInt64("abc123"u8));
        Assert.That(picked, Is.SameAs(cluster.Picker.Pick(in context)));
        Assert.That(RequestHashPolicy.Hash("abc123"), Is.EqualTo(context.RequestHash));
    }

    internal static ulong KeyHash(int key) => RequestHashPolicy.Hash(string.Create(CultureInfo.InvariantCulture, $"key-{key}"));

    private static EndpointPicker CreatePicker(ImmutableArray<EndpointModel> endpoints, Random random) =>
        new RingHashPolicy().CreatePicker(TestEndpoints.Context(endpoints, random));

    /// <summary>The index (in <paramref name="indexSpace"/>) of the endpoint each key maps to.</summary>
    private static int[] MapKeys(EndpointPicker picker, ImmutableArray<EndpointModel> indexSpace)
    {
        var map = new int[KeyCount];
        for (var k = 0; k < KeyCount; k++)
        {
            var context = new PickContext(KeyHash(k));
            map[k] = indexSpace.IndexOf(picker.Pick(in context)!);
        }

        return map;
    }

    private static double[] Shares(int[] map)
    {
        var shares = new double[map.Max() + 1];
        foreach (var e in map)
        {
            shares[e] += 1.0 / map.Length;
        }

        return shares;
    }

    internal static (int MovedOfRemoved, int RemovedKeys, int MovedOfSurvivors, int SurvivorKeys) Moves(int[] before, int[] after, int removed)
    {
        int movedOfRemoved = 0, removedKeys = 0, movedOfSurvivors = 0, survivorKeys = 0;
        for (var k = 0; k < before.Length; k++)
        {
            if (before[k] == removed)
            {
                removedKeys++;
                movedOfRemoved += after[k] != removed ? 1 : 0;
            }
            else
            {
                survivorKeys++;
                movedOfSurvivors += after[k] != before[k] ? 1 : 0;
            }
        }

        return (movedOfRemoved, removedKeys, movedOfSurvivors, survivorKeys);
    }
}
