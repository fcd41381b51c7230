using Envoy.Config.Core.V3;
using Mesh.Xds.Server;
using Mesh.Xds.Tests.Infrastructure;
using static Mesh.Xds.Tests.Infrastructure.ServerTestResources;

namespace Mesh.Xds.Tests.Server;

[CancelAfter(30_000)]
public sealed class XdsSnapshotCacheTests
{
    [Test]
    public void SetSnapshot_Inconsistent_ThrowsWithEveryProblem_AndKeepsThePrevious()
    {
        var cache = new XdsSnapshotCache();
        var good = Snapshot("v1", ("a", 8001));
        cache.SetSnapshot("node-1", good);
        var bad = XdsResourceSnapshot.Create("v2", listeners: [Listener("l", "no-such-route")], clusters: [Cluster("no-endpoints")]);

        var e = Assert.Throws<XdsSnapshotException>(() => cache.SetSnapshot("node-1", bad));

        Assert.Multiple(() =>
        {
            Assert.That(e!.Problems, Has.Count.EqualTo(2));
            Assert.That(e.Key, Is.EqualTo("node-1"));
            Assert.That(e.SnapshotVersion, Is.EqualTo("v2"));
            Assert.That(e.Message, Does.Contain("'no-such-route'").And.Contain("'no-endpoints'").And.Contain("snapshot 'v1' stays in force"));
            Assert.That(cache.GetSnapshot("node-1"), Is.SameAs(good));
        });
    }

    [Test]
    public void TrySetSnapshot_Inconsistent_ReturnsTheProblems()
    {
        var cache = new XdsSnapshotCache();

        var published = cache.TrySetSnapshot("node-1", XdsResourceSnapshot.Create("v1", clusters: [Cluster("c")]), out var problems);

        Assert.That(published, Is.False);
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(cache.GetSnapshot("node-1"), Is.Null);
        Assert.That(cache.Keys, Is.Empty);
    }

    [Test]
    public void ClearSnapshot_RemovesIt()
    {
        var cache = new XdsSnapshotCache();
        cache.SetSnapshot("node-1", Snapshot("v1"));

        Assert.That(cache.ClearSnapshot("node-1"), Is.True);
        Assert.That(cache.GetSnapshot("node-1"), Is.Null);
        Assert.That(cache.ClearSnapshot("node-1"), Is.False);
    }

    [Test]
    public void GetSnapshotKey_UsesTheNodeHash()
    {
        Assert.That(new XdsSnapshotCache().GetSnapshotKey(new Node { Id = "n", Cluster = "c" }), Is.EqualTo("n"));
        Assert.That(new XdsSnapshotCache(new XdsServerOptions { NodeHash = XdsNodeHash.NodeCluster }).GetSnapshotKey(new Node { Id = "n", Cluster = "c" }), Is.EqualTo("c"));
        Assert.That(new XdsSnapshotCache(new XdsServerOptions { NodeHash = XdsNodeHash.Constant("all") }).GetSnapshotKey(new Node { Id = "n" }), Is.EqualTo("all"));
    }

    [Test]
    public async Task InconsistentSnapshot_IsNotPushedToStreams()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Lds);
        await client.AckAsync(await client.ReceiveAsync(Lds));

        var bad = Builder("v2").AddService("a", 8001).Add(Listener(ListenerName("b"), "no-such-route")).Build();
        Assert.Throws<XdsSnapshotException>(() => host.Cache.SetSnapshot("node-1", bad));

        await client.ExpectNothingPendingAsync();
        Assert.That(host.Logs.GetSnapshot().Any(r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning && r.Message.Contains("no-such-route")), Is.True, "the rejection is logged with its problems");
    }

    [Test]
    public async Task ConstantNodeHash_ServesOneSnapshotToEveryNode()
    {
        await using var host = await ServerTestHost.StartAsync(o => o.NodeHash = XdsNodeHash.Constant("mesh"));
        var snapshot = Snapshot("v1", ("a", 8001));
        host.Cache.SetSnapshot("mesh", snapshot);
        await using var first = ServerTestClient.Sotw(host, "node-1");
        await using var second = ServerTestClient.Sotw(host, "node-2");

        await first.SubscribeAsync(Cds);
        await second.SubscribeAsync(Cds);

        Assert.That((await first.ReceiveAsync(Cds)).VersionInfo, Is.EqualTo(snapshot.GetResources(Cds).Version));
        Assert.That((await second.ReceiveAsync(Cds)).VersionInfo, Is.EqualTo(snapshot.GetResources(Cds).Version));
        Assert.That(host.Cache.Clients.Select(c => c.SnapshotKey), Is.All.EqualTo("mesh"));
    }
}
