using System.Net;
using System.Text.Json;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Xds.Tests.EndToEnd;
using Microsoft.Extensions.DependencyInjection;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>
/// The seed scenario end to end: objects in the store → the control plane (debounce, translation, xDS server) → our
/// own xDS client (ADS, decode, MeshSnapshot) → a mesh HttpClient → real Kestrel backends.
/// </summary>
[NonParallelizable]
public sealed class ControlPlaneEndToEndTests
{
    private const string Target = "backend.demo.svc.cluster.local:8080";
    private const string Url = "http://backend.demo.svc.cluster.local:8080/orders";

    [Test]
    public async Task SeedScenario_OwnClient_SplitsEightyTwentyAndRoutesCanaryToV2()
    {
        // Arrange: backends v1 (two) and v2; the seed objects point at them.
        await using var v1a = await NamedHttpBackend.StartAsync("v1a");
        await using var v1b = await NamedHttpBackend.StartAsync("v1b");
        await using var v2 = await NamedHttpBackend.StartAsync("v2");
        var store = new ConfigStore();
        store.Register("test");
        store.Replace("test", Seed(v1a.Port, v1b.Port, v2.Port));
        store.MarkSynced("test");
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { Store = store, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);
        await using var client = await StartClientAsync(controlPlane.XdsPort);

        // Act: 1,000 plain requests and 100 canary requests.
        var plain = await SendAsync(client.Http, 1000, canary: false);
        var canary = await SendAsync(client.Http, 100, canary: true);

        // Assert
        TestContext.Out.WriteLine($"plain: {string.Join(", ", plain.OrderBy(p => p.Key))}; canary: {string.Join(", ", canary.OrderBy(p => p.Key))}");
        var v2Share = plain.GetValueOrDefault("v2") / 1000.0;
        Assert.Multiple(() =>
        {
            Assert.That(plain.Keys, Is.SubsetOf(new[] { "v1a", "v1b", "v2" }), "every plain request is answered by a backend");
            Assert.That(plain.Values.Sum(), Is.EqualTo(1000));
            Assert.That(v2Share, Is.InRange(0.15, 0.25), $"v2 got {v2Share:P1} of the plain requests; the split is 80/20");
            Assert.That(plain.GetValueOrDefault("v1a"), Is.GreaterThan(250), "v1's round robin uses both v1 endpoints");
            Assert.That(plain.GetValueOrDefault("v1b"), Is.GreaterThan(250), "v1's round robin uses both v1 endpoints");
            Assert.That(canary, Is.EqualTo(new Dictionary<string, int> { ["v2"] = 100 }), "x-canary: 1 goes to v2 only");
        });
    }

    [Test]
    public async Task StoreChange_ReachesTraffic_AndAnInvalidEditKeepsTheLastValidObject()
    {
        // Arrange
        await using var v1 = await NamedHttpBackend.StartAsync("v1");
        await using var v2 = await NamedHttpBackend.StartAsync("v2");
        var store = new ConfigStore();
        store.Replace("test", Seed(v1.Port, v1.Port, v2.Port));
        store.MarkSynced("test");
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { Store = store, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);
        await using var client = await StartClientAsync(controlPlane.XdsPort);

        // Act 1: all plain traffic to v2.
        store.Upsert("test", VirtualService(0, 100));
        await TestWait.UntilAsync(() => controlPlane.Host.Status.Published >= 2, "the change is published");
        await UntilTrafficAsync(client.Http, answers => answers.All(a => a == "v2"), "plain traffic on v2 only");

        // Act 2: an invalid edit (weights add up to 90) is reported and changes nothing.
        store.Upsert("test", VirtualService(70, 20));
        await TestWait.UntilAsync(() => controlPlane.Host.Status.Published >= 3, "the next translation runs");
        Assert.That(controlPlane.Host.Status.Errors, Has.Some.Contains("the weights add up to 90"));
        var answers = await SendAsync(client.Http, 50, canary: false);
        Assert.That(answers, Is.EqualTo(new Dictionary<string, int> { ["v2"] = 50 }), "the last valid VirtualService stays in force");

        // Assert: the admin endpoints.
        using var admin = new HttpClient { BaseAddress = controlPlane.AdminAddress, Timeout = TestWait.Timeout };
        Assert.That((await admin.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await admin.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var dump = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/debug/config_dump", UriKind.Relative)));
        var listeners = dump.RootElement.GetProperty("resources").GetProperty("type.googleapis.com/envoy.config.listener.v3.Listener");
        Assert.That(listeners[0].GetProperty("name").GetString(), Is.EqualTo(Target));
        Assert.That(dump.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString()), Has.Some.Contains("weights add up to 90"));
        using var clients = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/debug/clients", UriKind.Relative)));
        Assert.That(clients.RootElement.EnumerateArray().Select(c => c.GetProperty("nodeId").GetString()), Does.Contain("e2e"));
    }

    private static ConfigObject VirtualService(int v1, int v2) => Object(TranslationTestObjects.Istio, "VirtualService", "demo", "backend", $$"""
        {"hosts":["backend"],"http":[{"name":"split","route":[{"destination":{"host":"backend","subset":"v1"},"weight":{{v1}}},{"destination":{"host":"backend","subset":"v2"},"weight":{{v2}}}]}]}
        """);

    private static async Task UntilTrafficAsync(HttpClient http, Func<IReadOnlyList<string>, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestWait.Timeout;
        while (true)
        {
            var answers = new List<string>();
            for (var i = 0; i < 20; i++)
            {
                answers.Add(await http.GetStringAsync(new Uri(Url)));
            }

            if (condition(answers))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for: {what}; last answers: {string.Join(",", answers)}");
            }
        }
    }

    private static async Task<Dictionary<string, int>> SendAsync(HttpClient http, int count, bool canary)
    {
        var answers = new Dictionary<string, int>();
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, Url);
            if (canary)
            {
                request.Headers.Add("x-canary", "1");
            }

            using var response = await http.SendAsync(request);
            var name = response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : $"status {(int)response.StatusCode}";
            answers[name] = answers.GetValueOrDefault(name) + 1;
        }

        return answers;
    }

    private static async Task<ClientHost> StartClientAsync(int xdsPort)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh().AddXds(o =>
        {
            o.Targets.Add(Target);
            o.Bootstrap = $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{xdsPort}}", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": "e2e", "cluster": "frontend" } }""";
        });
        services.AddHttpClient("backend", c => c.Timeout = TestWait.Timeout).AddMesh();
        var provider = services.BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        await TestWait.UntilAsync(() => state.Current.TryGetService("backend.demo.svc.cluster.local", out var s) && s.Routes.Length > 0, "the first xDS configuration reaches the client");
        return new ClientHost(provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient("backend"));
    }

    private sealed class ClientHost(ServiceProvider provider, HttpClient http) : IAsyncDisposable
    {
        public HttpClient Http { get; } = http;

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await provider.DisposeAsync();
        }
    }
}
