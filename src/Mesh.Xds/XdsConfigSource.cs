using System.Collections.Concurrent;
using System.Collections.Immutable;
using Mesh.Configuration;
using Mesh.Xds.Client;
using Mesh.Xds.Resources;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds;

/// <summary>
/// The mesh's configuration from an xDS server: for each target, the dependency manager of gRFC A74. It watches the
/// target's listener; from it the route configuration (unless inline); from the virtual host that matches the target
/// the clusters its routes use; from each EDS cluster its endpoints. Resources no longer referenced are unwatched.
/// After every change, once every needed resource has arrived or is known not to exist (or failed without a previous
/// value), the whole configuration is translated and applied to <see cref="MeshState"/> at once: a partial tree
/// (say, a route to a cluster not received yet) is never published.
/// </summary>
/// <remarks>
/// All targets are published together, so a resource still awaited for one target holds back updates of the others
/// until it arrives or the client declares it missing (the does-not-exist timeout, 15 s). Work runs one item at a
/// time on whichever thread delivers a callback (the client's serializer), never concurrently.
/// </remarks>
internal sealed partial class XdsConfigSource : IMeshConfigSource, IDisposable
{
    private readonly IXdsWatchSource _source;
    private readonly ImmutableArray<XdsTarget> _targets;
    private readonly string _description;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Action> _work = new();
    private readonly Dictionary<(XdsResourceType Type, string Name), Subscription> _subscriptions = [];
    private readonly TaskCompletionSource _firstConfiguration = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _draining;

    // Touched only by the work loop.
    private MeshState? _state;
    private bool _dirty = true;
    private bool _disposed;
    private HashSet<string> _warnings = new(StringComparer.Ordinal);
    private HashSet<(XdsResourceType, string)> _complete = [];

    /// <summary>Creates the source; it subscribes on <see cref="Start"/>.</summary>
    /// <param name="source">The xDS client's watches.</param>
    /// <param name="targets">The services to follow, e.g. <c>backend.shop.svc.cluster.local:8080</c>; hosts must be distinct.</param>
    /// <param name="description">Names the source in the mesh's logs, e.g. <c>xDS server 127.0.0.1:18000</c>.</param>
    /// <param name="logger">Logging.</param>
    public XdsConfigSource(IXdsWatchSource source, IEnumerable<XdsTarget> targets, string description, ILogger<XdsConfigSource> logger)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(logger);
        _source = source;
        _targets = [.. targets];
        _description = description;
        _logger = logger;
    }

    /// <summary>Completes when the first complete configuration has been applied (whether the mesh accepted it or not).</summary>
    public Task FirstConfiguration => _firstConfiguration.Task;

    /// <summary>
    /// Waits at most <paramref name="timeout"/> for <see cref="FirstConfiguration"/>; when it does not come, logs a warning
    /// and returns <see langword="false"/> (the mesh applies the configuration whenever it completes).
    /// </summary>
    public async Task<bool> WaitForFirstConfigurationAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        try
        {
            await FirstConfiguration.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            Log.StartupTimeout(_logger, _description, timeout);
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Disposed before a configuration arrived.
            return false;
        }
    }

    /// <summary>Starts watching the targets' listeners; configurations go to <paramref name="state"/>.</summary>
    public void Start(MeshState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Run(() =>
        {
            _state = state;
            Update();
        });
    }

    /// <summary>Cancels every watch; nothing is published afterwards.</summary>
    public void Dispose() => Run(() =>
    {
        _disposed = true;
        foreach (var subscription in _subscriptions.Values)
        {
            subscription.Cancel(_logger);
        }

        _subscriptions.Clear();
        _firstConfiguration.TrySetCanceled();
    });

    /// <summary>Runs <paramref name="action"/> after the work queued before it, one at a time.</summary>
    private void Run(Action action)
    {
        _work.Enqueue(action);
        while (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            while (_work.TryDequeue(out var next))
            {
                try
                {
                    next();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The loop runs on the xDS client's callback thread: a failure here must not break the client.
                    Log.WorkFailed(_logger, e);
                }
            }

            Volatile.Write(ref _draining, 0);
            if (_work.IsEmpty)
            {
                break;
            }
        }
    }

    private void OnChanged(Subscription subscription, object resource)
    {
        if (!IsCurrent(subscription))
        {
            return;
        }

        subscription.State = ResourceState.Present;
        subscription.Resource = resource;
        subscription.Error = null;
        _dirty = true;
        Update();
    }

    private void OnResourceDoesNotExist(Subscription subscription)
    {
        if (!IsCurrent(subscription))
        {
            return;
        }

        Log.ResourceDoesNotExist(_logger, subscription.Type.Name, subscription.Name);
        subscription.State = ResourceState.Missing;
        subscription.Resource = null;
        subscription.Error = "does not exist on the xDS server";
        _dirty = true;
        Update();
    }

    private void OnError(Subscription subscription, string error)
    {
        if (!IsCurrent(subscription))
        {
            return;
        }

        if (subscription.State == ResourceState.Present)
        {
            // gRFC A74: an error after a valid value keeps the value.
            Log.ResourceErrorKeepingValue(_logger, subscription.Type.Name, subscription.Name, error);
            return;
        }

        Log.ResourceErrorWithoutValue(_logger, subscription.Type.Name, subscription.Name, error);
        subscription.State = ResourceState.Failed;
        subscription.Error = $"has no valid value ({error})";
        _dirty = true;
        Update();
    }

    private bool IsCurrent(Subscription subscription) =>
        !_disposed && _subscriptions.TryGetValue((subscription.Type, subscription.Name), out var current) && ReferenceEquals(current, subscription);

    /// <summary>Walks every target's tree, watching what it needs and unwatching the rest; publishes when the tree is complete.</summary>
    private void Update()
    {
        if (_state is null || _disposed)
        {
            return;
        }

        var wanted = new HashSet<(XdsResourceType, string)>();
        var targets = new List<XdsTargetConfig>(_targets.Length);
        var clusters = new Dictionary<string, XdsClusterConfig>(StringComparer.Ordinal);
        var complete = true;
        foreach (var target in _targets)
        {
            var listenerWatch = Want(XdsResourceTypes.Listener, target.Authority, wanted);
            if (listenerWatch.State == ResourceState.Pending)
            {
                complete = false;
                continue;
            }

            if (listenerWatch.Resource is not XdsListener listener)
            {
                targets.Add(new XdsTargetConfig(target, null, null, $"listener '{target.Authority}' {listenerWatch.Error}"));
                continue;
            }

            var routeConfiguration = listener.RouteConfiguration;
            string? error = null;
            if (listener.RouteConfigurationName is { } routeName)
            {
                var routeWatch = Want(XdsResourceTypes.RouteConfiguration, routeName, wanted);
                if (routeWatch.State == ResourceState.Pending)
                {
                    complete = false;
                    continue;
                }

                routeConfiguration = routeWatch.Resource as XdsRouteConfiguration;
                error = routeConfiguration is null ? $"route configuration '{routeName}' {routeWatch.Error}" : null;
            }

            targets.Add(new XdsTargetConfig(target, listener, routeConfiguration, error));
            if (routeConfiguration is null || XdsMeshTranslator.SelectVirtualHost(routeConfiguration, target.Authority) is not { } virtualHost)
            {
                continue;
            }

            foreach (var name in XdsMeshTranslator.ReferencedClusters(virtualHost))
            {
                if (clusters.ContainsKey(name))
                {
                    continue;
                }

                var clusterWatch = Want(XdsResourceTypes.Cluster, name, wanted);
                if (clusterWatch.State == ResourceState.Pending)
                {
                    complete = false;
                    continue;
                }

                if (clusterWatch.Resource is not XdsCluster cluster)
                {
                    clusters[name] = new XdsClusterConfig(null, null, clusterWatch.Error);
                    continue;
                }

                if (cluster.Discovery != XdsClusterDiscovery.Eds)
                {
                    clusters[name] = new XdsClusterConfig(cluster, null, null);
                    continue;
                }

                var endpointsWatch = Want(XdsResourceTypes.Endpoints, cluster.EdsServiceName!, wanted);
                if (endpointsWatch.State == ResourceState.Pending)
                {
                    complete = false;
                    continue;
                }

                clusters[name] = new XdsClusterConfig(cluster, endpointsWatch.Resource as XdsEndpoints, endpointsWatch.Error);
            }
        }

        // While a tree is incomplete, what the last complete one used stays watched (gRFC A74): a cluster leaves
        // only when a complete configuration no longer refers to it, so it is not dropped and fetched again.
        foreach (var key in _subscriptions.Keys.Where(k => !wanted.Contains(k) && (complete || !_complete.Contains(k))).ToList())
        {
            Log.Unwatched(_logger, key.Type.Name, key.Name);
            _subscriptions[key].Cancel(_logger);
            _subscriptions.Remove(key);
        }

        if (!complete)
        {
            return;
        }

        _complete = wanted;
        if (!_dirty)
        {
            return;
        }

        _dirty = false;
        Publish(targets, clusters);
    }

    private Subscription Want(XdsResourceType type, string name, HashSet<(XdsResourceType, string)> wanted)
    {
        var key = (type, name);
        wanted.Add(key);
        if (_subscriptions.TryGetValue(key, out var subscription))
        {
            return subscription;
        }

        subscription = new Subscription(this, type, name);
        _subscriptions[key] = subscription;
        Log.Watching(_logger, type.Name, name);
        try
        {
            subscription.Handle = _source.Watch(type, name, subscription);
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException or ArgumentException)
        {
            Log.WatchFailed(_logger, type.Name, name, e);
            subscription.State = ResourceState.Failed;
            subscription.Error = $"cannot be watched ({e.Message})";
        }

        return subscription;
    }

    private void Publish(List<XdsTargetConfig> targets, Dictionary<string, XdsClusterConfig> clusters)
    {
        var translation = XdsMeshTranslator.Translate(targets, clusters);
        var warnings = new HashSet<string>(translation.Warnings, StringComparer.Ordinal);
        foreach (var warning in translation.Warnings)
        {
            // Each distinct problem once, not again with every endpoint update.
            if (!_warnings.Contains(warning))
            {
                Log.TranslationWarning(_logger, _description, warning);
            }
        }

        _warnings = warnings;
        Log.Applying(_logger, _description, targets.Count, translation.Options.Clusters.Count);
        var result = _state!.Apply(translation.Options, _description);
        if (result.Snapshot is null)
        {
            // MeshState logs every error; this says where the configuration came from.
            Log.Rejected(_logger, _description, result.Errors.Count);
        }

        _firstConfiguration.TrySetResult();
    }

    private enum ResourceState
    {
        /// <summary>Watched, nothing heard yet.</summary>
        Pending,

        /// <summary>A valid value is known.</summary>
        Present,

        /// <summary>The server says it does not exist (or did not send it in time).</summary>
        Missing,

        /// <summary>An error arrived before any valid value.</summary>
        Failed,
    }

    /// <summary>One watched resource and what is known of it; its callbacks go through the work loop.</summary>
    private sealed class Subscription(XdsConfigSource owner, XdsResourceType type, string name) : IXdsResourceWatcher
    {
        public XdsResourceType Type { get; } = type;

        public string Name { get; } = name;

        public IDisposable? Handle { get; set; }

        public ResourceState State { get; set; }

        public object? Resource { get; set; }

        public string? Error { get; set; }

        public void OnChanged(object resource) => owner.Run(() => owner.OnChanged(this, resource));

        public void OnResourceDoesNotExist() => owner.Run(() => owner.OnResourceDoesNotExist(this));

        public void OnError(string error) => owner.Run(() => owner.OnError(this, error));

        public void Cancel(ILogger logger)
        {
            try
            {
                Handle?.Dispose();
            }
            catch (ObjectDisposedException e)
            {
                // The client may already be shut down; the watch is gone either way.
                Log.UnwatchFailed(logger, Type.Name, Name, e);
            }

            Handle = null;
        }
    }
}
