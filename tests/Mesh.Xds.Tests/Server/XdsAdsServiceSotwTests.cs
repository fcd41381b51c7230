using Mesh.Xds.Server;
using Mesh.Xds.Tests.Infrastructure;
using static Mesh.Xds.Tests.Infrastructure.ServerTestResources;

namespace Mesh.Xds.Tests.Server;

/// <summary>State-of-the-world ADS (<c>StreamAggregatedResources</c>) against a real server and client.</summary>
[CancelAfter(30_000)]
public sealed class XdsAdsServiceSotwTests
{
    [Test]
    public async Task InitialRequest_GetsCurrentResourcesWithVersionAndNonce()
    {
        await using var host = await ServerTestHost.StartAsync();
        var snapshot = Snapshot("v1", ("a", 8001), ("b", 8002));
        host.Cache.SetSnapshot("node-1", snapshot);
        await using var client = ServerTestClient.Sotw(host);

        await client.SubscribeAsync(Cds, ClusterName("a"));
        var response = await client.ReceiveAsync(Cds);

        Assert.Multiple(() =>
        {
            Assert.That(Names(response), Is.EqualTo(new[] { ClusterName("a") }));
            Assert.That(response.VersionInfo, Is.EqualTo(snapshot.GetResources(Cds).Version).And.Not.Empty);
            Assert.That(response.Nonce, Is.Not.Empty);
            Assert.That(response.Resources[0].TypeUrl, Is.EqualTo(Cds));
        });
    }

    [Test]
    public async Task Responses_HaveIncreasingNonces()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);

        await client.SubscribeAsync(Cds, ClusterName("a"));
        var first = await client.ReceiveAsync(Cds);
        await client.SubscribeAsync(Eds, ClusterName("a"));
        var second = await client.ReceiveAsync(Eds);

        Assert.That(long.Parse(second.Nonce), Is.GreaterThan(long.Parse(first.Nonce)));
    }

    [Test]
    public async Task Ack_IsNotAnsweredWithTheSameResourcesAgain()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Lds, ListenerName("a"));
        var response = await client.ReceiveAsync(Lds);

        await client.AckAsync(response, ListenerName("a"));

        await client.ExpectNothingPendingAsync();
        await ServerTestClient.UntilAsync(() => host.Cache.Clients.Single().GetTypeStatus(Lds)?.LastAckedVersion == response.VersionInfo, "the ACK is in the client status");
    }

    [Test]
    public async Task SnapshotChange_PushesOnlyTheTypesThatChanged()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        foreach (var (type, name) in new[] { (Lds, ListenerName("a")), (Rds, RouteName("a")), (Cds, ClusterName("a")), (Eds, ClusterName("a")) })
        {
            await client.SubscribeAsync(type, name);
            await client.AckAsync(await client.ReceiveAsync(type), name);
        }

        // Only the endpoints change.
        var v2 = Snapshot("v2", ("a", 9001));
        host.Cache.SetSnapshot("node-1", v2);
        var pushed = await client.ReceiveAsync(Eds);
        await client.AckAsync(pushed, ClusterName("a"));

        Assert.That(pushed.VersionInfo, Is.EqualTo(v2.GetResources(Eds).Version));
        Assert.That(pushed.Resources.Single().Unpack<Envoy.Config.Endpoint.V3.ClusterLoadAssignment>().Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress.PortValue, Is.EqualTo(9001));
        await client.ExpectNothingPendingAsync();
    }

    [Test]
    public async Task NameRequestedBeforeItExists_IsSentWhenItAppears()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Rds, RouteName("a"), RouteName("b"));
        var first = await client.ReceiveAsync(Rds);
        Assert.That(Names(first), Is.EqualTo(new[] { RouteName("a") }));
        await client.AckAsync(first, RouteName("a"), RouteName("b"));

        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 8002)));

        var pushed = await client.ReceiveAsync(Rds);
        Assert.That(Names(pushed), Is.EqualTo(new[] { RouteName("a"), RouteName("b") }));
    }

    [Test]
    public async Task Nack_IsRecordedWithItsMessage_AndTheSameVersionIsNotSentAgain()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Cds, ClusterName("a"));
        await client.AckAsync(await client.ReceiveAsync(Cds), ClusterName("a"));
        var v2 = Snapshot("v2", ("a", 8001), ("b", 8002));
        host.Cache.SetSnapshot("node-1", v2);
        await client.SubscribeAsync(Cds, ClusterName("a"), ClusterName("b"));
        var rejected = await client.ReceiveAsync(Cds);

        await client.NackAsync(rejected, "cluster 'b-cluster': lb_policy MAGLEV is not supported", ClusterName("a"), ClusterName("b"));

        await client.ExpectNothingPendingAsync();
        var status = host.Cache.Clients.Single().GetTypeStatus(Cds)!;
        Assert.Multiple(() =>
        {
            Assert.That(status.LastNack, Is.Not.Null);
            Assert.That(status.LastNack!.ErrorMessage, Is.EqualTo("cluster 'b-cluster': lb_policy MAGLEV is not supported"));
            Assert.That(status.LastNack.Version, Is.EqualTo(rejected.VersionInfo));
            Assert.That(status.LastNack.Nonce, Is.EqualTo(rejected.Nonce));
            Assert.That(status.IsRejected, Is.True);
            Assert.That(status.LastAckedVersion, Is.Not.EqualTo(rejected.VersionInfo));
            Assert.That(host.Logs.GetSnapshot().Any(r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning && r.Message.Contains("lb_policy MAGLEV is not supported")), Is.True, "the NACK is logged as a warning with the client's message");
        });

        // A later change of the type is sent.
        host.Cache.SetSnapshot("node-1", Snapshot("v3", ("a", 8001), ("c", 8003)));
        var fixedUp = await client.ReceiveAsync(Cds);
        Assert.That(Names(fixedUp), Is.EqualTo(new[] { ClusterName("a") }));
    }

    [Test]
    public async Task WildcardListenersAndClusters_GetEveryResource_AndTheFullStateOnChange()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Sotw(host);

        await client.SubscribeAsync(Lds);
        var listeners = await client.ReceiveAsync(Lds);
        await client.AckAsync(listeners);
        await client.SubscribeAsync(Cds, "*");
        var clusters = await client.ReceiveAsync(Cds);
        await client.AckAsync(clusters, "*");
        Assert.That(Names(listeners), Is.EqualTo(new[] { ListenerName("a"), ListenerName("b") }));
        Assert.That(Names(clusters), Is.EqualTo(new[] { ClusterName("a"), ClusterName("b") }));

        // Removing "b" and adding "c": the responses carry the whole new state.
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("c", 8003)));

        var pushedClusters = await client.ReceiveAsync(Cds);
        var pushedListeners = await client.ReceiveAsync(Lds);
        Assert.That(Names(pushedClusters), Is.EqualTo(new[] { ClusterName("a"), ClusterName("c") }));
        Assert.That(Names(pushedListeners), Is.EqualTo(new[] { ListenerName("a"), ListenerName("c") }));
    }

    [Test]
    public async Task FirstRequest_ForListenersThatDoNotExist_GetsAnEmptyResponse_ButRoutesGetNone()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1"));
        await using var client = ServerTestClient.Sotw(host);

        await client.SubscribeAsync(Rds, "missing-route");
        await client.SubscribeAsync(Lds, "missing-listener");

        // A listener response lists every listener asked for that exists: none, so the client knows at once.
        var listeners = await client.ReceiveAsync(Lds);
        Assert.That(listeners.Resources, Is.Empty);
        await client.AckAsync(listeners, "missing-listener");
        await client.ExpectNothingPendingAsync();
    }

    [Test]
    public async Task ListenerRemoved_NamedSubscription_GetsTheFullStateWithoutIt()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Lds, ListenerName("a"), ListenerName("b"));
        await client.AckAsync(await client.ReceiveAsync(Lds), ListenerName("a"), ListenerName("b"));

        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001)));

        var pushed = await client.ReceiveAsync(Lds);
        Assert.That(Names(pushed), Is.EqualTo(new[] { ListenerName("a") }), "a listener response without 'b' tells the client that 'b' was deleted");
    }

    [Test]
    public async Task Unsubscribe_StopsUpdatesOfThatName()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Eds, ClusterName("a"), ClusterName("b"));
        var first = await client.ReceiveAsync(Eds);
        Assert.That(Names(first), Is.EqualTo(new[] { ClusterName("a"), ClusterName("b") }));

        // The ACK drops "b" from the subscription.
        await client.AckAsync(first, ClusterName("a"));
        await host.WaitForSubscriptionAsync(Eds, [ClusterName("a")]);
        host.Cache.SetSnapshot("node-1", Snapshot("v2", ("a", 8001), ("b", 9002)));
        await client.ExpectNothingPendingAsync();

        host.Cache.SetSnapshot("node-1", Snapshot("v3", ("a", 9001), ("b", 9002)));
        var pushed = await client.ReceiveAsync(Eds);
        Assert.That(Names(pushed), Is.EqualTo(new[] { ClusterName("a") }));
    }

    [Test]
    public async Task SubscribingAgain_ToANameSentBefore_SendsItAgain()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Rds, RouteName("a"));
        await client.AckAsync(await client.ReceiveAsync(Rds), RouteName("a"));

        await client.SubscribeAsync(Rds, RouteName("a"), RouteName("b"));

        var response = await client.ReceiveAsync(Rds);
        Assert.That(Names(response), Is.EqualTo(new[] { RouteName("a"), RouteName("b") }));
    }

    [Test]
    public async Task ManyStreams_AllGetThePushedUpdate()
    {
        const int Streams = 50;
        await using var host = await ServerTestHost.StartAsync(o => o.NodeHash = XdsNodeHash.Constant("all"));
        host.Cache.SetSnapshot("all", Snapshot("v1", ("a", 8001)));
        var clients = Enumerable.Range(0, Streams).Select(i => ServerTestClient.Sotw(host, $"node-{i}")).ToArray();
        try
        {
            await Task.WhenAll(clients.Select(async c =>
            {
                await c.SubscribeAsync(Lds);
                await c.AckAsync(await c.ReceiveAsync(Lds));
            }));
            Assert.That(host.Cache.Clients, Has.Count.EqualTo(Streams));

            var v2 = Snapshot("v2", ("a", 8001), ("b", 8002));
            host.Cache.SetSnapshot("all", v2);

            var pushed = await Task.WhenAll(clients.Select(c => c.ReceiveAsync(Lds)));
            Assert.That(pushed.Select(p => p.VersionInfo), Is.All.EqualTo(v2.GetResources(Lds).Version));
            Assert.That(pushed.Select(p => p.Resources.Count), Is.All.EqualTo(2));
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        }
    }

    [Test]
    public async Task NodeWithoutSnapshot_Waits_AndGetsResourcesWhenOneIsSet()
    {
        await using var host = await ServerTestHost.StartAsync();
        await using var client = ServerTestClient.Sotw(host, "late-node");
        await client.SubscribeAsync(Lds, ListenerName("a"));
        await ServerTestClient.UntilAsync(() => host.Cache.Clients.Count == 1, "the stream is registered");

        var snapshot = Snapshot("v1", ("a", 8001));
        host.Cache.SetSnapshot("late-node", snapshot);

        var response = await client.ReceiveAsync(Lds);
        Assert.Multiple(() =>
        {
            Assert.That(response.Nonce, Is.EqualTo("1"), "nothing was sent before the snapshot was set");
            Assert.That(response.VersionInfo, Is.EqualTo(snapshot.GetResources(Lds).Version));
            Assert.That(Names(response), Is.EqualTo(new[] { ListenerName("a") }));
        });
    }

    [Test]
    public async Task SnapshotOfAnotherNode_IsNotPushed()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Lds);
        await client.AckAsync(await client.ReceiveAsync(Lds));

        host.Cache.SetSnapshot("node-2", Snapshot("v1", ("a", 9001), ("b", 9002)));

        await client.ExpectNothingPendingAsync();
    }

    [Test]
    public async Task RequestWithStaleNonce_IsIgnored()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Rds, RouteName("a"));
        var first = await client.ReceiveAsync(Rds);
        await client.SubscribeAsync(Rds, RouteName("a"), RouteName("b"));
        var second = await client.ReceiveAsync(Rds);

        // Answers the first response after the second was sent: superseded, so "b" stays subscribed.
        await client.SendAsync(new Envoy.Service.Discovery.V3.DiscoveryRequest { TypeUrl = Rds, ResponseNonce = first.Nonce, VersionInfo = first.VersionInfo, ResourceNames = { RouteName("a") } });
        await client.ExpectNothingPendingAsync();
        host.Cache.SetSnapshot("node-1", Builder("v2").AddService("a", 8001).AddService("b", 8002, routePrefix: "/b").Build());

        var pushed = await client.ReceiveAsync(Rds);
        Assert.That(Names(pushed), Is.EqualTo(new[] { RouteName("a"), RouteName("b") }));
        Assert.That(Names(second), Is.EqualTo(new[] { RouteName("a"), RouteName("b") }));
    }

    [Test]
    public async Task FirstRequestWithTheNonceOfAnEarlierStream_IsAnswered()
    {
        await using var host = await ServerTestHost.StartAsync();
        var snapshot = Snapshot("v1", ("a", 8001));
        host.Cache.SetSnapshot("node-1", snapshot);
        await using var client = ServerTestClient.Sotw(host);

        // A reconnecting client may still send what it last accepted on its previous stream.
        await client.SendAsync(new Envoy.Service.Discovery.V3.DiscoveryRequest { Node = client.Node, TypeUrl = Cds, VersionInfo = "old", ResponseNonce = "17", ResourceNames = { ClusterName("a") } });

        var response = await client.ReceiveAsync(Cds);
        Assert.That(Names(response), Is.EqualTo(new[] { ClusterName("a") }));
    }

    [Test]
    public async Task RequestWithoutTypeUrl_EndsTheStreamWithInvalidArgument()
    {
        await using var host = await ServerTestHost.StartAsync();
        await using var client = ServerTestClient.Sotw(host);

        await client.SubscribeAsync("", "x");

        var status = await client.WaitForEndAsync();
        Assert.That(status.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.InvalidArgument));
        Assert.That(status.Detail, Does.Contain("type_url"));
    }
}
