using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Model;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>
/// Our own xDS client (<c>AddMesh().AddXds(...)</c>) connected to a control plane, with a mesh <see cref="HttpClient"/>
/// for the seed scenario's Service (<c>backend.demo.svc.cluster.local:8080</c>) and views of what it has applied.
/// </summary>
internal sealed class MeshTestClient : IAsyncDisposable
{
    public const string Host = "backend.demo.svc.cluster.local";
    public const string Target = Host + ":8080";
    public static readonly Uri Url = new("http://" + Target + "/orders");

    private readonly ServiceProvider _provider;
    private readonly ConcurrentQueue<(long Timestamp, MeshSnapshot Snapshot)> _applied = new();

    private MeshTestClient(ServiceProvider provider)
    {
        _provider = provider;
        State = provider.GetRequiredService<MeshState>();
        State.SnapshotChanged += snapshot => _applied.Enqueue((Stopwatch.GetTimestamp(), snapshot));
        Http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("backend");
    }

    public HttpClient Http { get; }

    /// <summary>The client's services (its meters, for Istio's metrics, which the client records).</summary>
    public IServiceProvider Services => _provider;

    public MeshState State { get; }

    /// <summary>Every snapshot the client applied since it started, with the <see cref="Stopwatch"/> timestamp it arrived at.</summary>
    public IReadOnlyList<(long Timestamp, MeshSnapshot Snapshot)> Applied => [.. _applied];

    /// <summary>Starts the client and waits until the first configuration for the Service has arrived.</summary>
    public static async Task<MeshTestClient> StartAsync(int xdsPort, string nodeId = "e2e")
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh().AddXds(o =>
        {
            o.Targets.Add(Target);
            o.Bootstrap = $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{xdsPort}}", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": "{{nodeId}}", "cluster": "frontend" } }""";
        }).AddIstioMetrics();
        services.AddHttpClient("backend", c => c.Timeout = TestWait.Timeout).AddMesh();
        var client = new MeshTestClient(services.BuildServiceProvider());
        try
        {
            await TestWait.UntilAsync(() => client.Routes().Count > 0, "the first xDS configuration reaches the client");
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }

        return client;
    }

    /// <summary>The client's routes for the Service, each as <c>name: cluster=weight, ...</c>.</summary>
    public IReadOnlyList<string> Routes() =>
        State.Current.TryGetService(Host, out var service)
            ? [.. service.Routes.Select(r => $"{r.Name}: {string.Join(", ", r.Destinations.Select(d => $"{d.Cluster.Name}={d.Weight}"))}")]
            : [];

    /// <summary>The weights of the route named <paramref name="route"/> by subset (<c>v1</c>, <c>v2</c>), or empty when there is no such route.</summary>
    public IReadOnlyDictionary<string, int> Weights(string route = "split") =>
        State.Current.TryGetService(Host, out var service) && service.Routes.FirstOrDefault(r => r.Name == route) is { } found
            ? found.Destinations.ToDictionary(d => Subset(d.Cluster.Name), d => d.Weight)
            : new Dictionary<string, int>();

    /// <summary>The ports of every endpoint the client knows for the Service (all its clusters), sorted.</summary>
    public IReadOnlyList<int> EndpointPorts() =>
        [.. State.Current.Clusters.Values.Where(c => c.Name.EndsWith(Host, StringComparison.Ordinal)).SelectMany(c => c.Endpoints).Select(e => e.Port).Distinct().Order()];

    /// <summary>The ports of the endpoints of one subset's cluster (<c>outbound|8080|v1|...</c>), sorted.</summary>
    public IReadOnlyList<int> SubsetPorts(string subset) =>
        [.. State.Current.Clusters.Values.Where(c => Subset(c.Name) == subset).SelectMany(c => c.Endpoints).Select(e => e.Port).Distinct().Order()];

    /// <summary>Sends <paramref name="count"/> requests one after another; answers by backend name, failures as <c>status N</c> or the exception type.</summary>
    public async Task<Dictionary<string, int>> SendAsync(int count, bool canary = false)
    {
        var answers = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var name = await SendOneAsync(canary);
            answers[name] = answers.GetValueOrDefault(name) + 1;
        }

        return answers;
    }

    /// <summary>Sends batches of 20 requests until one batch satisfies <paramref name="condition"/>, failing after <see cref="TestWait.Timeout"/>.</summary>
    public async Task UntilTrafficAsync(Func<IReadOnlyDictionary<string, int>, bool> condition, string what, bool canary = false)
    {
        var deadline = DateTime.UtcNow + TestWait.Timeout;
        while (true)
        {
            var answers = await SendAsync(20, canary);
            if (condition(answers))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for: {what}; last answers: {Describe(answers)}");
            }
        }
    }

    public async Task<string> SendOneAsync(bool canary = false, CancellationToken cancellationToken = default)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, Url);
            if (canary)
            {
                request.Headers.Add("x-canary", "1");
            }

            using var response = await Http.SendAsync(request, cancellationToken);
            return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(cancellationToken) : $"status {(int)response.StatusCode}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return $"error {ex.GetType().Name}: {ex.Message}";
        }
    }

    public static string Describe(IReadOnlyDictionary<string, int> answers) => string.Join(", ", answers.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}={a.Value}"));

    /// <summary>The subset of an xDS cluster name <c>outbound|PORT|SUBSET|HOST</c> (empty for the Service's own cluster).</summary>
    private static string Subset(string clusterName) => clusterName.Split('|') is { Length: 4 } parts ? parts[2] : clusterName;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _provider.DisposeAsync();
    }
}

/// <summary>
/// Concurrent request loops against the Service: every answer is recorded in completion order with its
/// <see cref="Stopwatch"/> timestamp, so a split can be measured over any window afterwards.
/// </summary>
internal sealed class TrafficLoop : IAsyncDisposable
{
    private readonly MeshTestClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<(long Timestamp, string Answer)> _records = new(capacity: 100_000);
    private readonly Task[] _loops;

    private TrafficLoop(MeshTestClient client, int concurrency)
    {
        _client = client;
        _loops = [.. Enumerable.Range(0, concurrency).Select(_ => Task.Run(RunAsync))];
    }

    public static TrafficLoop Start(MeshTestClient client, int concurrency = 2) => new(client, concurrency);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _records.Count;
            }
        }
    }

    /// <summary>Every answer so far, in completion order.</summary>
    public IReadOnlyList<(long Timestamp, string Answer)> Records
    {
        get
        {
            lock (_lock)
            {
                return [.. _records];
            }
        }
    }

    /// <summary>The answers that were not a backend's name (errors and non-success statuses).</summary>
    public IReadOnlyList<string> Failures(IReadOnlySet<string> backends) => [.. Records.Select(r => r.Answer).Where(a => !backends.Contains(a))];

    /// <summary>The share of <paramref name="name"/> among the last <paramref name="window"/> answers, or NaN when there are fewer.</summary>
    public double ShareOfLast(string name, int window)
    {
        lock (_lock)
        {
            return _records.Count < window ? double.NaN : _records.Skip(_records.Count - window).Count(r => r.Answer == name) / (double)window;
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> more answers than <paramref name="from"/> are recorded (bounded).</summary>
    public Task UntilCountAsync(int from, int count, string what) => TestWait.UntilAsync(() => Count >= from + count, what);

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops).WaitAsync(TestWait.Timeout);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            string answer;
            try
            {
                answer = await _client.SendOneAsync(cancellationToken: _stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }

            lock (_lock)
            {
                _records.Add((Stopwatch.GetTimestamp(), answer));
            }
        }
    }
}
