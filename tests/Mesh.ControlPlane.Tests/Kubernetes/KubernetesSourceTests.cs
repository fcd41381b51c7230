using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mesh.ControlPlane.Configuration.Kubernetes;
using Mesh.ControlPlane.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Kubernetes;

[CancelAfter(20_000)]
public sealed class KubernetesSourceTests
{
    private static JsonObject Spec(string json) => new() { ["spec"] = JsonNode.Parse(json) };

    private static void SeedOneOfEach(FakeKubeApiServer server)
    {
        server.Apply("Service", "demo", "backend", Spec("""{"selector":{"app":"backend"},"ports":[{"name":"http","port":8080}]}"""));
        server.Apply("EndpointSlice", "demo", "backend-abc", JsonNode.Parse("""{"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":8080}]}""")!.AsObject(),
            new Dictionary<string, string> { ["kubernetes.io/service-name"] = "backend" });
        server.Apply("Pod", "demo", "backend-v1-0", Spec("""{"containers":[{"name":"app","image":"backend"}]}"""), new Dictionary<string, string> { ["app"] = "backend", ["version"] = "v1" });
        server.Apply("VirtualService", "demo", "backend", Spec("""{"hosts":["backend"],"http":[{"route":[{"destination":{"host":"backend","subset":"v1"},"weight":80},{"destination":{"host":"backend","subset":"v2"},"weight":20}]}]}"""));
        server.Apply("DestinationRule", "demo", "backend", Spec("""{"host":"backend","subsets":[{"name":"v1","labels":{"version":"v1"}}]}"""));
        server.Apply("WorkloadEntry", "demo", "backend-local", Spec("""{"address":"127.0.0.1","ports":{"http":5001},"labels":{"app":"backend"}}"""));
    }

    [Test]
    public async Task Start_InitialList_FillsStoreAndMarksSynced()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync());
        SeedOneOfEach(h.Server);

        Assert.That(h.Store.IsSynced, Is.False, "registered sources are not synced before the first list");
        await h.StartAndSyncAsync();

        var objects = h.Store.Snapshot();
        Assert.That(objects.Select(o => $"{o.ApiVersion} {o.Kind} {o.Namespace}/{o.Name}"), Is.EquivalentTo(new[]
        {
            "v1 Service demo/backend",
            "discovery.k8s.io/v1 EndpointSlice demo/backend-abc",
            "v1 Pod demo/backend-v1-0",
            "networking.istio.io/v1 VirtualService demo/backend",
            "networking.istio.io/v1 DestinationRule demo/backend",
            "networking.istio.io/v1 WorkloadEntry demo/backend-local",
        }));
        Assert.That(objects.All(o => o.Origin == KubernetesSource.Origin), Is.True);
        var service = h.Objects("Service").Single().Body;
        Assert.Multiple(() =>
        {
            // The API server leaves apiVersion/kind out of list items; the source fills them in.
            Assert.That(service.GetProperty("kind").GetString(), Is.EqualTo("Service"));
            Assert.That(service.GetProperty("apiVersion").GetString(), Is.EqualTo("v1"));
            Assert.That(service.GetProperty("spec").GetProperty("ports")[0].GetProperty("port").GetInt32(), Is.EqualTo(8080));
            var vs = h.Objects("VirtualService").Single().Body;
            Assert.That(vs.GetProperty("spec").GetProperty("http")[0].GetProperty("route")[1].GetProperty("weight").GetInt32(), Is.EqualTo(20));
            var slice = h.Objects("EndpointSlice").Single().Body;
            Assert.That(slice.GetProperty("endpoints")[0].GetProperty("addresses")[0].GetString(), Is.EqualTo("10.0.0.1"));
            Assert.That(h.Server.Requests.Where(r => !r.Watch).Select(r => r.Kind), Is.EquivalentTo(new[] { "Service", "EndpointSlice", "Pod", "VirtualService", "DestinationRule", "WorkloadEntry" }));
        });
    }

    [Test]
    public async Task Watch_AddUpdateDelete_ReachTheStore()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync());
        h.Server.Apply("Service", "demo", "a", Spec("""{"ports":[{"port":80}]}"""));
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("VirtualService") == 1 && h.Server.WatchCount("Service") == 1, "no watches opened");

        h.Server.Apply("Service", "demo", "b", Spec("""{"ports":[{"port":81}]}"""));
        h.Server.Apply("Service", "demo", "a", Spec("""{"ports":[{"port":8080}]}"""));
        h.Server.Apply("VirtualService", "demo", "vs", Spec("""{"hosts":["a"]}"""));
        await KubernetesTestHarness.Eventually(() => h.State("Service").SequenceEqual(h.Server.State("Service")) && h.Objects("VirtualService").Count == 1, "adds and updates did not arrive");
        Assert.That(h.Objects("Service").Single(o => o.Name == "a").Body.GetProperty("spec").GetProperty("ports")[0].GetProperty("port").GetInt32(), Is.EqualTo(8080));

        h.Server.Delete("Service", "demo", "a");
        h.Server.Delete("VirtualService", "demo", "vs");
        await KubernetesTestHarness.Eventually(() => h.Objects("Service").Count == 1 && h.Objects("VirtualService").Count == 0, "deletes did not arrive");

        Assert.Multiple(() =>
        {
            Assert.That(h.Objects("Service").Single().Name, Is.EqualTo("b"));
            Assert.That(h.Server.ListCount("Service"), Is.EqualTo(1), "watch events never cause a relist");
            Assert.That(h.Server.Requests.Where(r => r.Watch).All(r => r.AllowWatchBookmarks), Is.True);
        });
    }

    [Test]
    public async Task Bookmark_AdvancesResourceVersion_NextWatchStartsFromIt()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync());
        h.Server.Apply("Service", "demo", "a");
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("Service") == 1, "no watch opened");
        var listed = h.Source.ResourceVersionOf("kubernetes:Service");

        // Other kinds move the global resourceVersion; only a bookmark tells the Service watch about it.
        h.Server.Apply("Pod", "demo", "p1");
        h.Server.Apply("Pod", "demo", "p2");
        var bookmark = h.Server.SendBookmark();
        await KubernetesTestHarness.Eventually(() => h.Source.ResourceVersionOf("kubernetes:Service") == bookmark, "the bookmark was not taken");
        h.Server.DropWatches();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("Service") == 2, "no re-watch after the drop");

        var rewatch = h.Server.Requests.Last(r => r.Watch && r.Kind == "Service");
        Assert.Multiple(() =>
        {
            Assert.That(bookmark, Is.Not.EqualTo(listed));
            Assert.That(rewatch.ResourceVersion, Is.EqualTo(bookmark));
            Assert.That(h.Server.ListCount("Service"), Is.EqualTo(1));
            Assert.That(h.Objects("Service").Select(o => o.Name), Is.EqualTo(new[] { "a" }), "a bookmark changes no object");
        });
    }

    [Test]
    public async Task PeriodicBookmarks_AdvanceResourceVersion_AndKeepTheIdleWatchdogQuiet()
    {
        var server = await FakeKubeApiServer.StartAsync();
        server.BookmarkInterval = TimeSpan.FromMilliseconds(25);
        await using var h = KubernetesTestHarness.Create(server, o => o.IdleTimeout = TimeSpan.FromMilliseconds(500));
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("Service") == 1, "no watch opened");

        var target = h.Server.Apply("Pod", "demo", "p1");
        await KubernetesTestHarness.Eventually(() => h.Source.ResourceVersionOf("kubernetes:Service") == target, "periodic bookmarks did not advance the resourceVersion");

        // 40 bookmarks at 25 ms span about twice the idle timeout: each one re-arms the watchdog.
        var sent = h.Server.BookmarksSent("Service");
        await KubernetesTestHarness.Eventually(() => h.Server.BookmarksSent("Service") >= sent + 40, "bookmarks stopped");
        Assert.That(h.Server.WatchCount("Service"), Is.EqualTo(1), "a watch that receives bookmarks is not idle");
    }

    [Test]
    public async Task Gone_WhileWatchWasBroken_RelistsToExactlyTheServerState()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync());
        h.Server.Apply("Service", "demo", "a");
        h.Server.Apply("Service", "demo", "b");
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("Service") == 1, "no watch opened");

        // The watch goes silent, changes happen that it never delivers, the history is compacted, the connection drops:
        // the re-watch from the old resourceVersion gets an in-stream ERROR 410, so only a relist can catch up.
        h.Server.StallWatches();
        h.Server.Delete("Service", "demo", "a");
        h.Server.Apply("Service", "demo", "c");
        h.Server.Apply("Service", "demo", "b", Spec("""{"ports":[{"port":9090}]}"""));
        h.Server.CompactHistory();
        h.Server.DropWatches();

        await KubernetesTestHarness.Eventually(() => h.Server.ListCount("Service") == 2, "no relist after 410");
        await KubernetesTestHarness.Eventually(() => h.State("Service").SequenceEqual(h.Server.State("Service")), "the store does not match the server");

        // After the relist the watch resumes: later changes still arrive.
        h.Server.Apply("Service", "demo", "d");
        await KubernetesTestHarness.Eventually(() => h.State("Service").SequenceEqual(h.Server.State("Service")), "changes after the relist did not arrive");
        Assert.Multiple(() =>
        {
            Assert.That(h.Objects("Service").Select(o => o.Name), Is.EquivalentTo(new[] { "b", "c", "d" }));
            Assert.That(h.Objects("Service").Single(o => o.Name == "b").Body.GetProperty("spec").GetProperty("ports")[0].GetProperty("port").GetInt32(), Is.EqualTo(9090));
            Assert.That(h.Logs.GetSnapshot().Any(r => r.Message.Contains("kubernetes:Service: resourceVersion") && r.Message.Contains("410 Gone")), Is.True);
        });
    }

    [Test]
    public async Task DroppedConnection_RewatchesFromLastResourceVersion_WithoutRelist()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync());
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("Service") == 1, "no watch opened");
        var rvX = h.Server.Apply("Service", "demo", "x");
        await KubernetesTestHarness.Eventually(() => h.Objects("Service").Count == 1, "x did not arrive");

        h.Server.DropWatches();
        h.Server.Apply("Service", "demo", "y");
        await KubernetesTestHarness.Eventually(() => h.Objects("Service").Count == 2, "y did not arrive after the drop");

        Assert.Multiple(() =>
        {
            Assert.That(h.Server.ListCount("Service"), Is.EqualTo(1), "a dropped connection must not cause a relist");
            Assert.That(h.Server.Requests.Where(r => r.Watch && r.Kind == "Service").Select(r => r.ResourceVersion), Does.Contain(rvX));
        });
    }

    [Test]
    public async Task StalledWatch_IdleWatchdogAbortsAndResumes()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync(), o => o.IdleTimeout = TimeSpan.FromMilliseconds(300));
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("Service") >= 1, "no watch opened");

        h.Server.StallWatches();
        var watchesBefore = h.Server.WatchCount("Service");
        h.Server.Apply("Service", "demo", "z");
        await KubernetesTestHarness.Eventually(() => h.Objects("Service").Count == 1, "the stalled watch was never replaced");

        Assert.Multiple(() =>
        {
            Assert.That(h.Server.WatchCount("Service"), Is.GreaterThan(watchesBefore));
            Assert.That(h.Server.ListCount("Service"), Is.EqualTo(1), "the history still covers the gap: no relist");
            Assert.That(h.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Warning && r.Message.Contains("kubernetes:Service: no event or bookmark")), Is.True);
        });
    }

    [Test]
    public async Task NamespaceFilter_OnlyListedNamespacesAreRead()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync(), o => o.Namespaces.Add("shop"));
        h.Server.Apply("Service", "shop", "cart");
        h.Server.Apply("Service", "other", "ignored");
        h.Server.Apply("VirtualService", "other", "ignored");
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.WatchCount("Service") == 1, "no watch opened");

        h.Server.Apply("Service", "other", "later-ignored");
        h.Server.Apply("Service", "shop", "checkout");
        await KubernetesTestHarness.Eventually(() => h.Objects("Service").Count == 2, "checkout did not arrive");

        Assert.Multiple(() =>
        {
            Assert.That(h.Store.Snapshot().Select(o => $"{o.Namespace}/{o.Name}"), Is.EquivalentTo(new[] { "shop/cart", "shop/checkout" }));
            Assert.That(h.Server.Requests.All(r => r.Namespace == "shop"), Is.True, "every request uses the namespaced path");
            Assert.That(h.Source.SourceIds, Does.Contain("kubernetes:Service:shop"));
        });
    }

    [Test]
    public async Task MissingCrd_IsEmptyAndSynced_WarnsOnce_AndIsPickedUpOnceInstalled()
    {
        await using var h = KubernetesTestHarness.Create(await FakeKubeApiServer.StartAsync());
        h.Server.SetServed("WorkloadEntry", false);
        h.Server.Apply("Service", "demo", "a");
        await h.StartAndSyncAsync();
        await KubernetesTestHarness.Eventually(() => h.Server.ListCount("WorkloadEntry") >= 3, "the missing kind is not retried");

        var warnings = h.Logs.GetSnapshot().Where(r => r.Level == LogLevel.Warning && r.Message.Contains("WorkloadEntry")).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(h.Store.IsSynced, Is.True);
            Assert.That(warnings, Has.Count.EqualTo(1));
            Assert.That(warnings[0].Message, Does.Contain("404"));
        });

        h.Server.SetServed("WorkloadEntry", true);
        h.Server.Apply("WorkloadEntry", "demo", "local", Spec("""{"address":"127.0.0.1"}"""));
        await KubernetesTestHarness.Eventually(() => h.Objects("WorkloadEntry").Count == 1, "the installed kind was not listed");
    }

    [Test]
    public async Task UnreachableServer_BacksOffExponentiallyWithJitter()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var time = new FakeTimeProvider();
        var provider = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(provider));
        var store = new Configuration.ConfigStore();
        var options = new KubernetesSourceOptions();
        await using var source = KubernetesSource.Create(new k8s.KubernetesClientConfiguration { Host = $"http://127.0.0.1:{port}" }, options, store, loggerFactory, time);
        await source.StartAsync(CancellationToken.None);

        var delays = new List<double>();
        for (var attempt = 0; attempt < 4; attempt++)
        {
            await KubernetesTestHarness.Eventually(() => Backoffs(provider.Collector).Count > attempt, $"no backoff {attempt + 1}");
            delays.Add(Backoffs(provider.Collector)[attempt]);
            time.Advance(TimeSpan.FromMilliseconds(delays[attempt]));
        }

        Assert.Multiple(() =>
        {
            Assert.That(store.IsSynced, Is.False);
            for (var i = 0; i < delays.Count; i++)
            {
                var expected = 500 * Math.Pow(2, i);
                Assert.That(delays[i], Is.InRange(expected * 0.8, expected * 1.2), $"delay {i + 1}");
            }
        });

        static List<double> Backoffs(Microsoft.Extensions.Logging.Testing.FakeLogCollector logs) =>
        [
            .. logs.GetSnapshot()
                .Select(r => Regex.Match(r.Message, @"^kubernetes:Service: list failed; retrying in ([\d.]+) ms$"))
                .Where(m => m.Success)
                .Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)),
        ];
    }
}
