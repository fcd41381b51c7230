using Mesh.Xds.Tests.Infrastructure;
using static Mesh.Xds.Tests.Infrastructure.ServerTestResources;

namespace Mesh.Xds.Tests.Server;

/// <summary>Incremental ADS (<c>DeltaAggregatedResources</c>) against a real server and client.</summary>
[CancelAfter(30_000)]
public sealed class XdsAdsServiceDeltaTests
{
    [Test]
    public async Task InitialSubscribe_GetsTheResourcesWithTheirVersions()
    {
        await using var host = await ServerTestHost.StartAsync();
        var snapshot = Snapshot("v1", ("a", 8001), ("b", 8002), ("c", 8003));
        host.Cache.SetSnapshot("node-1", snapshot);
        await using var client = ServerTestClient.Delta(host);

        await client.SubscribeAsync(Cds, [ClusterName("a"), ClusterName("b")]);
        var response = await client.ReceiveAsync(Cds);

        Assert.Multiple(() =>
        {
            Assert.That(response.Resources.Select(r => r.Name), Is.EqualTo(new[] { ClusterName("a"), ClusterName("b") }));
            Assert.That(response.Resources.Select(r => r.Version), Is.EqualTo(new[] { snapshot.GetResources(Cds).Resources[ClusterName("a")].Version, snapshot.GetResources(Cds).Resources[ClusterName("b")].Version }));
            Assert.That(response.Resources.Select(r => r.Resource_.TypeUrl), Is.All.EqualTo(Cds));
            Assert.That(response.SystemVersionInfo, Is.EqualTo(snapshot.GetResources(Cds).Version));
            Assert.That(response.Nonce, Is.Not.Empty);
            Assert.That(response.RemovedResources, Is.Empty);
        });
    }

    [Test]
    public async Task Change_SendsOnlyTheChangedResource()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Delta(host);
        await client.SubscribeAsync(Eds, [ClusterName("a"), ClusterName("b")]);
        await client.AckAsync(await client.ReceiveAsync(Eds));

        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 9002)));

        var pushed = await client.ReceiveAsync(Eds);
        Assert.That(pushed.Resources.Select(r => r.Name), Is.EqualTo(new[] { ClusterName("b") }));
        Assert.That(pushed.RemovedResources, Is.Empty);
        await client.AckAsync(pushed);
        await client.ExpectNothingPendingAsync();
    }

    [Test]
    public async Task Removal_SendsRemovedResources()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Delta(host);
        await client.SubscribeAsync(Lds);
        await client.AckAsync(await client.ReceiveAsync(Lds));

        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001)));

        var pushed = await client.ReceiveAsync(Lds);
        Assert.That(pushed.Resources, Is.Empty);
        Assert.That(pushed.RemovedResources, Is.EqualTo(new[] { ListenerName("b") }));
    }

    [Test]
    public async Task InitialResourceVersions_OnReconnect_AvoidResendingUnchangedResources()
    {
        await using var host = await ServerTestHost.StartAsync();
        var v1 = Snapshot("v1", ("a", 8001), ("b", 8002), ("c", 8003));
        host.Cache.SetSnapshot("node-1", v1);
        Dictionary<string, string> held;
        await using (var first = ServerTestClient.Delta(host))
        {
            await first.SubscribeAsync(Eds, [ClusterName("a"), ClusterName("b"), ClusterName("c")]);
            var response = await first.ReceiveAsync(Eds);
            await first.AckAsync(response);
            held = response.Resources.ToDictionary(r => r.Name, r => r.Version);
        }

        // While the client is away: "b" changes and "c" is deleted.
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 9002)));
        await using var second = ServerTestClient.Delta(host);
        await second.SubscribeAsync(Eds, [ClusterName("a"), ClusterName("b"), ClusterName("c")], initialVersions: held);

        var reconnected = await second.ReceiveAsync(Eds);
        Assert.That(reconnected.Resources.Select(r => r.Name), Is.EqualTo(new[] { ClusterName("b") }), "'a' is unchanged, so it is not sent again");
        Assert.That(reconnected.RemovedResources, Is.EqualTo(new[] { ClusterName("c") }));
    }

    [Test]
    public async Task LegacyWildcard_GetsEveryResource_AndLaterAdditions()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Delta(host);

        await client.SubscribeAsync(Cds);
        var first = await client.ReceiveAsync(Cds);
        await client.AckAsync(first);
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 8002)));
        var pushed = await client.ReceiveAsync(Cds);

        Assert.That(first.Resources.Select(r => r.Name), Is.EqualTo(new[] { ClusterName("a") }));
        Assert.That(pushed.Resources.Select(r => r.Name), Is.EqualTo(new[] { ClusterName("b") }));
    }

    [Test]
    public async Task ExplicitWildcard_GetsEveryResource_AndUnsubscribingItStopsUpdates()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Delta(host);

        await client.SubscribeAsync(Lds, ["*", ListenerName("a")]);
        var first = await client.ReceiveAsync(Lds);
        await client.AckAsync(first);
        Assert.That(first.Resources.Select(r => r.Name), Is.EqualTo(new[] { ListenerName("a"), ListenerName("b") }));

        await client.SubscribeAsync(Lds, unsubscribe: ["*"]);
        await host.WaitForSubscriptionAsync(Lds, [ListenerName("a")]);
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 8002), ("c", 8003)));
        await client.ExpectNothingPendingAsync();
    }

    [Test]
    public async Task UnsubscribingANameTheWildcardCovers_SendsItAgain()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Delta(host);
        await client.SubscribeAsync(Cds, ["*", ClusterName("a")]);
        await client.AckAsync(await client.ReceiveAsync(Cds));

        await client.SubscribeAsync(Cds, unsubscribe: [ClusterName("a")]);

        // The client cannot tell whether "a" is still wanted through the wildcard: the server says so by sending it.
        var response = await client.ReceiveAsync(Cds);
        Assert.That(response.Resources.Select(r => r.Name), Is.EqualTo(new[] { ClusterName("a") }));
    }

    [Test]
    public async Task EmptyWildcardSnapshot_GetsAnEmptyFirstResponse()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1"));
        await using var client = ServerTestClient.Delta(host);

        await client.SubscribeAsync(Lds);

        var response = await client.ReceiveAsync(Lds);
        Assert.That(response.Resources, Is.Empty);
        Assert.That(response.RemovedResources, Is.Empty);
    }

    [Test]
    public async Task SubscribingToAMissingName_ReportsItRemoved_AndSendsItWhenItAppears()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Delta(host);

        await client.SubscribeAsync(Rds, [RouteName("b")]);
        var absent = await client.ReceiveAsync(Rds);
        await client.AckAsync(absent);
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 8002)));
        var appeared = await client.ReceiveAsync(Rds);

        Assert.That(absent.Resources, Is.Empty);
        Assert.That(absent.RemovedResources, Is.EqualTo(new[] { RouteName("b") }));
        Assert.That(appeared.Resources.Select(r => r.Name), Is.EqualTo(new[] { RouteName("b") }));
    }

    [Test]
    public async Task Unsubscribe_StopsUpdatesOfThatName()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Delta(host);
        await client.SubscribeAsync(Eds, [ClusterName("a"), ClusterName("b")]);
        await client.AckAsync(await client.ReceiveAsync(Eds));

        await client.SubscribeAsync(Eds, unsubscribe: [ClusterName("b")]);
        await host.WaitForSubscriptionAsync(Eds, [ClusterName("a")]);
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 9002)));

        await client.ExpectNothingPendingAsync();
    }

    [Test]
    public async Task Nack_IsRecorded_AndTheSameVersionIsNotSentAgain()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Delta(host);
        await client.SubscribeAsync(Cds, [ClusterName("a")]);
        var rejected = await client.ReceiveAsync(Cds);

        await client.NackAsync(rejected, "cluster 'a-cluster' is invalid");
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 8002)));

        await client.ExpectNothingPendingAsync();
        var status = host.Cache.Clients.Single().GetTypeStatus(Cds)!;
        Assert.That(status.LastNack?.ErrorMessage, Is.EqualTo("cluster 'a-cluster' is invalid"));
        Assert.That(status.LastNack?.Version, Is.EqualTo(rejected.SystemVersionInfo));
    }
}
