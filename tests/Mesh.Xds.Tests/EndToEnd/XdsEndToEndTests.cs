using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Xds.Server;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Xds.Tests.EndToEnd;

/// <summary>
/// The whole path: our xDS server engine → ADS stream → Mesh's xDS client → decode and validate → one
/// MeshSnapshot → a mesh HttpClient sending to real Kestrel backends. Config changes arrive while a steady
/// load runs: traffic follows within a second and no request fails across any switch.
/// </summary>
[NonParallelizable]
public class XdsEndToEndTests
{
    private static readonly ProxylessResources Backend = new("backend.shop.svc.cluster.local", 8080);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    [Test]
    public async Task EndpointsWeightsAndRoutes_ChangeTrafficWithinASecond_WithNoFailedRequest()
    {
        // Arrange: v1 = {a}, v2 = {b}; everything to v1.
        await using var server = await ServerTestHost.StartAsync(o => o.NodeHash = XdsNodeHash.Constant("all"));
        await using var a = await NamedHttpBackend.StartAsync("a");
        await using var b = await NamedHttpBackend.StartAsync("b");
        await using var c = await NamedHttpBackend.StartAsync("c");
        server.Cache.SetSnapshot("all", Backend.Snapshot("1", [("v1", [a.Port]), ("v2", [b.Port])], Backend.To("v1")));
        await using var client = await StartClientAsync(server);
        await using var load = SteadyLoad.Start(client.Http, "http://backend.shop.svc.cluster.local:8080/orders", canary: false);
        await using var canary = SteadyLoad.Start(client.Http, "http://backend.shop.svc.cluster.local:8080/orders", canary: true);
        await load.UntilAsync(window => window.Count >= 20 && window.All(n => n == "a"), "all traffic on a (v1)");

        // Act + Assert 1: a 50/50 weight split between v1 and v2.
        var watch = Stopwatch.StartNew();
        server.Cache.SetSnapshot("all", Backend.Snapshot("2", [("v1", [a.Port]), ("v2", [b.Port])], Backend.Split(("v1", 50), ("v2", 50))));
        await load.UntilAsync(window => window.Count(n => n == "a") >= 10 && window.Count(n => n == "b") >= 10, "traffic split between a and b");
        Assert.That(watch.Elapsed, Is.LessThan(Settle + load.Window), "the weight change took too long to reach traffic");

        // Act + Assert 2: v2's endpoints change from b to c (EDS only).
        watch.Restart();
        server.Cache.SetSnapshot("all", Backend.Snapshot("3", [("v1", [a.Port]), ("v2", [c.Port])], Backend.Split(("v1", 50), ("v2", 50))));
        await load.UntilAsync(window => window.Count(n => n == "c") >= 10 && !window.Contains("b"), "v2's traffic moves from b to c");
        Assert.That(watch.Elapsed, Is.LessThan(Settle + load.Window), "the endpoint change took too long to reach traffic");

        // Act + Assert 3: a header route sends canary requests to v2 only, the rest to v1.
        watch.Restart();
        server.Cache.SetSnapshot("all", Backend.Snapshot("4", [("v1", [a.Port]), ("v2", [c.Port])], Backend.WhenHeader("x-canary", "1", "v2"), Backend.To("v1")));
        await load.UntilAsync(window => window.Count >= 20 && window.All(n => n == "a"), "plain traffic on v1 only");
        await canary.UntilAsync(window => window.Count >= 20 && window.All(n => n == "c"), "canary traffic on v2 only");
        Assert.That(watch.Elapsed, Is.LessThan(Settle + load.Window), "the route change took too long to reach traffic");

        // And across every switch, not one request failed.
        var failures = load.Failures.Concat(canary.Failures).ToList();
        Assert.That(failures, Is.Empty, $"{failures.Count} of {load.Total + canary.Total} requests failed: {string.Join("; ", failures.Take(5))}");
        Assert.That(load.Total, Is.GreaterThan(100));
    }

    [Test]
    public async Task InvalidUpdate_IsRejected_AndTheLastGoodConfigurationKeepsServing()
    {
        // Arrange
        await using var server = await ServerTestHost.StartAsync(o => o.NodeHash = XdsNodeHash.Constant("all"));
        await using var a = await NamedHttpBackend.StartAsync("a");
        server.Cache.SetSnapshot("all", Backend.Snapshot("1", [("v1", [a.Port])], Backend.To("v1")));
        await using var client = await StartClientAsync(server);
        await using var load = SteadyLoad.Start(client.Http, "http://backend.shop.svc.cluster.local:8080/", canary: false);
        await load.UntilAsync(window => window.Count >= 10, "traffic on a");

        // Act: a route configuration whose retry back-off has a zero base interval, which gRFC A44 rejects.
        var bad = Backend.To("v1");
        bad.Route_.RetryPolicy = new Envoy.Config.Route.V3.RetryPolicy { RetryOn = "5xx", NumRetries = 2, RetryBackOff = new() { BaseInterval = new Google.Protobuf.WellKnownTypes.Duration() } };
        server.Cache.SetSnapshot("all", Backend.Snapshot("2", [("v1", [a.Port])], bad));

        // Assert: the server sees a NACK naming the route configuration, and traffic never stops.
        await ServerTestClient.UntilAsync(
            () => server.Cache.Clients.Any(s => s.GetTypeStatus(XdsResourceSnapshot.RouteConfigurationTypeUrl)?.IsRejected == true),
            "the client NACKs the bad route configuration");
        var nack = server.Cache.Clients.Select(s => s.GetTypeStatus(XdsResourceSnapshot.RouteConfigurationTypeUrl)?.LastNack).First(n => n is not null)!;
        Assert.That(nack.ErrorMessage, Does.Contain(Backend.Target).And.Contain("base_interval"));
        var before = load.Total;
        await load.UntilAsync(window => load.Total >= before + 20, "traffic keeps flowing on the last good configuration");
        Assert.That(load.Failures, Is.Empty);
    }

    [Test]
    public async Task ServerGoesAway_CachedConfigurationKeepsServing()
    {
        // Arrange
        var server = await ServerTestHost.StartAsync(o => o.NodeHash = XdsNodeHash.Constant("all"));
        await using var a = await NamedHttpBackend.StartAsync("a");
        await using var b = await NamedHttpBackend.StartAsync("b");
        server.Cache.SetSnapshot("all", Backend.Snapshot("1", [("v1", [a.Port]), ("v2", [b.Port])], Backend.Split(("v1", 50), ("v2", 50))));
        await using var client = await StartClientAsync(server);
        await using var load = SteadyLoad.Start(client.Http, "http://backend.shop.svc.cluster.local:8080/", canary: false);
        await load.UntilAsync(window => window.Contains("a") && window.Contains("b"), "traffic on a and b");

        // Act: the xDS server stops (the client keeps retrying it with backoff).
        await server.DisposeAsync();
        var before = load.Total;

        // Assert: requests keep flowing on the cached configuration, to both subsets, without a failure.
        await load.UntilAsync(window => load.Total >= before + 200 && window.Contains("a") && window.Contains("b"), "traffic keeps flowing with the server gone");
        Assert.That(load.Failures, Is.Empty);
    }

    private static async Task<XdsClientHost> StartClientAsync(ServerTestHost server)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh().AddXds(o =>
        {
            o.Targets.Add(Backend.Target);
            o.Bootstrap = $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{server.Address.Port}}", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": "e2e", "cluster": "frontend" } }""";
        });
        services.AddHttpClient("backend").AddMesh();
        var provider = services.BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        await ServerTestClient.UntilAsync(() => state.Current.TryGetService(Backend.Host, out var s) && s.Routes.Length > 0, "the first xDS configuration is published");
        return new XdsClientHost(provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient("backend"));
    }

    private sealed class XdsClientHost(ServiceProvider provider, HttpClient http) : IAsyncDisposable
    {
        public HttpClient Http { get; } = http;

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await provider.DisposeAsync();
        }
    }

    /// <summary>Two request loops, each sending one request after another; records who answered and every failure.</summary>
    private sealed class SteadyLoad : IAsyncDisposable
    {
        private readonly ConcurrentQueue<string> _answers = new();
        private readonly ConcurrentQueue<string> _failures = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _loops;
        private int _total;

        private SteadyLoad(HttpClient http, string uri, bool canary)
        {
            _loops = [Loop(http, uri, canary), Loop(http, uri, canary)];
        }

        /// <summary>How much recent traffic the conditions look at.</summary>
        public TimeSpan Window { get; } = TimeSpan.FromMilliseconds(500);

        public int Total => Volatile.Read(ref _total);

        public IReadOnlyList<string> Failures => [.. _failures];

        public static SteadyLoad Start(HttpClient http, string uri, bool canary) => new(http, uri, canary);

        /// <summary>Waits until the answers since the call (at most the last 40) satisfy the condition.</summary>
        public async Task UntilAsync(Func<IReadOnlyList<string>, bool> condition, string what)
        {
            _answers.Clear();
            await ServerTestClient.UntilAsync(() => condition([.. _answers.TakeLast(40)]), what);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_loops);
            _stop.Dispose();
        }

        private async Task Loop(HttpClient http, string uri, bool canary)
        {
            while (!_stop.IsCancellationRequested)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                if (canary)
                {
                    request.Headers.Add("x-canary", "1");
                }

                try
                {
                    using var response = await http.SendAsync(request, _stop.Token);
                    var body = await response.Content.ReadAsStringAsync(_stop.Token);
                    if (response.IsSuccessStatusCode)
                    {
                        _answers.Enqueue(body);
                    }
                    else
                    {
                        _failures.Enqueue($"{(int)response.StatusCode} {body}");
                    }

                    Interlocked.Increment(ref _total);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (HttpRequestException e)
                {
                    _failures.Enqueue(e.Message + (e.InnerException is { } inner ? " ← " + inner.Message : string.Empty));
                    Interlocked.Increment(ref _total);
                }
            }
        }
    }
}
