using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Configuration.Kubernetes;

/// <summary>
/// Mirrors one kind (in one namespace, or all) into the store, as client-go's reflector does: LIST, replace the
/// source's objects, then WATCH from the list's resourceVersion with bookmarks; 410 Gone → relist; a dropped or
/// idle watch → re-watch from the last resourceVersion; jittered exponential backoff between failures.
/// </summary>
internal sealed partial class KubernetesReflector
{
    private readonly IKubernetes _client;
    private readonly KubernetesKind _kind;
    private readonly string? _namespace;
    private readonly IConfigStore _store;
    private readonly KubernetesSourceOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly Random _random;
    private readonly ILogger _logger;
    private volatile string? _resourceVersion;
    private int _failures;
    private bool _missing;

    public KubernetesReflector(
        IKubernetes client, KubernetesKind kind, string? ns, IConfigStore store, KubernetesSourceOptions options,
        TimeProvider timeProvider, Random random, ILogger logger)
    {
        _client = client;
        _kind = kind;
        _namespace = ns;
        _store = store;
        _options = options;
        _timeProvider = timeProvider;
        _random = random;
        _logger = logger;
        SourceId = ns is null ? $"{KubernetesSource.Origin}:{kind.Kind}" : $"{KubernetesSource.Origin}:{kind.Kind}:{ns}";
    }

    /// <summary>The store's source id: <c>kubernetes:Service</c>, or <c>kubernetes:Service:ns</c> with a namespace filter.</summary>
    public string SourceId { get; }

    /// <summary>The last resourceVersion seen (from the list, an event or a bookmark): where the next watch starts.</summary>
    public string? ResourceVersion => _resourceVersion;

    private enum WatchOutcome
    {
        Closed,
        ClosedEmpty,
        Gone,
        Idle,
        Failed,
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var needList = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (needList)
                {
                    if (!await ListAsync(cancellationToken).ConfigureAwait(false))
                    {
                        await Task.Delay(_options.MissingKindRetry, _timeProvider, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    needList = false;
                }

                switch (await WatchAsync(cancellationToken).ConfigureAwait(false))
                {
                    case WatchOutcome.Closed:
                        // The server ends watches routinely (timeoutSeconds); events flowed, so re-watch at once.
                        _failures = 0;
                        break;
                    case WatchOutcome.Gone:
                        Log.ResourceVersionExpired(_logger, SourceId, _resourceVersion);
                        needList = true;
                        break;
                    default:
                        await BackoffAsync("watch ended", cancellationToken).ConfigureAwait(false);
                        break;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // A reflector outlives every failure: it logs, backs off and tries again.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.RequestFailed(_logger, SourceId, needList ? "list" : "watch", ex);
                try
                {
                    await BackoffAsync(needList ? "list failed" : "watch failed", cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
            }
        }
    }

    /// <summary>Lists the kind and replaces the source's objects; false when the resource is not served (a CRD not installed).</summary>
    private async Task<bool> ListAsync(CancellationToken cancellationToken)
    {
        KubernetesList list;
        try
        {
            list = await _kind.List(_client, _namespace, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            if (!_missing)
            {
                _missing = true;
                Log.KindNotServed(_logger, SourceId, _kind.ApiVersion, _kind.Kind, _options.MissingKindRetry.TotalSeconds);
            }

            // An absent CRD means no objects of that kind: readiness must not wait for it.
            _store.Replace(SourceId, []);
            _store.MarkSynced(SourceId);
            return false;
        }

        if (_missing)
        {
            _missing = false;
            Log.KindServed(_logger, SourceId);
        }

        var objects = new List<ConfigObject>(list.Items.Count);
        foreach (var item in list.Items)
        {
            if (ToConfigObject(item) is { } configObject)
            {
                objects.Add(configObject);
            }
        }

        _store.Replace(SourceId, objects);
        _store.MarkSynced(SourceId);
        _resourceVersion = list.ResourceVersion;
        _failures = 0;
        Log.Listed(_logger, SourceId, objects.Count, list.ResourceVersion);
        return true;
    }

    private async Task<WatchOutcome> WatchAsync(CancellationToken cancellationToken)
    {
        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var idle = new CancellationTokenSource(_options.IdleTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(aborted.Token, idle.Token);
        var gone = false;
        var failed = false;
        var from = _resourceVersion;

        // KubernetesClient turns an ERROR event carrying a Status into a KubernetesException passed here (the
        // event itself is never yielded); the API server closes the watch after it, so stop reading at once.
        void OnError(Exception ex)
        {
            switch (ex)
            {
                case KubernetesException { Status.Code: (int)HttpStatusCode.Gone }:
                    gone = true;
                    aborted.Cancel();
                    break;
                case KubernetesException kubernetes:
                    failed = true;
                    Log.WatchErrorEvent(_logger, SourceId, kubernetes.Status?.Code, kubernetes.Status?.Reason, kubernetes.Status?.Message);
                    aborted.Cancel();
                    break;
                default:
                    Log.UndecodableEvent(_logger, SourceId, ex);
                    break;
            }
        }

        Log.Watching(_logger, SourceId, from);
        var events = 0;
        try
        {
            await foreach (var (type, item) in _kind.Watch(_client, _namespace, from, OnError, linked.Token).ConfigureAwait(false))
            {
                idle.CancelAfter(_options.IdleTimeout);
                events++;
                Apply(type, item);
            }

            // The stream may also end right after an ERROR event was reported.
            return gone ? WatchOutcome.Gone : failed ? WatchOutcome.Failed : events > 0 ? WatchOutcome.Closed : WatchOutcome.ClosedEmpty;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && (gone || failed || idle.IsCancellationRequested))
        {
            if (gone)
            {
                return WatchOutcome.Gone;
            }

            if (failed)
            {
                return WatchOutcome.Failed;
            }

            Log.WatchIdle(_logger, SourceId, _options.IdleTimeout.TotalSeconds, _resourceVersion);
            return WatchOutcome.Idle;
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.Gone)
        {
            return WatchOutcome.Gone;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.WatchDropped(_logger, SourceId, _resourceVersion, ex);
            return WatchOutcome.Failed;
        }
    }

    private void Apply(WatchEventType type, JsonElement item)
    {
        var resourceVersion = ResourceVersionOf(item);
        switch (type)
        {
            case WatchEventType.Added:
            case WatchEventType.Modified:
                if (ToConfigObject(item) is { } upserted)
                {
                    _store.Upsert(SourceId, upserted);
                }

                break;
            case WatchEventType.Deleted:
                if (ToConfigObject(item) is { } deleted)
                {
                    _store.Delete(SourceId, deleted.Key);
                }

                break;
            case WatchEventType.Bookmark:
                Log.Bookmark(_logger, SourceId, resourceVersion);
                break;
            default:
                return;
        }

        if (!string.IsNullOrEmpty(resourceVersion))
        {
            _resourceVersion = resourceVersion;
        }
    }

    private async Task BackoffAsync(string reason, CancellationToken cancellationToken)
    {
        var delay = NextBackoff();
        Log.BackingOff(_logger, SourceId, reason, delay.TotalMilliseconds);
        await Task.Delay(delay, _timeProvider, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>InitialBackoff × 2^failures, capped at MaxBackoff, ± 20 %.</summary>
    internal TimeSpan NextBackoff()
    {
        var exponent = Math.Min(_failures, 30);
        _failures++;
        var baseDelay = Math.Min(_options.InitialBackoff.TotalMilliseconds * Math.Pow(2, exponent), _options.MaxBackoff.TotalMilliseconds);
#pragma warning disable CA5394 // Jitter, not security.
        var factor = 1 + (((_random.NextDouble() * 2) - 1) * KubernetesSourceDefaults.Jitter);
#pragma warning restore CA5394
        return TimeSpan.FromMilliseconds(baseDelay * factor);
    }

    private ConfigObject? ToConfigObject(JsonElement item)
    {
        if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("metadata", out var metadata) || metadata.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var name = metadata.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        var ns = metadata.TryGetProperty("namespace", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        return new ConfigObject(_kind.ApiVersion, _kind.Kind, string.IsNullOrEmpty(ns) ? "default" : ns, name, item, KubernetesSource.Origin);
    }

    private static string? ResourceVersionOf(JsonElement item) =>
        item.ValueKind == JsonValueKind.Object
        && item.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
        && metadata.TryGetProperty("resourceVersion", out var rv) && rv.ValueKind == JsonValueKind.String
            ? rv.GetString()
            : null;
}
