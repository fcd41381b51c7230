using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Mesh.LoadBalancing;
using PickContext = Mesh.LoadBalancing.PickContext;
using Mesh.Model;

namespace Mesh.Grpc.Balancer;

/// <summary>
/// One channel's view of its endpoints' connectivity (a subchannel per endpoint), published by the mesh load
/// balancer on every state change. Picks use it to choose among the endpoints the channel can reach now, with
/// the cluster's own policy, as gRPC's balancers pick among READY subchannels only.
/// </summary>
internal sealed class MeshChannel(string target)
{
    private readonly ConditionalWeakTable<ClusterModel, ReachablePicker> _pickers = [];
    private ConnectivityView _view = ConnectivityView.Empty;
    private Internal.MeshResolution? _resolution;

    /// <summary>The channel's target (<c>host:port</c>).</summary>
    public string Target { get; } = target;

    /// <summary>
    /// The resolver's latest result for the load balancer. grpc-dotnet passes a resolver's addresses and service config
    /// to the balancer but not the result's attributes, so the channel carries it: the balancer gets the channel in its
    /// load-balancing config, once, when the channel creates it.
    /// </summary>
    internal Internal.MeshResolution? Resolution
    {
        get => Volatile.Read(ref _resolution);
        set => Volatile.Write(ref _resolution, value);
    }

    public ConnectivityView View => Volatile.Read(ref _view);

    /// <summary>Why the mesh could not secure this channel's connections (its endpoints with TLS then fail), or <see langword="null"/>.</summary>
    internal string? TlsError { get; set; }

    /// <summary>The open connections of the channel's handler, or <see langword="null"/> when the mesh could not track them.</summary>
    internal Security.GrpcConnectionTracker? Connections { get; set; }

    public void Publish(ConnectivityView view) => Volatile.Write(ref _view, view);

    /// <summary>
    /// Picks an endpoint of <paramref name="cluster"/> among those with a READY subchannel; when none is ready, the
    /// cluster's own pick, which the channel's picker then queues (connecting) or fails (unreachable).
    /// </summary>
    public EndpointModel? Pick(ClusterModel cluster, in PickContext pick)
    {
        var view = View;
        if (!_pickers.TryGetValue(cluster, out var reachable) || reachable.View != view || reachable.CandidatesVersion != cluster.CandidatesVersion)
        {
            reachable = ReachablePicker.Create(cluster, view);
            _pickers.AddOrUpdate(cluster, reachable);
        }

        return reachable.Picker?.Pick(in pick) ?? cluster.Pick(in pick);
    }

    private sealed class ReachablePicker
    {
        public required ConnectivityView View { get; init; }

        public required int CandidatesVersion { get; init; }

        public required EndpointPicker? Picker { get; init; }

        public static ReachablePicker Create(ClusterModel cluster, ConnectivityView view)
        {
            var version = cluster.CandidatesVersion;
            var candidates = cluster.Candidates;
            var ready = ImmutableArray.CreateBuilder<EndpointModel>(candidates.Length);
            foreach (var endpoint in candidates)
            {
                if (view.TryGet(endpoint.Key, out var entry) && entry.State == ConnectivityState.Ready)
                {
                    ready.Add(endpoint);
                }
            }

            // Every candidate ready: the cluster's own picker is the same picker, and keeps its position across views.
            var picker = ready.Count == 0 ? null : ready.Count == candidates.Length ? cluster.Picker : cluster.CreatePicker(ready.ToImmutable());
            return new ReachablePicker { View = view, CandidatesVersion = version, Picker = picker };
        }
    }
}

/// <summary>A subchannel and its last known state.</summary>
internal readonly record struct SubchannelEntry(Subchannel Subchannel, ConnectivityState State, Status Status);

/// <summary>The subchannels of a channel by endpoint key (<c>http://10.0.0.1:50051</c>), immutable.</summary>
internal sealed class ConnectivityView(FrozenDictionary<string, SubchannelEntry> entries)
{
    public static ConnectivityView Empty { get; } = new(FrozenDictionary<string, SubchannelEntry>.Empty);

    public FrozenDictionary<string, SubchannelEntry> Entries { get; } = entries;

    public bool TryGet(string key, out SubchannelEntry entry) => Entries.TryGetValue(key, out entry);
}
