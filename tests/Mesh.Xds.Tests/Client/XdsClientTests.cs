using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Service.Discovery.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Client;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Xds.Tests.Client;

public class XdsClientTests
{
    private const string Cds = TestClusterType.Url;
    private const string Eds = TestEndpointsType.Url;

    private FakeAdsServer _server = null!;

    [SetUp]
    public async Task SetUp() => _server = await FakeAdsServer.StartAsync();

    [TearDown]
    public async Task TearDown() => await _server.DisposeAsync();

    [Test]
    public async Task Watch_FirstRequest_CarriesNodeNameAndNoVersion()
    {
        await using var client = TestXdsClients.Create(_server);
        using var watch = client.Watch(TestClusterType.Instance, "c1", new RecordingWatcher());

        var stream = await _server.NextStreamAsync();
        var request = await stream.NextRequestAsync(Cds);

        Assert.Multiple(() =>
        {
            Assert.That(request.ResourceNames, Is.EqualTo(new[] { "c1" }));
            Assert.That(request.VersionInfo, Is.Empty);
            Assert.That(request.ResponseNonce, Is.Empty);
            Assert.That(request.Node.Id, Is.EqualTo("test-node"));
            Assert.That(request.Node.Cluster, Is.EqualTo("test-cluster"));
            Assert.That(request.Node.Locality.Zone, Is.EqualTo("zone-a"));
            Assert.That(request.Node.UserAgentName, Is.EqualTo(XdsBootstrap.UserAgentName));
            Assert.That(request.ErrorDetail, Is.Null);
        });
    }

    [Test]
    public async Task Response_Valid_AckEchoesVersionAndNonceAndWatcherGetsValue()
    {
        await using var client = TestXdsClients.Create(_server);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);

        var response = stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));

        var cluster = await watcher.NextChangedAsync<Cluster>();
        var ack = await stream.NextRequestAsync(Cds);
        Assert.Multiple(() =>
        {
            Assert.That(cluster.AltStatName, Is.EqualTo("a"));
            Assert.That(ack.VersionInfo, Is.EqualTo("v1"));
            Assert.That(ack.ResponseNonce, Is.EqualTo(response.Nonce));
            Assert.That(ack.ResourceNames, Is.EqualTo(new[] { "c1" }));
            Assert.That(ack.ErrorDetail, Is.Null);
            Assert.That(ack.Node, Is.Null, "the node goes only on the first request of a stream");
        });
    }

    [Test]
    public async Task Response_SameValueAgain_WatcherNotCalledTwice()
    {
        await using var client = TestXdsClients.Create(_server);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));
        await watcher.NextChangedAsync<Cluster>();
        await stream.NextRequestAsync(Cds);

        stream.Send(Cds, "v2", TestClusterType.Cluster("c1", "a"));

        Assert.That((await stream.NextRequestAsync(Cds)).VersionInfo, Is.EqualTo("v2"));
        Assert.That(await watcher.EventWithinAsync(), Is.Null);
        Assert.That(client.StatusOf("c1").Version, Is.EqualTo("v2"));
    }

    [Test]
    public async Task Response_InvalidResource_NackWithPreviousVersionNonceAndErrorDetail()
    {
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new FakeLoggerProvider(logs)));
        await using var client = TestXdsClients.Create(_server, loggerFactory: loggerFactory);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "bad-1", watcher);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);

        var response = stream.Send(Cds, "v1", TestClusterType.Cluster("bad-1"));

        var nack = await stream.NextRequestAsync(Cds);
        var error = await watcher.NextErrorAsync();
        Assert.Multiple(() =>
        {
            Assert.That(nack.VersionInfo, Is.Empty, "a NACK carries the previous ACKed version");
            Assert.That(nack.ResponseNonce, Is.EqualTo(response.Nonce));
            Assert.That(nack.ResourceNames, Is.EqualTo(new[] { "bad-1" }));
            Assert.That(nack.ErrorDetail.Code, Is.EqualTo(3), "INVALID_ARGUMENT");
            Assert.That(nack.ErrorDetail.Message, Does.Contain("bad-1: names starting with 'bad' are rejected by the test type"));
            Assert.That(error, Does.Contain("bad-1").And.Contain("rejected"));
            Assert.That(client.StatusOf("bad-1").Status, Is.EqualTo(XdsResourceStatus.Nacked));
            Assert.That(logs.GetSnapshot(), Has.One.Matches<FakeLogRecord>(r => r.Level == LogLevel.Warning && r.Message.Contains("NACK") && r.Message.Contains("bad-1")));
        });
    }

    [Test]
    public async Task Response_AcceptedWhole_LogsNothingAboveDebug()
    {
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new FakeLoggerProvider(logs)));
        await using var client = TestXdsClients.Create(_server, loggerFactory: loggerFactory);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);

        for (var i = 0; i < 3; i++)
        {
            stream.Send(Cds, $"v{i}", TestClusterType.Cluster("c1", $"p{i}"));
            await stream.NextRequestAsync(Cds);
        }

        var aboveDebug = logs.GetSnapshot().Where(r => r.Level > LogLevel.Debug && r.Category!.StartsWith("Mesh.", StringComparison.Ordinal)).Select(r => r.Message).ToList();
        Assert.That(aboveDebug, Is.EqualTo(new[] { $"Connected to xDS server {_server.ServerUri}" }));
    }

    [Test]
    public async Task Response_OneBadOneGood_GoodAppliesBadIsNamedAndKeepsItsPreviousValue()
    {
        await using var client = TestXdsClients.Create(_server);
        var good = new RecordingWatcher();
        var bad = new RecordingWatcher();
        using var watchGood = client.Watch(TestClusterType.Instance, "good", good);
        using var watchBad = client.Watch(TestClusterType.Instance, "other", bad);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);
        stream.Send(Cds, "v1", TestClusterType.Cluster("good", "a"), TestClusterType.Cluster("other", "a"));
        await good.NextChangedAsync<Cluster>();
        await bad.NextChangedAsync<Cluster>();
        Assert.That((await stream.NextRequestAsync(Cds)).VersionInfo, Is.EqualTo("v1"));

        var response = stream.Send(Cds, "v2", TestClusterType.Cluster("good", "b"), TestClusterType.Cluster("other", "bad-payload"));

        var nack = await stream.NextRequestAsync(Cds);
        Assert.Multiple(() =>
        {
            Assert.That(nack.VersionInfo, Is.EqualTo("v1"));
            Assert.That(nack.ResponseNonce, Is.EqualTo(response.Nonce));
            Assert.That(nack.ErrorDetail.Code, Is.EqualTo(3));
            Assert.That(nack.ErrorDetail.Message, Does.Contain("other: alt_stat_name 'bad-payload' is rejected"));
            Assert.That(nack.ErrorDetail.Message, Does.Not.Contain("good:"));
        });
        Assert.That((await good.NextChangedAsync<Cluster>()).AltStatName, Is.EqualTo("b"), "a valid resource of a NACKed response applies (gRFC A46)");
        Assert.That(await bad.NextErrorAsync(), Does.Contain("bad-payload"));
        var badStatus = client.StatusOf("other");
        Assert.Multiple(() =>
        {
            Assert.That(badStatus.Status, Is.EqualTo(XdsResourceStatus.Nacked));
            Assert.That(badStatus.Version, Is.EqualTo("v1"));
            Assert.That(badStatus.Resource!.Unpack<Cluster>().AltStatName, Is.EqualTo("a"));
            Assert.That(badStatus.Error!.Version, Is.EqualTo("v2"));
            Assert.That(client.StatusOf("good").Status, Is.EqualTo(XdsResourceStatus.Acked));
            Assert.That(client.StatusOf("good").Version, Is.EqualTo("v2"));
        });

        // A new watcher of the rejected resource gets its previous valid value, then the error.
        var late = new RecordingWatcher();
        using var watchLate = client.Watch(TestClusterType.Instance, "other", late);
        Assert.That((await late.NextChangedAsync<Cluster>()).AltStatName, Is.EqualTo("a"));
        Assert.That(await late.NextErrorAsync(), Does.Contain("bad-payload"));
    }

    [Test]
    public async Task Response_NackWithFailOnDataErrors_DropsThePreviousValue()
    {
        await using var client = TestXdsClients.Create(_server, serverFeatures: XdsServerConfig.FailOnDataErrorsFeature);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));
        await watcher.NextChangedAsync<Cluster>();

        stream.Send(Cds, "v2", TestClusterType.Cluster("c1", "bad"));

        await watcher.NextErrorAsync();
        await watcher.NextDoesNotExistAsync();
        Assert.That(client.StatusOf("c1").Resource, Is.Null);
    }

    [Test]
    public async Task Response_WrappedInResource_IsUnwrapped()
    {
        await using var client = TestXdsClients.Create(_server);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        var response = new DiscoveryResponse { TypeUrl = Cds, VersionInfo = "v1", Nonce = "x" };
        response.Resources.Add(Any.Pack(new Resource { Name = "c1", Version = "1", Resource_ = Any.Pack(TestClusterType.Cluster("c1", "wrapped")) }));

        stream.Send(response);

        Assert.That((await watcher.NextChangedAsync<Cluster>()).AltStatName, Is.EqualTo("wrapped"));
    }

    [Test]
    public async Task Response_UnknownType_NeitherAckedNorNacked()
    {
        await using var client = TestXdsClients.Create(_server);
        using var watch = client.Watch(TestClusterType.Instance, "c1", new RecordingWatcher());
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync();

        stream.Send(new DiscoveryResponse { TypeUrl = "type.googleapis.com/unknown.Type", VersionInfo = "1", Nonce = "u" });
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1"));

        var next = await stream.NextRequestAsync();
        Assert.That(next.TypeUrl, Is.EqualTo(Cds), "the only answer is the ACK of the known type");
    }

    [Test]
    public async Task DoesNotExistTimer_ConnectedStream_FiresAfterFifteenSeconds()
    {
        var time = new FakeTimeProvider();
        await using var client = TestXdsClients.Create(_server, time);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "missing", watcher);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);
        await ClientPoll.UntilAsync(() => client.GetWatchStateForTesting(Cds, "missing") == XdsClient.WatchState.Requested, "the timer started");

        time.Advance(TimeSpan.FromSeconds(14.9));
        Assert.That(await watcher.EventWithinAsync(), Is.Null);
        time.Advance(TimeSpan.FromSeconds(0.2));

        await watcher.NextDoesNotExistAsync();
        Assert.That(client.StatusOf("missing").Status, Is.EqualTo(XdsResourceStatus.DoesNotExist));
    }

    [Test]
    public async Task DoesNotExistTimer_ResourceReceived_NeverFires()
    {
        var time = new FakeTimeProvider();
        await using var client = TestXdsClients.Create(_server, time);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);
        await ClientPoll.UntilAsync(() => client.GetWatchStateForTesting(Cds, "c1") == XdsClient.WatchState.Requested, "the timer started");

        stream.Send(Cds, "v1", TestClusterType.Cluster("c1"));
        await watcher.NextChangedAsync<Cluster>();
        time.Advance(TimeSpan.FromMinutes(1));

        Assert.That(await watcher.EventWithinAsync(), Is.Null);
        Assert.That(client.GetWatchStateForTesting(Cds, "c1"), Is.EqualTo(XdsClient.WatchState.Received));
    }

    [Test]
    public async Task DoesNotExistTimer_ServerUnreachable_DoesNotRunUntilConnected()
    {
        var time = new FakeTimeProvider();
        await _server.StopAsync();
        await using var client = TestXdsClients.Create(_server, time);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);

        // Over 15 s of unreachable server (backoff 1 + 1.6 + 2.56 + 4.1 + 6.6 + 10.5 s): several failed attempts, each
        // reported as an error, never as "does not exist".
        await ClientPoll.AdvanceUntilAsync(time, TimeSpan.FromSeconds(2), () => client.GetStatus().Counters.StreamFailures >= 7, "seven attempts failed");
        Assert.That(time.GetUtcNow() - time.Start, Is.GreaterThan(TimeSpan.FromSeconds(20)));
        Assert.That(watcher.All, Is.Not.Empty.And.All.Matches<WatcherEvent>(e => e.Kind == WatcherEventKind.Error));
        Assert.That(watcher.All[0].Error, Does.Contain("unreachable"));
        Assert.That(client.GetWatchStateForTesting(Cds, "c1"), Is.EqualTo(XdsClient.WatchState.Started));
        Assert.That(client.StatusOf("c1").Status, Is.EqualTo(XdsResourceStatus.Requested));

        // Once connected the timer runs, and fires when the server stays silent.
        await _server.RestartAsync();
        await ClientPoll.AdvanceUntilAsync(time, TimeSpan.FromSeconds(1), () => _server.StreamCount > 0, "the client reconnected");
        await ClientPoll.UntilAsync(() => client.GetWatchStateForTesting(Cds, "c1") == XdsClient.WatchState.Requested, "the timer started");
        time.Advance(TimeSpan.FromSeconds(15));
        Assert.That((await watcher.NextIgnoringErrorsAsync()).Kind, Is.EqualTo(WatcherEventKind.DoesNotExist));
    }

    [Test]
    public async Task StreamDropped_AfterResponses_ResendsSubscriptionsWithAckedVersionsAndNoNonce()
    {
        await using var client = TestXdsClients.Create(_server);
        var clusters = new RecordingWatcher();
        var endpoints = new RecordingWatcher();
        using var watchCluster = client.Watch(TestClusterType.Instance, "c1", clusters);
        using var watchEndpoints = client.Watch(TestEndpointsType.Instance, "e1", endpoints);
        var first = await _server.NextStreamAsync();
        first.Send(Cds, "c-v1", TestClusterType.Cluster("c1"));
        first.Send(Eds, "e-v7", TestEndpointsType.Endpoints("e1"));
        await clusters.NextChangedAsync<Cluster>();
        await endpoints.NextChangedAsync<ClusterLoadAssignment>();
        await ClientPoll.UntilAsync(() => client.GetStatus().Counters.ResponsesAcked == 2, "both responses were ACKed");

        first.Abort();

        var second = await _server.NextStreamAsync();
        var firstRequest = await second.NextRequestAsync();
        var requests = new[] { firstRequest, await second.NextRequestAsync() };
        var cds = requests.Single(r => r.TypeUrl == Cds);
        var eds = requests.Single(r => r.TypeUrl == Eds);
        Assert.Multiple(() =>
        {
            Assert.That(firstRequest.Node?.Id, Is.EqualTo("test-node"), "the first request of the new stream carries the node");
            Assert.That(cds.ResourceNames, Is.EqualTo(new[] { "c1" }));
            Assert.That(cds.VersionInfo, Is.EqualTo("c-v1"));
            Assert.That(cds.ResponseNonce, Is.Empty);
            Assert.That(eds.ResourceNames, Is.EqualTo(new[] { "e1" }));
            Assert.That(eds.VersionInfo, Is.EqualTo("e-v7"));
            Assert.That(eds.ResponseNonce, Is.Empty);
        });
        Assert.That(await clusters.EventWithinAsync(), Is.Null, "a stream that ended after responses is not an error (gRFC A57)");
    }

    [Test]
    public async Task Backoff_StreamsFailWithoutResponse_DelaysGrowAndResetAfterAResponse()
    {
        var time = new FakeTimeProvider();
        var expected = new XdsBackoff(new Random(42));
        var options = new XdsClientOptions { Random = new Random(42) };
        _server.RefuseStreamsWith = Grpc.Core.StatusCode.Unavailable;
        await using var client = TestXdsClients.Create(_server, time, options);
        using var watch = client.Watch(TestClusterType.Instance, "c1", new RecordingWatcher());
        var step = TimeSpan.FromMilliseconds(50);

        double[] bases = [1, 1.6, 2.56];
        for (var attempt = 1; attempt <= bases.Length; attempt++)
        {
            // The delay is exactly the seeded sequence: waiting for it to show up is also the check.
            var delay = expected.Next();
            Assert.That(delay.TotalSeconds, Is.InRange(bases[attempt - 1] * 0.8, bases[attempt - 1] * 1.2));
            await ClientPoll.UntilAsync(
                () => client.GetStatus().Counters is { StreamFailures: var f, LastBackoff: var d } && f == attempt && d == delay,
                $"attempt {attempt} failed and the client waits {delay} (it shows {client.GetStatus().Counters})");
            if (attempt == bases.Length)
            {
                _server.RefuseStreamsWith = null;
            }

            var failedAt = time.GetUtcNow();
            await ClientPoll.AdvanceUntilAsync(time, step, () => _server.StreamCount == attempt + 1, $"attempt {attempt + 1} started");
            Assert.That(time.GetUtcNow() - failedAt, Is.InRange(delay, delay + (4 * step)), $"wait before attempt {attempt + 1}");
        }

        // Attempt 4 is accepted and answered; the server then closes it: the next stream opens at once...
        for (var i = 0; i < bases.Length; i++)
        {
            await _server.NextStreamAsync(); // the refused ones
        }

        var answered = await _server.NextStreamAsync();
        answered.Send(Cds, "v1", TestClusterType.Cluster("c1"));
        await ClientPoll.UntilAsync(() => client.GetStatus().Counters.ResponsesReceived == 1, "the response arrived");
        answered.Close();
        var immediate = await _server.NextStreamAsync();

        // ...and its failure waits the initial delay again.
        immediate.Close(Grpc.Core.StatusCode.Unavailable, "going away");
        expected.Reset();
        var afterReset = expected.Next();
        Assert.That(afterReset.TotalSeconds, Is.InRange(0.8, 1.2));
        await ClientPoll.UntilAsync(
            () => client.GetStatus().Counters is { StreamFailures: 4, LastBackoff: var d } && d == afterReset,
            $"the stream after the reset failed and the client waits {afterReset} (it shows {client.GetStatus().Counters})");
    }

    [Test]
    public async Task ServerDown_CachedValuesKeepServing_ThenResubscribesWhenBack()
    {
        var time = new FakeTimeProvider();
        await using var client = TestXdsClients.Create(_server, time);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));
        await watcher.NextChangedAsync<Cluster>();
        await ClientPoll.UntilAsync(() => client.GetStatus().Counters.ResponsesAcked == 1, "the response was ACKed");

        await _server.StopAsync();
        await ClientPoll.AdvanceUntilAsync(time, TimeSpan.FromSeconds(2), () => client.GetStatus().Counters.StreamFailures >= 3, "three reconnections failed");

        Assert.That(watcher.All.Skip(1), Is.Not.Empty.And.All.Matches<WatcherEvent>(e => e.Kind == WatcherEventKind.Error), "only errors while the server is down");
        Assert.That(client.GetStatus().ConnectionState, Is.EqualTo(XdsConnectionState.TransientFailure));
        Assert.That(client.StatusOf("c1").Status, Is.EqualTo(XdsResourceStatus.Acked));
        var late = new RecordingWatcher();
        using var lateWatch = client.Watch(TestClusterType.Instance, "c1", late);
        Assert.That((await late.NextChangedAsync<Cluster>()).AltStatName, Is.EqualTo("a"), "the cache serves new watchers while the server is down");

        var streamsBefore = _server.StreamCount;
        await _server.RestartAsync();
        await ClientPoll.AdvanceUntilAsync(time, TimeSpan.FromSeconds(2), () => _server.StreamCount > streamsBefore, "the client reconnected");
        var back = await _server.NextOpenStreamAsync();
        var resent = await back.NextRequestAsync(Cds);
        Assert.That(resent.VersionInfo, Is.EqualTo("v1"));
        back.Send(Cds, "v2", TestClusterType.Cluster("c1", "b"));
        Assert.That(((Cluster)(await watcher.NextIgnoringErrorsAsync()).Resource!).AltStatName, Is.EqualTo("b"));
    }

    [TestCase(new string[0], false, TestName = "Deletion_Default_IgnoredAndValueKept")]
    [TestCase(new[] { XdsServerConfig.IgnoreResourceDeletionFeature }, false, TestName = "Deletion_IgnoreResourceDeletionFeature_SameAsDefault")]
    [TestCase(new[] { XdsServerConfig.FailOnDataErrorsFeature }, true, TestName = "Deletion_FailOnDataErrors_ResourceDoesNotExist")]
    public async Task Deletion_LdsOrCdsNameMissingFromResponse(string[] features, bool honoured)
    {
        await using var client = TestXdsClients.Create(_server, serverFeatures: features);
        var kept = new RecordingWatcher();
        var deleted = new RecordingWatcher();
        using var watchKept = client.Watch(TestClusterType.Instance, "c1", kept);
        using var watchDeleted = client.Watch(TestClusterType.Instance, "c2", deleted);
        var stream = await _server.NextStreamAsync();
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1"), TestClusterType.Cluster("c2", "a"));
        await kept.NextChangedAsync<Cluster>();
        await deleted.NextChangedAsync<Cluster>();

        stream.Send(Cds, "v2", TestClusterType.Cluster("c1"));

        var next = await deleted.NextAsync();
        await ClientPoll.UntilAsync(() => client.GetStatus().Counters.ResponsesAcked == 2, "v2 was ACKed");
        var status = client.StatusOf("c2");
        if (honoured)
        {
            Assert.That(next.Kind, Is.EqualTo(WatcherEventKind.DoesNotExist));
            Assert.That(status.Status, Is.EqualTo(XdsResourceStatus.DoesNotExist));
            Assert.That(status.Resource, Is.Null);
        }
        else
        {
            Assert.That(next.Kind, Is.EqualTo(WatcherEventKind.Error));
            Assert.That(next.Error, Does.Contain("c2").And.Contain("deleted"));
            Assert.That(status.Status, Is.EqualTo(XdsResourceStatus.Acked));
            Assert.That(status.Resource!.Unpack<Cluster>().AltStatName, Is.EqualTo("a"));
            var late = new RecordingWatcher();
            using var lateWatch = client.Watch(TestClusterType.Instance, "c2", late);
            Assert.That((await late.NextChangedAsync<Cluster>()).AltStatName, Is.EqualTo("a"));
        }

        Assert.That(await kept.EventWithinAsync(), Is.Null, "the resource still present is untouched");

        // The resource comes back: its watchers get it again.
        stream.Send(Cds, "v3", TestClusterType.Cluster("c1"), TestClusterType.Cluster("c2", "b"));
        Assert.That((await deleted.NextChangedAsync<Cluster>()).AltStatName, Is.EqualTo("b"));
    }

    [Test]
    public async Task Deletion_EdsNameMissingFromResponse_NotADeletion()
    {
        await using var client = TestXdsClients.Create(_server, serverFeatures: XdsServerConfig.FailOnDataErrorsFeature);
        var e1 = new RecordingWatcher();
        var e2 = new RecordingWatcher();
        using var watch1 = client.Watch(TestEndpointsType.Instance, "e1", e1);
        using var watch2 = client.Watch(TestEndpointsType.Instance, "e2", e2);
        var stream = await _server.NextStreamAsync();
        stream.Send(Eds, "v1", TestEndpointsType.Endpoints("e1"), TestEndpointsType.Endpoints("e2"));
        await e1.NextChangedAsync<ClusterLoadAssignment>();
        await e2.NextChangedAsync<ClusterLoadAssignment>();

        stream.Send(Eds, "v2", TestEndpointsType.Endpoints("e1"));

        await ClientPoll.UntilAsync(() => client.GetStatus().Counters.ResponsesAcked == 2, "v2 was ACKed");
        Assert.That(await e2.EventWithinAsync(), Is.Null);
        Assert.That(client.StatusOf("e2", Eds).Status, Is.EqualTo(XdsResourceStatus.Acked));
    }

    [Test]
    public async Task Unsubscribe_LastWatcherGone_NameLeavesTheNextRequest()
    {
        await using var client = TestXdsClients.Create(_server);
        var w1 = new RecordingWatcher();
        var w3 = new RecordingWatcher();
        var watch1 = client.Watch(TestClusterType.Instance, "c1", w1);
        var watch2 = client.Watch(TestClusterType.Instance, "c2", new RecordingWatcher());
        var watch3 = client.Watch(TestClusterType.Instance, "c1", w3);
        var stream = await _server.NextStreamAsync();
        await ClientPoll.UntilAsync(() => client.GetWatchStateForTesting(Cds, "c2") == XdsClient.WatchState.Requested, "both names were sent");
        var sent = await stream.NextRequestAsync(Cds);
        while (sent.ResourceNames.Count < 2)
        {
            sent = await stream.NextRequestAsync(Cds);
        }

        Assert.That(sent.ResourceNames, Is.EqualTo(new[] { "c1", "c2" }));

        watch1.Dispose();
        Assert.That(await stream.RequestWithinAsync(Cds, ClientTestTimeouts.Quiet), Is.Null, "c1 is still watched");
        watch3.Dispose();
        Assert.That((await stream.NextRequestAsync(Cds)).ResourceNames, Is.EqualTo(new[] { "c2" }));
        watch2.Dispose();
        Assert.That((await stream.NextRequestAsync(Cds)).ResourceNames, Is.Empty);

        stream.Send(Cds, "v1", TestClusterType.Cluster("c1"));
        Assert.That(await w1.EventWithinAsync(), Is.Null, "an unsubscribed watcher hears nothing more");
        Assert.That(w3.All, Is.Empty);
        Assert.That(client.GetStatus().Resources, Is.Empty);
    }

    [Test]
    public async Task Watch_SecondWatcherOfCachedResource_GetsValueWithoutNewRequest()
    {
        await using var client = TestXdsClients.Create(_server);
        var first = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", first);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));
        await first.NextChangedAsync<Cluster>();
        await stream.NextRequestAsync(Cds);

        var second = new RecordingWatcher();
        using var watch2 = client.Watch(TestClusterType.Instance, "c1", second);

        Assert.That((await second.NextChangedAsync<Cluster>()).AltStatName, Is.EqualTo("a"));
        Assert.That(await stream.RequestWithinAsync(Cds, ClientTestTimeouts.Quiet), Is.Null, "the subscription did not change");
        Assert.That(await first.EventWithinAsync(), Is.Null);
    }

    [Test]
    public async Task Watchers_ManyUpdatesAtOnce_CalledOneAtATimeInOrder()
    {
        await using var client = TestXdsClients.Create(_server);
        var probe = new ConcurrencyProbe();
        var watchers = Enumerable.Range(0, 8).Select(_ => new RecordingWatcher(probe, TimeSpan.FromMilliseconds(2))).ToList();
        var watches = watchers.Select((w, i) => client.Watch(TestClusterType.Instance, $"c{i}", w)).ToList();
        var stream = await _server.NextStreamAsync();

        for (var version = 1; version <= 3; version++)
        {
            stream.Send(Cds, $"v{version}", [.. Enumerable.Range(0, 8).Select(i => TestClusterType.Cluster($"c{i}", $"p{version}"))]);
        }

        foreach (var watcher in watchers)
        {
            var payloads = new List<string>();
            while (payloads.Count == 0 || payloads[^1] != "p3")
            {
                payloads.Add((await watcher.NextChangedAsync<Cluster>()).AltStatName);
            }

            Assert.That(payloads, Is.Ordered.Ascending);
        }

        Assert.That(probe.MaxConcurrent, Is.EqualTo(1));
        watches.ForEach(w => w.Dispose());
    }

    [Test]
    public async Task ResourceError_FromServer_NotFoundWithoutValue_ErrorThenDoesNotExist()
    {
        var time = new FakeTimeProvider();
        await using var client = TestXdsClients.Create(_server, time);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);
        await ClientPoll.UntilAsync(() => client.GetWatchStateForTesting(Cds, "c1") == XdsClient.WatchState.Requested, "the timer started");
        var response = new DiscoveryResponse { TypeUrl = Cds, VersionInfo = "v1", Nonce = "x" };
        response.ResourceErrors.Add(new ResourceError
        {
            ResourceName = new ResourceName { Name = "c1" },
            ErrorDetail = new Mesh.Xds.Protos.Google.Rpc.Status { Code = 5, Message = "no such cluster" },
        });

        stream.Send(response);

        Assert.That(await watcher.NextErrorAsync(), Does.Contain("NotFound: no such cluster"));
        await watcher.NextDoesNotExistAsync();
        Assert.That(client.StatusOf("c1").Status, Is.EqualTo(XdsResourceStatus.ReceivedError));
        Assert.That(client.GetWatchStateForTesting(Cds, "c1"), Is.EqualTo(XdsClient.WatchState.Received), "the timer stopped");
        Assert.That((await stream.NextRequestAsync(Cds)).VersionInfo, Is.EqualTo("v1"), "a server-reported error is ACKed");
    }

    [Test]
    public async Task ResourceTimer_TransientFailureFeature_ThirtySecondsThenErrorOnly()
    {
        var time = new FakeTimeProvider();
        await using var client = TestXdsClients.Create(_server, time, serverFeatures: XdsServerConfig.ResourceTimerIsTransientFeature);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        await _server.NextStreamAsync();
        await ClientPoll.UntilAsync(() => client.GetWatchStateForTesting(Cds, "c1") == XdsClient.WatchState.Requested, "the timer started");

        time.Advance(TimeSpan.FromSeconds(29));
        Assert.That(await watcher.EventWithinAsync(), Is.Null);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.That(await watcher.NextErrorAsync(), Does.Contain("not received"));
        Assert.That(await watcher.EventWithinAsync(), Is.Null, "no OnResourceDoesNotExist");
        Assert.That(client.StatusOf("c1").Status, Is.EqualTo(XdsResourceStatus.Timeout));
    }

    [Test]
    public async Task Dispose_WithOpenStream_EndsTheStreamAndRejectsNewWatches()
    {
        var client = TestXdsClients.Create(_server);
        using var watch = client.Watch(TestClusterType.Instance, "c1", new RecordingWatcher());
        var stream = await _server.NextStreamAsync();
        await stream.NextRequestAsync(Cds);

        await client.DisposeAsync().AsTask().WaitAsync(ClientTestTimeouts.Default);

        await stream.Ended.WaitAsync(ClientTestTimeouts.Default);
        Assert.That(client.GetStatus().ConnectionState, Is.EqualTo(XdsConnectionState.Shutdown));
        Assert.Throws<ObjectDisposedException>(() => client.Watch(TestClusterType.Instance, "c2", new RecordingWatcher()));
    }
}
