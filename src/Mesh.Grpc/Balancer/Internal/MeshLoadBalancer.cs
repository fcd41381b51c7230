using System.Collections.Frozen;
using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace Mesh.Grpc.Balancer.Internal;

/// <summary>
/// Keeps one subchannel per mesh endpoint of the channel's service and publishes a new <see cref="MeshPicker"/>
/// on every change of the mesh or of a subchannel's state, as grpc-dotnet's own balancers do: READY when any
/// subchannel is ready, CONNECTING while any is connecting, TRANSIENT_FAILURE when none can connect. A subchannel
/// whose endpoint left the mesh is closed after a grace period, so calls already on it finish.
/// </summary>
internal sealed partial class MeshLoadBalancer : LoadBalancer
{
    /// <summary>How long a removed endpoint's connection stays open for the calls still on it.</summary>
    internal static readonly TimeSpan DrainPeriod = TimeSpan.FromSeconds(30);

    private readonly IChannelControlHelper _controller;
    private readonly ILogger _logger;
    private readonly Dictionary<string, Entry> _subchannels = new(StringComparer.Ordinal);
    private readonly List<Subchannel> _draining = [];
    private readonly MeshChannel? _channel;
    private MeshResolution? _resolution;
    private bool _disposed;

    public MeshLoadBalancer(IChannelControlHelper controller, ILoggerFactory loggerFactory, MeshChannel? channel)
    {
        _controller = controller;
        _channel = channel;
        _logger = loggerFactory.CreateLogger<MeshLoadBalancer>();
    }

    public override void UpdateChannelState(ChannelState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Status.StatusCode != StatusCode.OK || _channel?.Resolution is not { } resolution)
        {
            // Only the mesh resolver feeds this policy; anything else is reported, and a working channel keeps serving.
            var status = state.Status.StatusCode != StatusCode.OK
                ? state.Status
                : new Status(StatusCode.Unavailable, $"The '{MeshLoadBalancerFactory.PolicyName}' load-balancing policy needs the mesh's xds resolver; use an xds:/// address with AddMeshGrpc().");
            if (_resolution is null)
            {
                _controller.UpdateState(new BalancerState(ConnectivityState.TransientFailure, new ErrorPicker(status)));
            }

            return;
        }

        _resolution = resolution;
        var wanted = new Dictionary<string, BalancerAddress>(StringComparer.Ordinal);
        foreach (var address in state.Addresses ?? [])
        {
            if (address.Attributes.TryGetValue(MeshResolution.EndpointKey, out var key))
            {
                wanted[key] = address;
            }
        }

        foreach (var (key, entry) in _subchannels.ToArray())
        {
            if (!wanted.TryGetValue(key, out var address))
            {
                _subchannels.Remove(key);
                entry.Registration.Dispose();
                Drain(entry.Subchannel);
            }
            else if (!Security.EndpointTls.Same(entry.Tls, address.Attributes.TryGetValue(MeshResolution.TlsKey, out var tls) ? tls : null))
            {
                // The endpoint's TLS changed: its connections were made for the old settings and must not serve another call
                // (plaintext after TLS was asked for, or a server checked against other names), so they close now, undrained.
                _subchannels.Remove(key);
                entry.Registration.Dispose();
                entry.Subchannel.Dispose();
                var closed = _channel?.Connections?.CloseOther($"{address.EndPoint.Host}:{address.EndPoint.Port}", tls) ?? 0;
                Log.TlsChanged(_logger, key, closed);
            }
        }

        var created = new List<Subchannel>();
        foreach (var (key, address) in wanted)
        {
            if (_subchannels.ContainsKey(key))
            {
                continue;
            }

            var subchannel = _controller.CreateSubchannel(new SubchannelOptions([address]));
            var registration = subchannel.OnStateChanged(s => OnSubchannelStateChanged(key, subchannel, s));
            var endpointTls = address.Attributes.TryGetValue(MeshResolution.TlsKey, out var tls) ? tls : null;
            _subchannels[key] = new Entry(subchannel, registration, ConnectivityState.Idle, Status.DefaultSuccess, endpointTls);
            created.Add(subchannel);
        }

        Log.Updated(_logger, resolution.Channel.Target, resolution.Snapshot.Version, _subchannels.Count, created.Count);
        foreach (var subchannel in created)
        {
            subchannel.RequestConnection();
        }

        UpdatePicker();
    }

    public override void RequestConnection()
    {
        foreach (var entry in _subchannels.Values)
        {
            entry.Subchannel.RequestConnection();
        }
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        foreach (var entry in _subchannels.Values)
        {
            entry.Registration.Dispose();
            entry.Subchannel.Dispose();
        }

        _subchannels.Clear();
        lock (_draining)
        {
            foreach (var subchannel in _draining)
            {
                subchannel.Dispose();
            }

            _draining.Clear();
        }

        base.Dispose(disposing);
    }

    private void OnSubchannelStateChanged(string key, Subchannel subchannel, SubchannelState state)
    {
        if (!_subchannels.TryGetValue(key, out var entry) || !ReferenceEquals(entry.Subchannel, subchannel))
        {
            return;
        }

        _subchannels[key] = entry with { State = state.State, Status = state.Status };
        if (state.State == ConnectivityState.TransientFailure)
        {
            Log.SubchannelFailed(_logger, key, state.Status.Detail);
        }

        UpdatePicker();
        if (state.State == ConnectivityState.Idle)
        {
            // A connection that went idle (closed by the server, or idle timeout) reconnects, as gRPC's round_robin does.
            subchannel.RequestConnection();
        }
    }

    private void UpdatePicker()
    {
        if (_resolution is not { } resolution || _disposed)
        {
            return;
        }

        var view = new ConnectivityView(_subchannels.ToFrozenDictionary(p => p.Key, p => new SubchannelEntry(p.Value.Subchannel, p.Value.State, p.Value.Status), StringComparer.Ordinal));
        resolution.Channel.Publish(view);
        var state = Aggregate(view, resolution);
        _controller.UpdateState(new BalancerState(state, new MeshPicker(resolution, view)));
    }

    private static ConnectivityState Aggregate(ConnectivityView view, MeshResolution resolution)
    {
        if (resolution.Service is null || view.Entries.Count == 0)
        {
            return ConnectivityState.TransientFailure;
        }

        var connecting = false;
        foreach (var entry in view.Entries.Values)
        {
            if (entry.State == ConnectivityState.Ready)
            {
                return ConnectivityState.Ready;
            }

            connecting |= entry.State is ConnectivityState.Idle or ConnectivityState.Connecting;
        }

        return connecting ? ConnectivityState.Connecting : ConnectivityState.TransientFailure;
    }

    private void Drain(Subchannel subchannel)
    {
        lock (_draining)
        {
            _draining.Add(subchannel);
        }

        _ = Task.Delay(DrainPeriod).ContinueWith(
            static (_, state) =>
            {
                var (balancer, subchannel) = ((MeshLoadBalancer, Subchannel))state!;
                lock (balancer._draining)
                {
                    if (!balancer._draining.Remove(subchannel))
                    {
                        return;
                    }
                }

                subchannel.Dispose();
            },
            (this, subchannel),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private readonly record struct Entry(Subchannel Subchannel, IDisposable Registration, ConnectivityState State, Status Status, Security.EndpointTls? Tls);

    /// <summary>A picker that fails every call with one status (the channel cannot route at all).</summary>
    private sealed class ErrorPicker(Status status) : SubchannelPicker
    {
        public override PickResult Pick(PickContext context) => PickResult.ForFailure(status);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Channel to '{Target}' updated from snapshot v{Version}: {Subchannels} subchannel(s), {Created} new")]
        public static partial void Updated(ILogger logger, string target, long version, int subchannels, int created);

        [LoggerMessage(2, LogLevel.Debug, "Subchannel for endpoint {Endpoint} failed to connect: {Detail}")]
        public static partial void SubchannelFailed(ILogger logger, string endpoint, string detail);

        [LoggerMessage(3, LogLevel.Information, "The TLS settings of endpoint {Endpoint} changed; {Closed} connection(s) made for the old settings closed, and a new subchannel connects")]
        public static partial void TlsChanged(ILogger logger, string endpoint, int closed);
    }
}
