using Grpc.Core;
using Mesh.Xds.Server;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using static Mesh.Xds.Tests.Infrastructure.ServerTestResources;

namespace Mesh.Xds.Tests.Server;

/// <summary>The live list of connected clients, stream lifecycle and logs.</summary>
[CancelAfter(30_000)]
public sealed class XdsServerClientStatusTests
{
    [Test]
    public async Task Clients_ShowsWhoIsConnected_AndWhatTheyWereSentAndAccepted()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001), ("b", 8002)));
        await using var client = ServerTestClient.Sotw(host, "node-1", "shop");
        await client.SubscribeAsync(Rds, RouteName("b"), RouteName("a"));
        var response = await client.ReceiveAsync(Rds);
        await client.AckAsync(response, RouteName("b"), RouteName("a"));

        await ServerTestClient.UntilAsync(() => host.Cache.Clients.SingleOrDefault()?.GetTypeStatus(Rds)?.LastAckedVersion is not null, "the ACK is recorded");
        var status = host.Cache.Clients.Single();
        var rds = status.GetTypeStatus(Rds)!;
        Assert.Multiple(() =>
        {
            Assert.That(status.NodeId, Is.EqualTo("node-1"));
            Assert.That(status.Cluster, Is.EqualTo("shop"));
            Assert.That(status.UserAgent, Is.EqualTo("mesh-tests/1.0"));
            Assert.That(status.Protocol, Is.EqualTo(XdsStreamProtocol.StateOfTheWorld));
            Assert.That(status.SnapshotKey, Is.EqualTo("node-1"));
            Assert.That(status.Peer, Does.Contain("127.0.0.1"));
            Assert.That(status.ConnectedAt, Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(1)));
            Assert.That(status.Types.Select(t => t.TypeUrl), Is.EqualTo(new[] { Rds }));
            Assert.That(rds.SubscribedNames, Is.EqualTo(new[] { RouteName("a"), RouteName("b") }));
            Assert.That(rds.Wildcard, Is.False);
            Assert.That(rds.LastSentVersion, Is.EqualTo(response.VersionInfo));
            Assert.That(rds.LastSentNonce, Is.EqualTo(response.Nonce));
            Assert.That(rds.LastSentResourceCount, Is.EqualTo(2));
            Assert.That(rds.LastAckedVersion, Is.EqualTo(response.VersionInfo));
            Assert.That(rds.LastNack, Is.Null);
        });
    }

    [Test]
    public async Task DeltaStream_IsListedAsDelta()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Delta(host);
        await client.SubscribeAsync(Lds);
        await client.AckAsync(await client.ReceiveAsync(Lds));

        await ServerTestClient.UntilAsync(() => host.Cache.Clients.SingleOrDefault()?.GetTypeStatus(Lds)?.LastAckedVersion is not null, "the ACK is recorded");
        var status = host.Cache.Clients.Single();
        Assert.That(status.Protocol, Is.EqualTo(XdsStreamProtocol.Delta));
        Assert.That(status.GetTypeStatus(Lds)!.Wildcard, Is.True);
    }

    [Test]
    public async Task ClientDisconnect_RemovesTheClient_AndLogsOpenAndClose()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Lds);
        await client.ReceiveAsync(Lds);
        Assert.That(host.Cache.Clients, Has.Count.EqualTo(1));

        await client.DisposeAsync();

        await ServerTestClient.UntilAsync(() => host.Cache.Clients.Count == 0, "the client is removed from the status list");
        await ServerTestClient.UntilAsync(() => host.Logs.GetSnapshot().Any(r => r.Message.Contains("closed")), "the stream's end is logged");
        var logs = host.Logs.GetSnapshot();
        Assert.That(logs.Where(r => r.Level == LogLevel.Information).Select(r => r.Message), Has.Some.Contains("opened by node 'node-1'").And.Some.Contains("of node 'node-1' closed"));
    }

    [Test]
    public async Task ClientClosingItsRequests_EndsTheStream()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Lds);
        await client.ReceiveAsync(Lds);

        await client.CompleteRequestsAsync();

        Assert.That((await client.WaitForEndAsync()).StatusCode, Is.EqualTo(StatusCode.OK));
        await ServerTestClient.UntilAsync(() => host.Cache.Clients.Count == 0, "the client is removed from the status list");
    }

    [Test]
    public async Task ServerShutdown_EndsOpenStreamsAtOnce()
    {
        await using var host = await ServerTestHost.StartAsync();
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var client = ServerTestClient.Sotw(host);
        await client.SubscribeAsync(Lds);
        await client.ReceiveAsync(Lds);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var stopping = host.StopAsync();
        var status = await client.WaitForEndAsync();
        await stopping;

        // The stream ends with UNAVAILABLE; the client may instead see the connection close right after (the
        // HTTP/2 GOAWAY of a stopping Kestrel can overtake the trailers), which is also an error it reconnects on.
        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unavailable).Or.EqualTo(StatusCode.Internal), status.ToString());
        Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(4)), "the stream does not hold up shutdown until Kestrel's 5 s timeout aborts it");
        Assert.That(host.Logs.GetSnapshot().Select(r => r.Message), Has.Some.Contains("closed").And.Some.Contains("the server is stopping"));
        Assert.That(host.Cache.Clients, Is.Empty);
    }

    [Test]
    public async Task ControlPlaneIdentifier_IsSentWithResponses()
    {
        await using var host = await ServerTestHost.StartAsync(o => o.ControlPlaneIdentifier = "mesh-control-plane-0");
        host.Cache.SetSnapshot("node-1", Snapshot("v1", ("a", 8001)));
        await using var sotw = ServerTestClient.Sotw(host);
        await using var delta = ServerTestClient.Delta(host);

        await sotw.SubscribeAsync(Lds);
        await delta.SubscribeAsync(Lds);

        Assert.That((await sotw.ReceiveAsync(Lds)).ControlPlane?.Identifier, Is.EqualTo("mesh-control-plane-0"));
        Assert.That((await delta.ReceiveAsync(Lds)).ControlPlane?.Identifier, Is.EqualTo("mesh-control-plane-0"));
    }
}
