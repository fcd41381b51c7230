using Envoy.Service.Discovery.V3;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Mesh.Xds.Resources;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Client;

/// <summary>
/// A generic xDS client (as grpc-go's <c>xdsclient</c>): one state-of-the-world ADS stream to the first server of the
/// bootstrap, per type URL the subscribed names, the last ACKed version and the last nonce; resources decoded by
/// their <see cref="XdsResourceType"/>, cached, and delivered to <see cref="IXdsResourceWatcher"/>s one callback at a
/// time.
/// </summary>
/// <remarks>
/// Behaviour follows the xDS protocol and gRPC's gRFCs:
/// <list type="bullet">
/// <item>ACK echoes the response's version and nonce; NACK sends the previous ACKed version, the nonce and an
/// <c>INVALID_ARGUMENT</c> <c>error_detail</c> naming each rejected resource. Valid resources of a NACKed response
/// are used; a rejected one keeps its previous value (A46).</item>
/// <item>A requested resource not received within 15 s on a connected stream does not exist; the timer starts when
/// the request is written on the stream, stops when the stream fails and restarts with the resent request (A57).</item>
/// <item>Cached resources keep being served while the server is unreachable; watchers only get
/// <see cref="IXdsResourceWatcher.OnError"/> (A57, A88).</item>
/// <item>Data errors keep the cached value by default, including an LDS/CDS resource missing from a response
/// (deletion); with the <c>fail_on_data_errors</c> server feature, the value is dropped and watchers get
/// <see cref="IXdsResourceWatcher.OnResourceDoesNotExist"/> (A88). <c>ignore_resource_deletion</c> is deprecated by
/// A88 and has no effect.</item>
/// <item>After a stream fails without a response, the next one waits 1 s × 1.6ⁿ ± 20 % (at most 120 s); after a
/// stream that received a response, the next one opens at once and the backoff starts over. Each new stream resends
/// every subscription with the last ACKed version of its type and no nonce.</item>
/// </list>
/// Fallback to the other <c>xds_servers</c> (gRFC A71) and the delta protocol are not implemented.
/// </remarks>
internal sealed partial class XdsClient : IXdsWatchSource, IAsyncDisposable, IDisposable
{
    private const string ResourceWrapperTypeUrl = "type.googleapis.com/envoy.service.discovery.v3.Resource";

    private readonly Lock _lock = new();
    private readonly XdsBootstrap _bootstrap;
    private readonly XdsServerConfig _server;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly XdsClientOptions _options;
    private readonly XdsCallbackSerializer _serializer;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Dictionary<string, TypeState> _types = new(StringComparer.Ordinal);

    // Guarded by _lock.
    private bool _started;
    private bool _disposed;
    private Task? _run;
    private GrpcChannel? _channel;
    private AdsStream? _stream;
    private XdsConnectionState _state = XdsConnectionState.Idle;
    private bool _everConnected;
    private string? _lastStreamError;
    private DateTimeOffset? _lastStreamErrorTime;
    private XdsClientCounters _counters;

    /// <summary>Creates the client; it connects on <see cref="Start"/> or the first <see cref="Watch"/>.</summary>
    /// <param name="bootstrap">The servers and node; the first server is used.</param>
    /// <param name="resourceTypes">The resource types whose responses the client decodes; <see cref="Watch"/> adds any other.</param>
    /// <param name="timeProvider">Time for the does-not-exist timers and the backoff.</param>
    /// <param name="loggerFactory">Logging.</param>
    /// <param name="options">Timeouts, backoff and the channel factory; gRPC's defaults when null.</param>
    public XdsClient(
        XdsBootstrap bootstrap,
        IEnumerable<XdsResourceType> resourceTypes,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        XdsClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bootstrap);
        ArgumentNullException.ThrowIfNull(resourceTypes);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        if (bootstrap.Servers.Count == 0)
        {
            throw new ArgumentException($"The xDS bootstrap from {bootstrap.Source} has no server.", nameof(bootstrap));
        }

        _bootstrap = bootstrap;
        _server = bootstrap.Servers[0];
        _time = timeProvider;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<XdsClient>();
        _options = options ?? new XdsClientOptions();
        _serializer = new XdsCallbackSerializer(_logger);
        foreach (var type in resourceTypes)
        {
            GetOrAddType_NeedsLock(type);
        }
    }

    /// <summary>The server the client talks to.</summary>
    public XdsServerConfig Server => _server;

    /// <summary>The bootstrap the client was created from.</summary>
    public XdsBootstrap Bootstrap => _bootstrap;

    /// <summary>Opens the ADS stream (once); <see cref="Watch"/> does it too.</summary>
    public void Start()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            EnsureStarted_NeedsLock();
        }
    }

    /// <summary>
    /// Subscribes <paramref name="watcher"/> to a resource. The first watcher of a name adds it to the next request of
    /// its type; a watcher of a resource already cached receives the cached value at once (on the serializer, never
    /// inline). Dispose the result to unsubscribe; the last watcher gone removes the name from the next request.
    /// </summary>
    public IDisposable Watch(XdsResourceType type, string name, IXdsResourceWatcher watcher)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(watcher);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var typeState = GetOrAddType_NeedsLock(type);
            if (!typeState.Resources.TryGetValue(name, out var entry))
            {
                entry = new ResourceEntry(name);
                typeState.Resources.Add(name, entry);
                Log.Subscribed(_logger, typeState.Type.Name, name);
                MarkDirty_NeedsLock(typeState);
            }

            var registration = new WatchRegistration(this, typeState, entry, watcher);
            entry.Watchers.Add(registration);
            if (entry.Value is { } value)
            {
                Schedule(registration, w => w.OnChanged(value));
            }

            if (entry.Status is XdsResourceStatus.Nacked or XdsResourceStatus.ReceivedError or XdsResourceStatus.Timeout && entry.Error is { } error)
            {
                Schedule(registration, w => w.OnError(error.Details));
            }
            else if (entry.Status == XdsResourceStatus.DoesNotExist)
            {
                Schedule(registration, static w => w.OnResourceDoesNotExist());
            }

            EnsureStarted_NeedsLock();
            return registration;
        }
    }

    /// <summary>A snapshot of the stream, the counters and every subscribed resource (for CSDS and debugging).</summary>
    public XdsClientStatus GetStatus()
    {
        lock (_lock)
        {
            var resources = new List<XdsClientResourceStatus>();
            foreach (var typeState in _types.Values)
            {
                foreach (var entry in typeState.Resources.Values)
                {
                    resources.Add(new XdsClientResourceStatus(
                        typeState.Type.TypeUrl, entry.Name, entry.Version, entry.Status, entry.LastUpdated, entry.Error, entry.RawValue));
                }
            }

            resources.Sort(static (a, b) =>
            {
                var byType = string.CompareOrdinal(a.TypeUrl, b.TypeUrl);
                return byType != 0 ? byType : string.CompareOrdinal(a.Name, b.Name);
            });
            return new XdsClientStatus(_server.ServerUri, _state, _bootstrap.Node, _counters, _lastStreamError, _lastStreamErrorTime, resources);
        }
    }

    /// <summary>
    /// Closes the stream, stops the timers and waits for the queued watcher callbacks, so it must not be called from
    /// one of them.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Task? run;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _state = XdsConnectionState.Shutdown;
            run = _run;
            foreach (var typeState in _types.Values)
            {
                foreach (var entry in typeState.Resources.Values)
                {
                    entry.StopTimer();
                }
            }
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        if (run is not null)
        {
            await run.ConfigureAwait(false);
        }

        await _serializer.DisposeAsync().ConfigureAwait(false);
        _channel?.Dispose();
        _shutdown.Dispose();
    }

    /// <summary>
    /// Synchronous <see cref="DisposeAsync"/>, for containers disposed synchronously; blocks until the stream loop
    /// and the queued callbacks are done.
    /// </summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>For tests: where the does-not-exist timer of a resource stands.</summary>
    internal WatchState? GetWatchStateForTesting(string typeUrl, string name)
    {
        lock (_lock)
        {
            return _types.TryGetValue(typeUrl, out var typeState) && typeState.Resources.TryGetValue(name, out var entry) ? entry.Watch : null;
        }
    }

    private void Unwatch(WatchRegistration registration)
    {
        lock (_lock)
        {
            if (registration.Disposed)
            {
                return;
            }

            registration.Disposed = true;
            var entry = registration.Entry;
            entry.Watchers.Remove(registration);
            var typeState = registration.Type;
            if (entry.Watchers.Count > 0 || _disposed
                || !typeState.Resources.TryGetValue(entry.Name, out var current) || !ReferenceEquals(current, entry))
            {
                return;
            }

            // The last watcher is gone: forget the resource (as grpc-go) and send the smaller subscription.
            entry.StopTimer();
            typeState.Resources.Remove(entry.Name);
            Log.Unsubscribed(_logger, typeState.Type.Name, entry.Name);
            MarkDirty_NeedsLock(typeState);
        }
    }

    private TypeState GetOrAddType_NeedsLock(XdsResourceType type)
    {
        if (_types.TryGetValue(type.TypeUrl, out var existing))
        {
            if (existing.Type.GetType() != type.GetType())
            {
                throw new ArgumentException(
                    $"Resource type URL '{type.TypeUrl}' is already handled by {existing.Type.GetType().Name}; watch it with that resource type, not {type.GetType().Name}.",
                    nameof(type));
            }

            return existing;
        }

        var typeState = new TypeState(type);
        _types.Add(type.TypeUrl, typeState);
        return typeState;
    }

    private void EnsureStarted_NeedsLock()
    {
        if (_started)
        {
            return;
        }

        _started = true;
        _channel = _options.ChannelFactory?.Invoke(_server) ?? XdsChannelFactory.Create(_server, _loggerFactory);
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(_channel);
        _run = Task.Run(() => RunAsync(client, _shutdown.Token));
    }

    /// <summary>Queues a watcher callback; it is skipped if the watcher unsubscribed before it runs.</summary>
    private void Schedule(WatchRegistration registration, Action<IXdsResourceWatcher> callback) =>
        _serializer.Schedule(() =>
        {
            if (!registration.Disposed)
            {
                callback(registration.Watcher);
            }
        });

    private void ScheduleAll(ResourceEntry entry, Action<IXdsResourceWatcher> callback)
    {
        foreach (var registration in entry.Watchers)
        {
            Schedule(registration, callback);
        }
    }

    /// <summary>Where a resource's does-not-exist timer stands (grpc-go's watch states).</summary>
    internal enum WatchState
    {
        /// <summary>Subscribed; not yet sent on a connected stream, so no timer runs.</summary>
        Started,

        /// <summary>Sent on a connected stream; the timer runs.</summary>
        Requested,

        /// <summary>The server answered for it (value, rejection or error).</summary>
        Received,

        /// <summary>The timer fired.</summary>
        TimedOut,
    }

    /// <summary>Per type URL: the resources subscribed, the last ACKed version, the last nonce, a pending request.</summary>
    private sealed class TypeState(XdsResourceType type)
    {
        public XdsResourceType Type { get; } = type;

        public Dictionary<string, ResourceEntry> Resources { get; } = new(StringComparer.Ordinal);

        /// <summary>The last ACKed version; kept across streams (the xDS protocol asks for it on a new stream).</summary>
        public string Version { get; set; } = string.Empty;

        /// <summary>The last nonce received on the current stream; reset on a new stream.</summary>
        public string Nonce { get; set; } = string.Empty;

        /// <summary>The NACK to send with the next request of this type, if the last response was rejected.</summary>
        public Mesh.Xds.Protos.Google.Rpc.Status? PendingError { get; set; }

        /// <summary>A request of this type is queued on the stream.</summary>
        public bool Dirty { get; set; }
    }

    /// <summary>One subscribed resource: its watchers, cached value, status and timer.</summary>
    private sealed class ResourceEntry(string name)
    {
        public string Name { get; } = name;

        public List<WatchRegistration> Watchers { get; } = [];

        public object? Value { get; set; }

        public Any? RawValue { get; set; }

        public string? Version { get; set; }

        public DateTimeOffset? LastUpdated { get; set; }

        public XdsResourceStatus Status { get; set; } = XdsResourceStatus.Requested;

        public XdsResourceErrorState? Error { get; set; }

        public WatchState Watch { get; set; } = WatchState.Started;

        public ITimer? Timer { get; set; }

        /// <summary>A deletion of this LDS/CDS resource was ignored (gRFC A88); logged once.</summary>
        public bool DeletionIgnored { get; set; }

        public void StopTimer()
        {
            Timer?.Dispose();
            Timer = null;
        }
    }

    /// <summary>One watcher of one resource; disposing it unsubscribes.</summary>
    private sealed class WatchRegistration(XdsClient client, TypeState type, ResourceEntry entry, IXdsResourceWatcher watcher) : IDisposable
    {
        public TypeState Type { get; } = type;

        public ResourceEntry Entry { get; } = entry;

        public IXdsResourceWatcher Watcher { get; } = watcher;

        /// <summary>Set under the client's lock; read by queued callbacks to skip a gone watcher.</summary>
        public volatile bool Disposed;

        public void Dispose() => client.Unwatch(this);
    }
}
