using Mesh.Authorization;
using Mesh.Xds.Client;
using Mesh.Xds.Resources;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.ServerPolicies;

/// <summary>
/// An <see cref="IServerPolicySource"/> fed by the server <c>Listener</c> of one listening address (gRFC A36): each
/// valid listener becomes the <see cref="Current"/> policy; a listener the mesh cannot enforce is NACKed by the
/// decoder or rejected here, and the last good policy stays. A listener that stops existing keeps the last good
/// policy too (gRFC A36 would stop serving; keeping the last enforced policy is the safer of the two for a server
/// that cannot stop accepting).
/// </summary>
internal sealed partial class XdsServerPolicySource : IServerPolicySource, IXdsResourceWatcher, IDisposable
{
    /// <summary>The template of gRFC A36 when the bootstrap has none.</summary>
    public const string DefaultNameTemplate = "grpc/server?xds.resource.listening_address=%s";

    private readonly ILogger _logger;
    private readonly string _listeningAddress;
    private readonly IDisposable _watch;
    private readonly TaskCompletionSource _firstListener = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Authorization.ServerPolicy _current;

    /// <summary>Starts watching the listener of <paramref name="listeningAddress"/>.</summary>
    public XdsServerPolicySource(IXdsWatchSource source, string? nameTemplate, string listeningAddress, Authorization.ServerPolicy initial, ILogger<XdsServerPolicySource> logger)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(listeningAddress);
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
        _listeningAddress = listeningAddress;
        _current = initial;
        ListenerName = ListenerNameFor(nameTemplate, listeningAddress);
        Log.Watching(_logger, ListenerName);
        _watch = source.Watch(XdsResourceTypes.Listener, ListenerName, this);
    }

    /// <inheritdoc/>
    public event Action<Authorization.ServerPolicy>? Changed;

    /// <summary>The watched listener's name.</summary>
    public string ListenerName { get; }

    /// <inheritdoc/>
    public Authorization.ServerPolicy Current => _current;

    /// <summary>Whether a listener was applied yet.</summary>
    public bool HasListener { get; private set; }

    /// <summary>
    /// Waits until the first valid listener is applied, up to <paramref name="timeout"/>; <see langword="false"/> (with a
    /// warning) when it did not arrive in time, and the initial policy stays in force.
    /// </summary>
    public async Task<bool> WaitForFirstListenerAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        try
        {
            await _firstListener.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            Log.StartupTimeout(_logger, ListenerName, timeout);
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Disposed before a listener arrived, as XdsConfigSource.WaitForFirstConfigurationAsync.
            return false;
        }
    }

    /// <summary>The listener name for <paramref name="listeningAddress"/>: the template with <c>%s</c> replaced (gRFC A36).</summary>
    public static string ListenerNameFor(string? template, string listeningAddress)
        => (string.IsNullOrEmpty(template) ? DefaultNameTemplate : template).Replace("%s", listeningAddress, StringComparison.Ordinal);

    /// <inheritdoc/>
    public void OnChanged(object resource)
    {
        if (resource is not XdsServerListener listener)
        {
            Log.Rejected(_logger, ListenerName, "it is a client (API) listener, not a server listener");
            return;
        }

        var errors = new List<string>();
        if (listener.Address is { } address && !string.Equals(address, _listeningAddress, StringComparison.OrdinalIgnoreCase) && !IsWildcard(address))
        {
            errors.Add($"Listener '{listener.Name}': address = '{address}': does not match the listening address '{_listeningAddress}'");
        }

        var policy = XdsServerPolicyMapper.Map(listener, errors);
        if (policy is null || errors.Count > 0)
        {
            Log.Rejected(_logger, ListenerName, string.Join("; ", errors));
            return;
        }

        _current = policy;
        HasListener = true;
        Log.Applied(_logger, ListenerName, policy.PeerAuthentication, policy.Authorization.Count);
        Changed?.Invoke(policy);
        _firstListener.TrySetResult();
    }

    /// <inheritdoc/>
    public void OnResourceDoesNotExist() => Log.DoesNotExist(_logger, ListenerName);

    /// <inheritdoc/>
    public void OnError(string error) => Log.Error(_logger, ListenerName, error);

    /// <inheritdoc/>
    public void Dispose()
    {
        _watch.Dispose();
        _firstListener.TrySetCanceled();
    }

    private static bool IsWildcard(string address) => address.StartsWith("0.0.0.0:", StringComparison.Ordinal) || address.StartsWith("[::]:", StringComparison.Ordinal);
}
