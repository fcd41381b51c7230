using System.Collections.Frozen;
using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Mesh.Grpc.Security;
using Mesh.Identity;
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
    private readonly MeshGrpcTlsHandler? _tlsHandler;
    private readonly IWorkloadIdentityProvider? _identity;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private Action<ResolverResult>? _listener;
    private long _published = -1;

    public MeshResolver(MeshState state, string target, ILogger logger, MeshGrpcTlsHandler? tlsHandler = null, IWorkloadIdentityProvider? identity = null, TimeProvider? time = null)
    {
        _state = state;
        _target = target;
        _logger = logger;
        _tlsHandler = tlsHandler;
        _identity = identity;
        _time = time ?? TimeProvider.System;
        _channel = new MeshChannel(target);
    }

    public override void Start(Action<ResolverResult> listener)
    {
        ArgumentNullException.ThrowIfNull(listener);

        // The channel has installed its connect callback by now, and has not sent a request yet.
        GrpcConnectionTracker? tracker = null;
        _channel.TlsError = _tlsHandler is null
            ? "the channel sends through GrpcChannelOptions.HttpClient, which the mesh cannot secure; give it an HttpHandler (a SocketsHttpHandler) or none"
            : GrpcClientTls.TryInstall(_tlsHandler.InnerHandler, _time, _logger, out tracker);
        _channel.Connections = tracker;
        if (_tlsHandler is not null)
        {
            _tlsHandler.Identity = _identity;
            _tlsHandler.InstallError = _channel.TlsError;
        }

        if (_channel.TlsError is { } tlsError)
        {
            Log.TlsUnavailable(_logger, _target, tlsError);
        }

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
                var tls = EndpointsWithTls(service);
                var addresses = Addresses(service, tls);
                Log.Resolved(_logger, _target, service.Name, addresses.Count, snapshot.Version);
                _channel.Resolution = new MeshResolution(snapshot, service, _channel, null, tls);
                if (tls.Count > 0 && _tlsHandler is not null)
                {
                    _tlsHandler.AnyTls = true;
                }

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
    private static List<BalancerAddress> Addresses(ServiceModel service, FrozenDictionary<string, EndpointTls> tls)
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
                        if (tls.TryGetValue(endpoint.Key, out var endpointTls))
                        {
                            address.Attributes.Set(MeshResolution.TlsKey, endpointTls);
                            address.Attributes.Set(MeshResolution.StateKey, endpoint.State);
                        }

                        addresses.Add(address);
                    }
                }
            }
        }

        return addresses;
    }

    /// <summary>
    /// The TLS of each endpoint the service can send to that any of its clusters secures. All its clusters must agree (a
    /// connection serves every call to the endpoint); when they do not, the endpoint gets a conflict and is not connected to.
    /// </summary>
    internal static FrozenDictionary<string, EndpointTls> EndpointsWithTls(ServiceModel service)
    {
        Dictionary<string, (ClusterModel First, bool Conflict)>? byEndpoint = null;
        foreach (var route in service.Routes)
        {
            foreach (var (cluster, _) in route.Destinations)
            {
                foreach (var endpoint in cluster.Endpoints)
                {
                    byEndpoint ??= new(StringComparer.Ordinal);
                    if (!byEndpoint.TryGetValue(endpoint.Key, out var seen))
                    {
                        byEndpoint[endpoint.Key] = (cluster, false);
                    }
                    else if (!Equals(seen.First.Tls, cluster.Tls))
                    {
                        byEndpoint[endpoint.Key] = seen with { Conflict = true };
                    }
                }
            }
        }

        if (byEndpoint is null)
        {
            return FrozenDictionary<string, EndpointTls>.Empty;
        }

        var result = new Dictionary<string, EndpointTls>(StringComparer.Ordinal);
        foreach (var (key, (first, conflict)) in byEndpoint)
        {
            if (conflict)
            {
                result[key] = EndpointTls.Conflicting(first.Name, $"the clusters of service '{service.Name}' that have endpoint {key} disagree on its TLS settings, and one connection serves them all; give them the same Tls settings");
            }
            else if (first.Tls is { } policy)
            {
                result[key] = EndpointTls.For(first.Name, policy);
            }
        }

        return result.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static partial class Log
    {
        [LoggerMessage(3, LogLevel.Warning, "The mesh cannot secure the connections of the channel to '{Target}': {Reason}; its endpoints with TLS fail")]
        public static partial void TlsUnavailable(ILogger logger, string target, string reason);

        [LoggerMessage(1, LogLevel.Debug, "Target '{Target}' resolved to service '{Service}' with {Addresses} address(es) from snapshot v{Version}")]
        public static partial void Resolved(ILogger logger, string target, string service, int addresses, long version);

        [LoggerMessage(2, LogLevel.Warning, "Target '{Target}' is not a mesh service in snapshot v{Version}; its calls fail until the mesh configuration has it")]
        public static partial void UnknownTarget(ILogger logger, string target, long version);
    }
}
