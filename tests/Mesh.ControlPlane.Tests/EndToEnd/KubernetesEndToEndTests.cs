using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Configuration.Kubernetes;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Telemetry;
using Mesh.Xds.Tests.EndToEnd;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>
/// Kubernetes end to end: the wire-level fake API server → the control plane's Kubernetes source (KubernetesClient,
/// one reflector per kind, reached through a kubeconfig file) → translation → the xDS server → our own xDS client →
/// a mesh HttpClient → real Kestrel backends. Every backend is a Pod (labelled with its version) and one EndpointSlice
/// (Kubernetes puts endpoints whose ports differ into different slices, and every backend here has its own port).
/// </summary>
[NonParallelizable]
[CancelAfter(60_000)]
public sealed class KubernetesEndToEndTests
{
    [Test]
    public async Task EndpointSliceAddAndDelete_ReachTheClient_RequestsFollowTheEndpoints()
    {
        // Arrange: v1a and v2 have slices; v1b has a Pod but no slice yet.
        await using var v1a = await NamedHttpBackend.StartAsync("v1a").WaitAsync(TestWait.Timeout);
        await using var v1b = await NamedHttpBackend.StartAsync("v1b").WaitAsync(TestWait.Timeout);
        await using var v2 = await NamedHttpBackend.StartAsync("v2").WaitAsync(TestWait.Timeout);
        await using var mesh = await KubernetesMesh.StartAsync(server =>
        {
            Seed(server, v1: 80, v2: 20);
            AddBackend(server, "backend-v1-a", v1a.Port, "v1");
            AddPod(server, "backend-v1-b", "v1");
            AddBackend(server, "backend-v2", v2.Port, "v2");
        });
        Assert.That(mesh.Client.EndpointPorts(), Is.EqualTo(Ports(v1a, v2)), "the client starts with the two sliced endpoints");

        // Act 1: the slice of v1b is added.
        mesh.Server.Apply("EndpointSlice", "demo", "backend-v1-b", Slice(v1b.Port, "backend-v1-b"), SliceLabels);
        await TestWait.UntilAsync(() => mesh.Client.SubsetPorts("v1").SequenceEqual(Ports(v1a, v1b)), "v1b joins subset v1 on the client");
        await mesh.Client.UntilTrafficAsync(a => a.ContainsKey("v1b"), "requests reach the new backend v1b");

        // Act 2: the slice of v1a is deleted (its Pod too, as when a pod is removed).
        mesh.Server.Delete("EndpointSlice", "demo", "backend-v1-a");
        mesh.Server.Delete("Pod", "demo", "backend-v1-a");
        await TestWait.UntilAsync(() => mesh.Client.EndpointPorts().SequenceEqual(Ports(v1b, v2)), "v1a leaves the client's endpoints");
        var v1aBefore = v1a.Requests;
        var answers = await mesh.Client.SendAsync(500);

        // Assert
        TestContext.Out.WriteLine($"after the delete: {MeshTestClient.Describe(answers)}");
        Assert.Multiple(() =>
        {
            Assert.That(v1a.Requests, Is.EqualTo(v1aBefore), "no request reaches the deleted endpoint");
            Assert.That(answers.Keys, Is.SubsetOf(new[] { "v1b", "v2" }), "every request is answered by a remaining backend");
            Assert.That(answers.GetValueOrDefault("v1b"), Is.InRange(325, 475), "v1 (now v1b alone) keeps 80 %");
        });
    }

    [Test]
    public async Task VirtualServiceUpdateAndDelete_ReachTheClient_SplitFollows()
    {
        // Arrange
        await using var v1 = await NamedHttpBackend.StartAsync("v1").WaitAsync(TestWait.Timeout);
        await using var v2 = await NamedHttpBackend.StartAsync("v2").WaitAsync(TestWait.Timeout);
        await using var mesh = await KubernetesMesh.StartAsync(server =>
        {
            Seed(server, v1: 80, v2: 20);
            AddBackend(server, "backend-v1", v1.Port, "v1");
            AddBackend(server, "backend-v2", v2.Port, "v2");
        });
        var initial = await mesh.Client.SendAsync(1000);

        // Act 1: the weights are updated to 20/80.
        mesh.Server.Apply("VirtualService", "demo", "backend", VirtualServiceSpec(20, 80));
        await TestWait.UntilAsync(() => mesh.Client.Weights() is { Count: 2 } w && w["v1"] == 20 && w["v2"] == 80, "the 20/80 weights reach the client");
        var updated = await mesh.Client.SendAsync(1000);

        // Act 2: the VirtualService is deleted: the Service's own route (all endpoints, round robin) applies.
        mesh.Server.Delete("VirtualService", "demo", "backend");
        await TestWait.UntilAsync(() => mesh.Client.Routes() is [var only] && only.StartsWith("default:", StringComparison.Ordinal), "the default route replaces the VirtualService's routes");
        var deleted = await mesh.Client.SendAsync(1000);

        // Assert
        TestContext.Out.WriteLine($"80/20: {MeshTestClient.Describe(initial)}; 20/80: {MeshTestClient.Describe(updated)}; no VirtualService: {MeshTestClient.Describe(deleted)}");
        Assert.Multiple(() =>
        {
            Assert.That(initial.GetValueOrDefault("v2"), Is.InRange(150, 250), "80/20 before the update");
            Assert.That(initial.Values.Sum(), Is.EqualTo(initial.GetValueOrDefault("v1") + initial.GetValueOrDefault("v2")), "no failed request");
            Assert.That(updated.GetValueOrDefault("v2"), Is.InRange(750, 850), "20/80 after the update");
            Assert.That(updated.Values.Sum(), Is.EqualTo(updated.GetValueOrDefault("v1") + updated.GetValueOrDefault("v2")), "no failed request");
            Assert.That(deleted.GetValueOrDefault("v2"), Is.InRange(450, 550), "round robin over both endpoints without the VirtualService");
            Assert.That(deleted.Values.Sum(), Is.EqualTo(deleted.GetValueOrDefault("v1") + deleted.GetValueOrDefault("v2")), "no failed request");
        });
    }

    [Test]
    public async Task PodRelabelAndDestinationRuleUpdate_ReachTheClient_SubsetsFollowTheLabels()
    {
        // Arrange: canary requests (x-canary: 1) go to subset v2.
        await using var v1a = await NamedHttpBackend.StartAsync("v1a").WaitAsync(TestWait.Timeout);
        await using var v1b = await NamedHttpBackend.StartAsync("v1b").WaitAsync(TestWait.Timeout);
        await using var v2 = await NamedHttpBackend.StartAsync("v2").WaitAsync(TestWait.Timeout);
        await using var mesh = await KubernetesMesh.StartAsync(server =>
        {
            Seed(server, v1: 80, v2: 20);
            AddBackend(server, "backend-v1-a", v1a.Port, "v1");
            AddBackend(server, "backend-v1-b", v1b.Port, "v1");
            AddBackend(server, "backend-v2", v2.Port, "v2");
        });
        var before = await mesh.Client.SendAsync(100, canary: true);

        // Act 1: Pod v1b is relabelled version=v2, so it moves from subset v1 to subset v2.
        AddPod(mesh.Server, "backend-v1-b", "v2");
        await TestWait.UntilAsync(() => mesh.Client.SubsetPorts("v2").SequenceEqual(Ports(v1b, v2)), "v1b joins subset v2 on the client");
        var relabelled = await mesh.Client.SendAsync(100, canary: true);

        // Act 2: the DestinationRule's subset v2 now selects version=v1 (only v1a is left with that label).
        mesh.Server.Apply("DestinationRule", "demo", "backend", DestinationRuleSpec(v2Selects: "v1"));
        await TestWait.UntilAsync(() => mesh.Client.SubsetPorts("v2").SequenceEqual(Ports(v1a)), "subset v2 selects version=v1 on the client");
        var ruleUpdated = await mesh.Client.SendAsync(100, canary: true);

        // Assert
        TestContext.Out.WriteLine($"canary before: {MeshTestClient.Describe(before)}; after the relabel: {MeshTestClient.Describe(relabelled)}; after the rule update: {MeshTestClient.Describe(ruleUpdated)}");
        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo(new Dictionary<string, int> { ["v2"] = 100 }), "canary traffic on subset v2 = {v2}");
            Assert.That(relabelled.Keys, Is.EquivalentTo(new[] { "v1b", "v2" }), "canary traffic on subset v2 = {v1b, v2}");
            Assert.That(relabelled.Values.Sum(), Is.EqualTo(100));
            Assert.That(ruleUpdated, Is.EqualTo(new Dictionary<string, int> { ["v1a"] = 100 }), "canary traffic on subset v2 = {v1a}");
        });
    }

    [Test]
    public async Task HistoryCompactedDuringAChange_RelistsAfter410_ClientEndsWithExactlyTheServerEndpoints()
    {
        // Arrange: v1a, v1b and v2; v1c has no Pod or slice yet.
        await using var v1a = await NamedHttpBackend.StartAsync("v1a").WaitAsync(TestWait.Timeout);
        await using var v1b = await NamedHttpBackend.StartAsync("v1b").WaitAsync(TestWait.Timeout);
        await using var v1c = await NamedHttpBackend.StartAsync("v1c").WaitAsync(TestWait.Timeout);
        await using var v2 = await NamedHttpBackend.StartAsync("v2").WaitAsync(TestWait.Timeout);
        await using var mesh = await KubernetesMesh.StartAsync(server =>
        {
            Seed(server, v1: 80, v2: 20);
            AddBackend(server, "backend-v1-a", v1a.Port, "v1");
            AddBackend(server, "backend-v1-b", v1b.Port, "v1");
            AddBackend(server, "backend-v2", v2.Port, "v2");
        });
        Assert.That(mesh.Client.EndpointPorts(), Is.EqualTo(Ports(v1a, v1b, v2)));
        await TestWait.UntilAsync(() => mesh.Server.WatchCount("EndpointSlice") == 1, "the EndpointSlice watch is open");

        // Act: the open watches miss a change (v1b removed, v1c added), the history is compacted past it, and the
        // watches drop: the re-watch from the old resourceVersion gets 410 Gone, so only a relist can bring the change.
        mesh.Server.StallWatches();
        mesh.Server.Delete("EndpointSlice", "demo", "backend-v1-b");
        mesh.Server.Delete("Pod", "demo", "backend-v1-b");
        AddBackend(mesh.Server, "backend-v1-c", v1c.Port, "v1");
        mesh.Server.CompactHistory();
        var changed = Stopwatch.StartNew();
        mesh.Server.DropWatches();
        await TestWait.UntilAsync(() => mesh.Client.EndpointPorts().SequenceEqual(Ports(v1a, v1c, v2)), "the client has exactly v1a, v1c and v2");
        var converged = changed.Elapsed;
        var v1bBefore = v1b.Requests;
        var answers = await mesh.Client.SendAsync(500);

        // Assert
        TestContext.Out.WriteLine($"relisted and converged {converged.TotalMilliseconds:F0} ms after the watches dropped; then {MeshTestClient.Describe(answers)}");
        var storeSlices = mesh.ControlPlane.Store.Snapshot().Where(o => o.Kind == "EndpointSlice")
            .Select(o => $"{o.Namespace}/{o.Name}@{o.Body.GetProperty("metadata").GetProperty("resourceVersion").GetString()}").Order(StringComparer.Ordinal);
        Assert.Multiple(() =>
        {
            Assert.That(mesh.Logs.GetSnapshot().Any(r => r.Message.Contains("kubernetes:EndpointSlice: resourceVersion", StringComparison.Ordinal) && r.Message.Contains("410 Gone", StringComparison.Ordinal)), Is.True, "the EndpointSlice watch got 410 Gone");
            Assert.That(mesh.Server.ListCount("EndpointSlice"), Is.EqualTo(2), "EndpointSlices were relisted once");
            Assert.That(storeSlices, Is.EqualTo(mesh.Server.State("EndpointSlice")), "the control plane's slices are exactly the server's");
            Assert.That(mesh.Client.SubsetPorts("v1"), Is.EqualTo(Ports(v1a, v1c)), "subset v1: v1b is gone (no stale endpoint), v1c is there (no lost endpoint)");
            Assert.That(v1b.Requests, Is.EqualTo(v1bBefore), "no request reaches the removed backend after convergence");
            Assert.That(answers.Keys, Is.SubsetOf(new[] { "v1a", "v1c", "v2" }), "every request is answered by a current backend");
            Assert.That(answers.GetValueOrDefault("v1c"), Is.GreaterThan(100), "the added backend takes its share of v1");
        });
    }

    [Test]
    public async Task WatchStalledSilently_IdleWatchdogResumes_ChangeMadeDuringTheStallArrives()
    {
        // Arrange: a short idle timeout, and bookmarks so that only a stalled watch goes idle.
        await using var v1a = await NamedHttpBackend.StartAsync("v1a").WaitAsync(TestWait.Timeout);
        await using var v1b = await NamedHttpBackend.StartAsync("v1b").WaitAsync(TestWait.Timeout);
        await using var v2 = await NamedHttpBackend.StartAsync("v2").WaitAsync(TestWait.Timeout);
        var idleTimeout = TimeSpan.FromSeconds(1);
        await using var mesh = await KubernetesMesh.StartAsync(
            server =>
            {
                server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
                Seed(server, v1: 80, v2: 20);
                AddBackend(server, "backend-v1-a", v1a.Port, "v1");
                AddPod(server, "backend-v1-b", "v1");
                AddBackend(server, "backend-v2", v2.Port, "v2");
            },
            o =>
            {
                o.IdleTimeout = idleTimeout;
                o.InitialBackoff = TimeSpan.FromMilliseconds(20);
                o.MaxBackoff = TimeSpan.FromMilliseconds(200);
            });
        await TestWait.UntilAsync(() => mesh.Server.WatchCount("EndpointSlice") == 1 && mesh.Server.BookmarksSent("EndpointSlice") > 0, "the EndpointSlice watch is open and receives bookmarks");

        // Act: the watch connection stays open but silent; a slice is added meanwhile.
        mesh.Server.StallWatches();
        var resourceVersionBefore = long.Parse(mesh.Server.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture);
        var added = Stopwatch.StartNew();
        mesh.Server.Apply("EndpointSlice", "demo", "backend-v1-b", Slice(v1b.Port, "backend-v1-b"), SliceLabels);
        await TestWait.UntilAsync(() => mesh.Client.SubsetPorts("v1").SequenceEqual(Ports(v1a, v1b)), "the slice added during the stall reaches the client");
        var arrived = added.Elapsed;
        await mesh.Client.UntilTrafficAsync(a => a.ContainsKey("v1b"), "requests reach v1b");

        // Assert
        TestContext.Out.WriteLine($"the change made during the stall reached the client after {arrived.TotalMilliseconds:F0} ms (idle timeout {idleTimeout.TotalMilliseconds:F0} ms)");
        var sliceWatches = mesh.Server.Requests.Where(r => r.Watch && r.Kind == "EndpointSlice").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(mesh.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Warning && r.Message.Contains("kubernetes:EndpointSlice: no event or bookmark", StringComparison.Ordinal)), Is.True, "the watchdog noticed the silent watch");
            Assert.That(sliceWatches, Has.Count.GreaterThanOrEqualTo(2), "the watch was re-opened");
            Assert.That(long.Parse(sliceWatches[1].ResourceVersion, System.Globalization.CultureInfo.InvariantCulture), Is.LessThanOrEqualTo(resourceVersionBefore), "it resumed from before the change, so the history replayed it");
            Assert.That(mesh.Server.ListCount("EndpointSlice"), Is.EqualTo(1), "resumed without a relist");
            Assert.That(arrived, Is.GreaterThan(idleTimeout * 0.5), "the change came with the resumed watch, not the stalled one");
        });
    }

    private static readonly Dictionary<string, string> SliceLabels = new() { ["kubernetes.io/service-name"] = "backend" };

    private static int[] Ports(params NamedHttpBackend[] backends) => [.. backends.Select(b => b.Port).Order()];

    private static JsonObject SpecOf(string json) => new() { ["spec"] = JsonNode.Parse(json) };

    /// <summary>The Service, the VirtualService (with the canary route) and the DestinationRule of the seed scenario.</summary>
    private static void Seed(FakeKubeApiServer server, int v1, int v2)
    {
        server.Apply("Service", "demo", "backend", SpecOf("""{"selector":{"app":"backend"},"ports":[{"name":"http","port":8080,"targetPort":"http","protocol":"TCP"}]}"""));
        server.Apply("VirtualService", "demo", "backend", VirtualServiceSpec(v1, v2));
        server.Apply("DestinationRule", "demo", "backend", DestinationRuleSpec(v2Selects: "v2"));
    }

    [Test]
    public async Task DeploymentPods_IstioMetricsOfTheClient_NameTheDestinationWorkload()
    {
        // Arrange: v1 is a Deployment's Pod (through its ReplicaSet), v2 a bare Pod; the control plane runs in cluster "east".
        await using var v1 = await NamedHttpBackend.StartAsync("v1").WaitAsync(TestWait.Timeout);
        await using var v2 = await NamedHttpBackend.StartAsync("v2").WaitAsync(TestWait.Timeout);
        await using var mesh = await KubernetesMesh.StartAsync(
            server =>
            {
                Seed(server, v1: 50, v2: 50);
                AddPod(server, "backend-v1-5f7b9c8d4-q8r2t", "v1", new Dictionary<string, string> { ["pod-template-hash"] = "5f7b9c8d4" }, """[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"backend-v1-5f7b9c8d4","uid":"rs-1","controller":true}]""");
                server.Apply("EndpointSlice", "demo", "backend-v1", Slice(v1.Port, "backend-v1-5f7b9c8d4-q8r2t"), SliceLabels);
                AddBackend(server, "backend-v2", v2.Port, "v2");
            },
            clusterId: "east");
        var meters = mesh.Client.Services.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_requests_total");

        // Act
        var answers = await mesh.Client.SendAsync(200);

        // Assert
        var byWorkload = requests.GetMeasurementSnapshot()
            .GroupBy(m => $"{m.Tags["destination_workload"]}/{m.Tags["destination_workload_namespace"]}/{m.Tags["destination_version"]}/{m.Tags["destination_cluster"]}")
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        TestContext.Out.WriteLine($"answers: {MeshTestClient.Describe(answers)}; by workload: {string.Join(", ", byWorkload.Select(w => $"{w.Key}={w.Value}"))}");
        Assert.That(byWorkload, Is.EquivalentTo(new Dictionary<string, long>
        {
            ["backend-v1/demo/v1/east"] = answers.GetValueOrDefault("v1"),
            ["backend-v2/demo/v2/east"] = answers.GetValueOrDefault("v2"),
        }));
    }

    private static JsonObject VirtualServiceSpec(int v1, int v2) => SpecOf("""
        {"hosts":["backend"],"http":[
          {"name":"canary","match":[{"headers":{"x-canary":{"exact":"1"}}}],"route":[{"destination":{"host":"backend","subset":"v2"}}]},
          {"name":"split","route":[{"destination":{"host":"backend","subset":"v1"},"weight":V1_WEIGHT},{"destination":{"host":"backend","subset":"v2"},"weight":V2_WEIGHT}]}]}
        """.Replace("V1_WEIGHT", v1.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal).Replace("V2_WEIGHT", v2.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

    private static JsonObject DestinationRuleSpec(string v2Selects) => SpecOf($$$"""
        {"host":"backend","trafficPolicy":{"loadBalancer":{"simple":"ROUND_ROBIN"}},"subsets":[
          {"name":"v1","labels":{"version":"v1"}},
          {"name":"v2","labels":{"version":"{{{v2Selects}}}"}}]}
        """);

    private static void AddBackend(FakeKubeApiServer server, string name, int port, string version)
    {
        AddPod(server, name, version);
        server.Apply("EndpointSlice", "demo", name, Slice(port, name), SliceLabels);
    }

    private static void AddPod(FakeKubeApiServer server, string name, string version, Dictionary<string, string>? labels = null, string? ownerReferences = null)
    {
        var podLabels = new Dictionary<string, string>(labels ?? []) { ["app"] = "backend", ["version"] = version };
        server.Apply(
            "Pod",
            "demo",
            name,
            new JsonObject
            {
                ["spec"] = JsonNode.Parse("""{"containers":[{"name":"app","image":"backend","ports":[{"name":"http","containerPort":8080}]}]}"""),
                ["status"] = JsonNode.Parse("""{"phase":"Running","podIP":"127.0.0.1"}"""),
            },
            podLabels,
            ownerReferences is null ? null : new JsonObject { ["ownerReferences"] = JsonNode.Parse(ownerReferences) });
    }

    private static JsonObject Slice(int port, string pod) => JsonNode.Parse($$$"""
        {"addressType":"IPv4",
         "endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":true,"serving":true,"terminating":false},"targetRef":{"kind":"Pod","namespace":"demo","name":"{{{pod}}}"}}],
         "ports":[{"name":"http","port":{{{port}}},"protocol":"TCP"}]}
        """)!.AsObject();

    /// <summary>
    /// A fake API server, a kubeconfig for it, the control plane reading it (its Kubernetes source from
    /// <see cref="ControlPlaneOptions.KubeconfigPath"/>, with the source settings a test gives) and our xDS client.
    /// </summary>
    private sealed class KubernetesMesh : IAsyncDisposable
    {
        private readonly string _kubeconfig;
        private readonly ILoggerFactory _loggerFactory;

        private KubernetesMesh(FakeKubeApiServer server, string kubeconfig, ILoggerFactory loggerFactory, FakeLogCollector logs)
        {
            Server = server;
            _kubeconfig = kubeconfig;
            _loggerFactory = loggerFactory;
            Logs = logs;
        }

        public FakeKubeApiServer Server { get; }

        public FakeLogCollector Logs { get; }

        public ControlPlaneApp ControlPlane { get; private set; } = null!;

        public MeshTestClient Client { get; private set; } = null!;

        public static async Task<KubernetesMesh> StartAsync(Action<FakeKubeApiServer> seed, Action<KubernetesSourceOptions>? configureSource = null, string clusterId = "Kubernetes")
        {
            var server = await FakeKubeApiServer.StartAsync().WaitAsync(TestWait.Timeout);
            seed(server);
            var kubeconfig = Path.Combine(Path.GetTempPath(), $"mesh-kubeconfig-{Guid.NewGuid():N}.yaml");
            await File.WriteAllTextAsync(kubeconfig, $"""
                apiVersion: v1
                kind: Config
                clusters:
                  - name: fake
                    cluster:
                      server: {server.Address.ToString().TrimEnd('/')}
                users:
                  - name: fake
                    user:
                      token: not-checked
                contexts:
                  - name: fake
                    context:
                      cluster: fake
                      user: fake
                current-context: fake
                """);
            var provider = new FakeLoggerProvider();
            var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning).AddProvider(provider));
            var options = new ControlPlaneOptions { XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0", LoggerFactory = loggerFactory, KubeconfigPath = kubeconfig, ConfigureKubernetes = configureSource, ClusterId = clusterId };

            var mesh = new KubernetesMesh(server, kubeconfig, loggerFactory, provider.Collector);
            try
            {
                mesh.ControlPlane = await ControlPlaneApp.StartAsync(options).WaitAsync(TestWait.Timeout);

                await TestWait.UntilAsync(() => mesh.ControlPlane.Store.IsSynced && mesh.ControlPlane.Host.Status.Published > 0, "the control plane lists every kind and publishes");
                mesh.Client = await MeshTestClient.StartAsync(mesh.ControlPlane.XdsPort).WaitAsync(TestWait.Timeout);
            }
            catch
            {
                await mesh.DisposeAsync();
                throw;
            }

            return mesh;
        }

        public async ValueTask DisposeAsync()
        {
            if (Client is not null)
            {
                await Client.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
            }

            if (ControlPlane is not null)
            {
                await ControlPlane.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
            }

            await Server.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
            _loggerFactory.Dispose();
            File.Delete(_kubeconfig);
        }
    }
}
