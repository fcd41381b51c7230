using k8s;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Configuration.Kubernetes;

/// <summary>
/// Reads the mesh's kinds from the Kubernetes API server into an <see cref="IConfigStore"/>: one reflector per
/// kind (and per namespace when <see cref="KubernetesSourceOptions.Namespaces"/> is set) for v1 Services,
/// discovery.k8s.io/v1 EndpointSlices, v1 Pods, networking.istio.io/v1 VirtualServices, DestinationRules and
/// WorkloadEntries, and security.istio.io/v1 PeerAuthentications and AuthorizationPolicies. Each reflector stores its
/// objects under its own source id (<c>kubernetes:Service</c>,
/// <c>kubernetes:Service:shop</c>), so readiness (<see cref="IConfigStore.IsSynced"/>) waits for every kind.
/// </summary>
/// <example>
/// <code>
/// var source = KubernetesSource.Create(new KubernetesSourceOptions { InCluster = true }, store, loggerFactory);
/// await source.StartAsync(cancellationToken); // returns at once; store.IsSynced turns true after the first lists
/// </code>
/// </example>
public sealed class KubernetesSource : IHostedService, IAsyncDisposable
{
    /// <summary>The <see cref="ConfigObject.Origin"/> of every object this source delivers.</summary>
    public const string Origin = "kubernetes";

    private readonly IKubernetes _client;
    private readonly KubernetesReflector[] _reflectors;
    private readonly Lock _lock = new();
    private CancellationTokenSource? _stopping;
    private Task[] _running = [];
    private bool _disposed;

    internal KubernetesSource(IKubernetes client, KubernetesSourceOptions options, IConfigStore store, ILoggerFactory loggerFactory, TimeProvider? timeProvider, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        if (options.Validate() is { Count: > 0 } errors)
        {
            throw new ArgumentException("Invalid Kubernetes source options: " + string.Join("; ", errors), nameof(options));
        }

        _client = client;
        var logger = loggerFactory.CreateLogger<KubernetesSource>();
        var namespaces = options.Namespaces.Count == 0 ? [null] : options.Namespaces.Distinct(StringComparer.Ordinal).Select(static n => (string?)n).ToArray();
        var reflectors = new List<KubernetesReflector>();
        foreach (var kind in KubernetesKind.All)
        {
            foreach (var ns in namespaces)
            {
                var reflector = new KubernetesReflector(client, kind, ns, store, options, timeProvider ?? TimeProvider.System, random ?? Random.Shared, logger);
                store.Register(reflector.SourceId);
                reflectors.Add(reflector);
            }
        }

        _reflectors = [.. reflectors];
    }

    /// <summary>The store source ids this source writes, one per kind (and namespace).</summary>
    public IReadOnlyList<string> SourceIds => [.. _reflectors.Select(static r => r.SourceId)];

    /// <summary>
    /// Creates a source that authenticates with the pod's service account (<see cref="KubernetesSourceOptions.InCluster"/>)
    /// or a kubeconfig file (<see cref="KubernetesSourceOptions.KubeconfigPath"/>, or the default location).
    /// </summary>
    public static KubernetesSource Create(KubernetesSourceOptions options, IConfigStore store, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var configuration = options.InCluster
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile(options.KubeconfigPath);
        return Create(configuration, options, store, loggerFactory, timeProvider);
    }

    /// <summary>Creates a source on an explicit client configuration (e.g. <c>new KubernetesClientConfiguration { Host = "http://127.0.0.1:8001" }</c> for <c>kubectl proxy</c>).</summary>
    public static KubernetesSource Create(KubernetesClientConfiguration configuration, KubernetesSourceOptions options, IConfigStore store, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return new KubernetesSource(new k8s.Kubernetes(configuration), options, store, loggerFactory, timeProvider);
    }

    /// <summary>The resourceVersion a source id's next watch starts from (tests).</summary>
    internal string? ResourceVersionOf(string sourceId) => _reflectors.First(r => r.SourceId == sourceId).ResourceVersion;

    /// <summary>Starts every reflector and returns; readiness comes from the store's synced state.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_stopping is not null)
            {
                return Task.CompletedTask;
            }

            _stopping = new CancellationTokenSource();
            var token = _stopping.Token;
            _running = [.. _reflectors.Select(r => Task.Run(() => r.RunAsync(token), CancellationToken.None))];
        }

        return Task.CompletedTask;
    }

    /// <summary>Stops every reflector (open watches are closed).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        CancellationTokenSource? stopping;
        Task[] running;
        lock (_lock)
        {
            stopping = _stopping;
            running = _running;
            _stopping = null;
            _running = [];
        }

        if (stopping is null)
        {
            return;
        }

        await stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(running).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            stopping.Dispose();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _client.Dispose();
    }
}
