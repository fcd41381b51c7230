using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Configuration.Kubernetes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.ControlPlane.Tests.Infrastructure;

/// <summary>A <see cref="KubernetesSource"/> on the real KubernetesClient pointed at a <see cref="FakeKubeApiServer"/>, with its store and logs.</summary>
internal sealed class KubernetesTestHarness : IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;

    private KubernetesTestHarness(FakeKubeApiServer server, KubernetesSource source, ConfigStore store, FakeLogCollector logs, ILoggerFactory loggerFactory)
    {
        Server = server;
        Source = source;
        Store = store;
        Logs = logs;
        _loggerFactory = loggerFactory;
    }

    public FakeKubeApiServer Server { get; }

    public KubernetesSource Source { get; }

    public ConfigStore Store { get; }

    public FakeLogCollector Logs { get; }

    /// <summary>Creates the source (not started) on an already started fake server.</summary>
    public static KubernetesTestHarness Create(FakeKubeApiServer server, Action<KubernetesSourceOptions>? configure = null, TimeProvider? timeProvider = null)
    {
        var options = new KubernetesSourceOptions
        {
            IdleTimeout = TimeSpan.FromSeconds(30),
            InitialBackoff = TimeSpan.FromMilliseconds(20),
            MaxBackoff = TimeSpan.FromMilliseconds(200),
            MissingKindRetry = TimeSpan.FromMilliseconds(100),
        };
        configure?.Invoke(options);
        var provider = new FakeLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(provider));
        var store = new ConfigStore();
        var source = KubernetesSource.Create(server.ClientConfiguration, options, store, loggerFactory, timeProvider);
        return new KubernetesTestHarness(server, source, store, provider.Collector, loggerFactory);
    }

    public IReadOnlyList<ConfigObject> Objects(string kind) => [.. Store.Snapshot().Where(o => o.Kind == kind)];

    /// <summary>The store's objects of a kind as <c>ns/name@resourceVersion</c>, sorted (compare with <see cref="FakeKubeApiServer.State"/>).</summary>
    public IReadOnlyList<string> State(string kind) =>
        [.. Objects(kind).Select(o => $"{o.Namespace}/{o.Name}@{o.Body.GetProperty("metadata").GetProperty("resourceVersion").GetString()}").Order(StringComparer.Ordinal)];

    public async Task StartAndSyncAsync()
    {
        await Source.StartAsync(CancellationToken.None);
        await Eventually(() => Store.IsSynced, "the store never synced");
    }

    /// <summary>Polls a condition until it holds, failing after a bounded time.</summary>
    public static async Task Eventually(Func<bool> condition, string message, int timeoutMs = 5000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                Assert.Fail(message);
            }

            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Source.StopAsync(timeout.Token);
        await Source.DisposeAsync();
        _loggerFactory.Dispose();
        await Server.DisposeAsync();
    }
}
