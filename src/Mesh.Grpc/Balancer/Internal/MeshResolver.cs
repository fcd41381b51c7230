using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Mesh.Model;
using Microsoft.Extensions.Logging;

namespace Mesh.Grpc.Balancer.Internal;

/// <summary>Resolves one channel's target from the current mesh snapshot, and again on every new one.</summary>
internal sealed partial class MeshResolver : Resolver
{
    private readonly MeshState _state;
    private readonly string _target;
    private readonly ILogger _logger;
    private readonly MeshChannel _channel;
    private readonly Lock _lock = new();
    private Action<ResolverResult>? _listener;
    private long _published = -1;

    public MeshResolver(MeshState state, string target, ILogger logger)
    {
        _state = state;
        _target = target;
        _logger = logger;
        _channel = new MeshChannel(target);
    }

    public override void Start(Action<ResolverResult> listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _listener = listener;
        _state.SnapshotChanged += OnSnapshotChanged;
        Publish(_state.Current);
    }

    public override void Refresh()
    {
        // The mesh pushes every change; a refresh (after a subchannel failure) has nothing new to ask for.
    }

    protected override void Dispose(bool disposing)
    {
        _state.SnapshotChanged -= OnSnapshotChanged;
        base.Dispose(disposing);
    }

    private void OnSnapshotChanged(MeshSnapshot snapshot) => Publish(snapshot);

    private void Publish(MeshSnapshot snapshot)
    {
        lock (_lock)
        {
            // The first configuration has not arrived: calls wait, as gRPC's xDS resolver waits for the listener.
            if (_listener is null || snapshot.Version == 0 || snapshot.Version <= _published)
            {
                return;
            }

            _published = snapshot.Version;
            var service = FindService(snapshot, _target);
            ResolverResult result;
            if (service is null)
            {
                var error = $"'{_target}' is not a mesh service (snapshot v{snapshot.Version} from {snapshot.Source} knows {string.Join(", ", snapshot.Services.Select(s => s.Name))}); add it to the mesh configuration (or to Xds:Targets)";
                Log.UnknownTarget(_logger, _target, snapshot.Version);
                _channel.Resolution = new MeshResolution(snapshot, null, _channel, error);
                result = ResolverResult.ForResult([], CreateServiceConfig(), null);
            }
            else
            {
                var addresses = Addresses(service);
                Log.Resolved(_logger, _target, service.Name, addresses.Count, snapshot.Version);
                _channel.Resolution = new MeshResolution(snapshot, service, _channel, null);
                result = ResolverResult.ForResult(addresses, CreateServiceConfig(), null);
            }

            _listener(result);
        }
    }

    /// <summary>The mesh policy, with this channel in its configuration: the balancer reads every resolution from it.</summary>
    private ServiceConfig CreateServiceConfig()
    {
        var policy = new LoadBalancingConfig(MeshLoadBalancerFactory.PolicyName);
        ((IDictionary<string, object>)policy.Inner[MeshLoadBalancerFactory.PolicyName])[MeshLoadBalancerFactory.ChannelKey] = _channel;
        return new ServiceConfig { LoadBalancingConfigs = { policy } };
    }

    /// <summary>The service of <c>host:port</c>: by the whole target first, then by its host.</summary>
    internal static ServiceModel? FindService(MeshSnapshot snapshot, string target)
    {
        if (snapshot.TryGetService(target, out var service))
        {
            return service;
        }

        var colon = target.LastIndexOf(':');
        return colon > 0 && target.IndexOf(']', colon) < 0 && snapshot.TryGetService(target.AsSpan(0, colon).Trim('[').TrimEnd(']'), out service) ? service : null;
    }

    /// <summary>One address per endpoint the service can send to (every cluster of every route), usable ones only.</summary>
    private static List<BalancerAddress> Addresses(ServiceModel service)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var addresses = new List<BalancerAddress>();
        foreach (var route in service.Routes)
        {
            foreach (var (cluster, _) in route.Destinations)
            {
                foreach (var endpoint in cluster.Endpoints)
                {
                    if (endpoint.IsUsable && seen.Add(endpoint.Key))
                    {
                        var address = new BalancerAddress(endpoint.Host, endpoint.Port);
                        address.Attributes.Set(MeshResolution.EndpointKey, endpoint.Key);
                        addresses.Add(address);
                    }
                }
            }
        }

        return addresses;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Target '{Target}' resolved to service '{Service}' with {Addresses} address(es) from snapshot v{Version}")]
        public static partial void Resolved(ILogger logger, string target, string service, int addresses, long version);

        [LoggerMessage(2, LogLevel.Warning, "Target '{Target}' is not a mesh service in snapshot v{Version}; its calls fail until the mesh configuration has it")]
        public static partial void UnknownTarget(ILogger logger, string target, long version);
    }
}
