using System.Net;
using System.Text.Json;
using Envoy.Admin.V3;
using Envoy.Config.Cluster.V3;
using Envoy.Service.Status.V3;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Xds.Client;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Xds.Tests.Client;

public class XdsClientStatusTests
{
    private const string Cds = TestClusterType.Url;

    private FakeAdsServer _server = null!;

    [SetUp]
    public async Task SetUp() => _server = await FakeAdsServer.StartAsync();

    [TearDown]
    public async Task TearDown() => await _server.DisposeAsync();

    [Test]
    public async Task GetStatus_ResourceLifecycle_RequestedAckedNackedDoesNotExist()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));
        await using var client = TestXdsClients.Create(_server, time);
        var c1 = new RecordingWatcher();
        var c2 = new RecordingWatcher();
        using var watch1 = client.Watch(TestClusterType.Instance, "c1", c1);
        using var watch2 = client.Watch(TestClusterType.Instance, "c2", c2);

        var requested = client.StatusOf("c1");
        Assert.That(requested.Status, Is.EqualTo(XdsResourceStatus.Requested));
        Assert.That(requested.Version, Is.Null);

        var stream = await _server.NextStreamAsync();
        await ClientPoll.UntilAsync(() => client.GetWatchStateForTesting(Cds, "c2") == XdsClient.WatchState.Requested, "the timers started");
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));
        await c1.NextChangedAsync<Cluster>();
        var acked = client.StatusOf("c1");
        Assert.Multiple(() =>
        {
            Assert.That(acked.Status, Is.EqualTo(XdsResourceStatus.Acked));
            Assert.That(acked.Version, Is.EqualTo("v1"));
            Assert.That(acked.LastUpdated, Is.EqualTo(time.GetUtcNow()));
            Assert.That(acked.Resource!.Unpack<Cluster>().AltStatName, Is.EqualTo("a"));
            Assert.That(acked.Error, Is.Null);
        });

        time.Advance(TimeSpan.FromSeconds(1));
        stream.Send(Cds, "v2", TestClusterType.Cluster("c1", "bad"));
        await c1.NextErrorAsync();
        var nacked = client.StatusOf("c1");
        Assert.Multiple(() =>
        {
            Assert.That(nacked.Status, Is.EqualTo(XdsResourceStatus.Nacked));
            Assert.That(nacked.Version, Is.EqualTo("v1"), "the version in use stays");
            Assert.That(nacked.Resource!.Unpack<Cluster>().AltStatName, Is.EqualTo("a"));
            Assert.That(nacked.Error!.Version, Is.EqualTo("v2"));
            Assert.That(nacked.Error.Details, Does.Contain("alt_stat_name 'bad'"));
            Assert.That(nacked.Error.Time, Is.EqualTo(time.GetUtcNow()));
            Assert.That(nacked.Error.FailedConfiguration!.Unpack<Cluster>().AltStatName, Is.EqualTo("bad"));
        });

        time.Advance(TimeSpan.FromSeconds(15));
        await c2.NextDoesNotExistAsync();
        Assert.That(client.StatusOf("c2").Status, Is.EqualTo(XdsResourceStatus.DoesNotExist));

        var status = client.GetStatus();
        Assert.Multiple(() =>
        {
            Assert.That(status.ServerUri, Is.EqualTo(_server.ServerUri));
            Assert.That(status.ConnectionState, Is.EqualTo(XdsConnectionState.Ready));
            Assert.That(status.Counters.StreamsStarted, Is.EqualTo(1));
            Assert.That(status.Counters.ResponsesReceived, Is.EqualTo(2));
            Assert.That(status.Counters.ResponsesAcked, Is.EqualTo(1));
            Assert.That(status.Counters.ResponsesNacked, Is.EqualTo(1));
            Assert.That(status.Counters.ResourcesNotFound, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task ToClientStatusResponse_MapsEveryFieldToCsds()
    {
        await using var client = TestXdsClients.Create(_server);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));
        await watcher.NextChangedAsync<Cluster>();
        stream.Send(Cds, "v2", TestClusterType.Cluster("c1", "bad"));
        await watcher.NextErrorAsync();

        var response = client.GetStatus().ToClientStatusResponse();
        var withoutContents = client.GetStatus().ToClientStatusResponse(excludeResourceContents: true);

        var config = response.Config.Single();
        var entry = config.GenericXdsConfigs.Single();
        Assert.Multiple(() =>
        {
            Assert.That(config.Node.Id, Is.EqualTo("test-node"));
            Assert.That(entry.TypeUrl, Is.EqualTo(Cds));
            Assert.That(entry.Name, Is.EqualTo("c1"));
            Assert.That(entry.VersionInfo, Is.EqualTo("v1"));
            Assert.That(entry.ClientStatus, Is.EqualTo(ClientResourceStatus.Nacked));
            Assert.That(entry.XdsConfig.Unpack<Cluster>().AltStatName, Is.EqualTo("a"));
            Assert.That(entry.LastUpdated, Is.Not.Null);
            Assert.That(entry.ErrorState.VersionInfo, Is.EqualTo("v2"));
            Assert.That(entry.ErrorState.Details, Does.Contain("rejected"));
            Assert.That(entry.ErrorState.FailedConfiguration.Unpack<Cluster>().AltStatName, Is.EqualTo("bad"));
            Assert.That(entry.ErrorState.LastUpdateAttempt, Is.Not.Null);
            Assert.That(withoutContents.Config[0].GenericXdsConfigs[0].XdsConfig, Is.Null);
            Assert.That(withoutContents.Config[0].GenericXdsConfigs[0].ErrorState.FailedConfiguration, Is.Null);
        });
    }

    [Test]
    public async Task ToJson_RendersResourcesWithTheirFields()
    {
        await using var client = TestXdsClients.Create(_server);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "payload-a"));
        await watcher.NextChangedAsync<Cluster>();

        using var json = JsonDocument.Parse(client.GetStatus().ToJson());

        var root = json.RootElement;
        var entry = root.GetProperty("clientConfig").GetProperty("genericXdsConfigs")[0];
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("server").GetString(), Is.EqualTo(_server.ServerUri));
            Assert.That(root.GetProperty("connectionState").GetString(), Is.EqualTo("Ready"));
            Assert.That(root.GetProperty("counters").GetProperty("responsesAcked").GetInt64(), Is.EqualTo(1));
            Assert.That(entry.GetProperty("clientStatus").GetString(), Is.EqualTo("ACKED"));
            Assert.That(entry.GetProperty("xdsConfig").GetProperty("@type").GetString(), Is.EqualTo(Cds));
            Assert.That(entry.GetProperty("xdsConfig").GetProperty("altStatName").GetString(), Is.EqualTo("payload-a"));
        });
    }

    [Test]
    public async Task FetchAndStreamClientStatus_OverGrpc_AnswerFromTheClientInDependencyInjection()
    {
        await using var client = TestXdsClients.Create(_server);
        var watcher = new RecordingWatcher();
        using var watch = client.Watch(TestClusterType.Instance, "c1", watcher);
        var stream = await _server.NextStreamAsync();
        stream.Send(Cds, "v1", TestClusterType.Cluster("c1", "a"));
        await watcher.NextChangedAsync<Cluster>();
        await using var host = await CsdsHost.StartAsync(client);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var csds = new ClientStatusDiscoveryService.ClientStatusDiscoveryServiceClient(channel);

        var fetched = await csds.FetchClientStatusAsync(new ClientStatusRequest()).ResponseAsync.WaitAsync(ClientTestTimeouts.Default);

        var entry = fetched.Config.Single().GenericXdsConfigs.Single();
        Assert.Multiple(() =>
        {
            Assert.That(fetched.Config[0].Node.Id, Is.EqualTo("test-node"));
            Assert.That(entry.Name, Is.EqualTo("c1"));
            Assert.That(entry.ClientStatus, Is.EqualTo(ClientResourceStatus.Acked));
            Assert.That(entry.VersionInfo, Is.EqualTo("v1"));
            Assert.That(entry.XdsConfig.Unpack<Cluster>().AltStatName, Is.EqualTo("a"));
        });

        using var call = csds.StreamClientStatus();
        await call.RequestStream.WriteAsync(new ClientStatusRequest { ExcludeResourceContents = true });
        Assert.That(await call.ResponseStream.MoveNext().WaitAsync(ClientTestTimeouts.Default), Is.True);
        Assert.That(call.ResponseStream.Current.Config[0].GenericXdsConfigs[0].XdsConfig, Is.Null);
        stream.Send(Cds, "v2", TestClusterType.Cluster("c1", "b"));
        await watcher.NextChangedAsync<Cluster>();
        await call.RequestStream.WriteAsync(new ClientStatusRequest());
        Assert.That(await call.ResponseStream.MoveNext().WaitAsync(ClientTestTimeouts.Default), Is.True);
        Assert.That(call.ResponseStream.Current.Config[0].GenericXdsConfigs[0].VersionInfo, Is.EqualTo("v2"));
        await call.RequestStream.CompleteAsync();
        Assert.That(await call.ResponseStream.MoveNext().WaitAsync(ClientTestTimeouts.Default), Is.False);
    }

    [Test]
    public async Task FetchClientStatus_NoClientRegistered_EmptyResponse()
    {
        await using var host = await CsdsHost.StartAsync(client: null);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var csds = new ClientStatusDiscoveryService.ClientStatusDiscoveryServiceClient(channel);

        var fetched = await csds.FetchClientStatusAsync(new ClientStatusRequest()).ResponseAsync.WaitAsync(ClientTestTimeouts.Default);

        Assert.That(fetched.Config, Is.Empty);
    }

    /// <summary>An ASP.NET app mapping the CSDS service, as an application would.</summary>
    private sealed class CsdsHost : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private CsdsHost(WebApplication app, Uri address)
        {
            _app = app;
            Address = address;
        }

        public Uri Address { get; }

        public static async Task<CsdsHost> StartAsync(XdsClient? client)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpc();
            if (client is not null)
            {
                builder.Services.AddSingleton(client);
            }

            var app = builder.Build();
            app.MapGrpcService<XdsClientStatusService>();
            await app.StartAsync().WaitAsync(ClientTestTimeouts.Default);
            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
            return new CsdsHost(app, new Uri(address));
        }

        public async ValueTask DisposeAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _app.StopAsync(cts.Token);
            await _app.DisposeAsync();
        }
    }
}
