using Envoy.Config.Core.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Server;

/// <summary>
/// An incremental (delta) ADS stream (<c>DeltaAggregatedResources</c>). Per type it tracks the subscription (names,
/// and the <c>*</c> wildcard) and what the client holds (name → version, seeded from
/// <c>initial_resource_versions</c>), and sends only resources the client lacks or holds at another version, plus
/// <c>removed_resources</c> for what it holds that was deleted and for subscribed names that do not exist.
/// </summary>
internal sealed class XdsDeltaStream : XdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>
{
    private const string Wildcard = "*";

    /// <summary>Responses awaiting an ACK/NACK that are remembered per type; a client that never answers cannot grow this.</summary>
    private const int MaxPendingNonces = 32;

    private readonly Dictionary<string, TypeState> _types = new(StringComparer.Ordinal);

    public XdsDeltaStream(XdsSnapshotCache cache, IAsyncStreamReader<DeltaDiscoveryRequest> requests, IServerStreamWriter<DeltaDiscoveryResponse> responses, string peer, string? userAgentHeader, ILogger logger)
        : base(cache, XdsStreamProtocol.Delta, requests, responses, peer, userAgentHeader, logger)
    {
    }

    protected override Node? GetNode(DeltaDiscoveryRequest request) => request.Node;

    protected override async ValueTask OnRequestAsync(DeltaDiscoveryRequest request, CancellationToken cancellationToken)
    {
        var typeUrl = request.TypeUrl;
        if (typeUrl.Length == 0)
        {
            throw MissingTypeUrl("DeltaDiscoveryRequest.type_url");
        }

        var first = !_types.TryGetValue(typeUrl, out var state);
        if (state is null)
        {
            state = new TypeState();
            _types.Add(typeUrl, state);
        }

        RecordAnswer(typeUrl, state, request);
        UpdateSubscription(state, request, first);
        RecordSubscription(typeUrl, state.Names, state.Wildcard);
        await RespondAsync(typeUrl, state, cancellationToken).ConfigureAwait(false);
    }

    protected override async ValueTask OnSnapshotChangedAsync(IComparer<string> typeOrder, CancellationToken cancellationToken)
    {
        foreach (var typeUrl in _types.Keys.Order(typeOrder).ToArray())
        {
            await RespondAsync(typeUrl, _types[typeUrl], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// An ACK or NACK of an earlier response. Unlike SotW, a request with an old nonce still counts: subscription
    /// changes are honoured whatever the nonce (the protocol says so), and each response is answered on its own.
    /// </summary>
    private void RecordAnswer(string typeUrl, TypeState state, DeltaDiscoveryRequest request)
    {
        var nonce = request.ResponseNonce;
        if (nonce.Length == 0)
        {
            return;
        }

        var index = state.PendingNonces.FindIndex(p => string.Equals(p.Nonce, nonce, StringComparison.Ordinal));
        if (index < 0)
        {
            LogStaleNonce(typeUrl, nonce);
            return;
        }

        var version = state.PendingNonces[index].Version;
        state.PendingNonces.RemoveAt(index);
        if (request.ErrorDetail is { } error)
        {
            // What the client rejected stays recorded as held, so that the same versions are not sent again.
            RecordNack(typeUrl, version, nonce, error.Message);
        }
        else
        {
            RecordAck(typeUrl, version, nonce);
        }
    }

    private static void UpdateSubscription(TypeState state, DeltaDiscoveryRequest request, bool first)
    {
        if (first)
        {
            foreach (var (name, version) in request.InitialResourceVersions)
            {
                state.Held[name] = version;
            }

            // The legacy wildcard: a first request that names nothing subscribes to everything (as "*" would).
            if (request.ResourceNamesSubscribe.Count == 0 && request.ResourceNamesUnsubscribe.Count == 0)
            {
                state.Wildcard = true;
            }
        }

        foreach (var name in request.ResourceNamesSubscribe)
        {
            if (name == Wildcard)
            {
                state.Wildcard = true;
                continue;
            }

            state.Names.Add(name);
            state.ReportedAbsent.Remove(name);
            if (!request.InitialResourceVersions.ContainsKey(name))
            {
                // A subscription is answered even when the client seems to hold the resource: it may have dropped it.
                state.Held.Remove(name);
            }
        }

        foreach (var name in request.ResourceNamesUnsubscribe)
        {
            if (name == Wildcard)
            {
                state.Wildcard = false;
                continue;
            }

            state.Names.Remove(name);
            state.ReportedAbsent.Remove(name);
            state.Held.Remove(name);
            if (state.Wildcard)
            {
                // Still wanted through the wildcard: the client must be told whether it exists (sent again, or removed).
                state.ConfirmAfterUnsubscribe.Add(name);
            }
        }
    }

    private async ValueTask RespondAsync(string typeUrl, TypeState state, CancellationToken cancellationToken)
    {
        if (Snapshot is not { } snapshot)
        {
            return;
        }

        var set = snapshot.GetResources(typeUrl);
        var response = new DeltaDiscoveryResponse { SystemVersionInfo = set.Version, TypeUrl = typeUrl, ControlPlane = ControlPlane };
        var sentCount = 0;
        var resources = set.Resources.Values.OrderBy(static r => r.Name, StringComparer.Ordinal);
        foreach (var resource in resources)
        {
            if ((state.Wildcard || state.Names.Contains(resource.Name))
                && (!state.Held.TryGetValue(resource.Name, out var held) || !string.Equals(held, resource.Version, StringComparison.Ordinal)))
            {
                response.Resources.Add(new Resource { Name = resource.Name, Version = resource.Version, Resource_ = resource.Resource });
                state.Held[resource.Name] = resource.Version;
                state.ReportedAbsent.Remove(resource.Name);
                sentCount++;
            }
        }

        var removed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var name in state.Held.Keys.ToArray())
        {
            if (!set.Contains(name))
            {
                // Deleted since the client got it.
                removed.Add(name);
                state.Held.Remove(name);
            }
            else if (!state.Wildcard && !state.Names.Contains(name))
            {
                // Held from initial_resource_versions or the wildcard, but no longer subscribed: the client drops it.
                state.Held.Remove(name);
            }
        }

        foreach (var name in state.Names)
        {
            // A subscribed name that does not exist is reported once, so the client need not wait for its timeout.
            if (!set.Contains(name) && state.ReportedAbsent.Add(name))
            {
                removed.Add(name);
            }
        }

        foreach (var name in state.ConfirmAfterUnsubscribe)
        {
            if (!set.Contains(name))
            {
                removed.Add(name);
            }
        }

        state.ConfirmAfterUnsubscribe.Clear();

        // The first response to a wildcard subscription is sent even when empty: it tells the client there is nothing.
        if (sentCount == 0 && removed.Count == 0 && (state.Responded || !state.Wildcard))
        {
            return;
        }

        response.RemovedResources.AddRange(removed);
        response.Nonce = NextNonce();
        state.Responded = true;
        if (state.PendingNonces.Count == MaxPendingNonces)
        {
            state.PendingNonces.RemoveAt(0);
        }

        state.PendingNonces.Add((response.Nonce, set.Version));
        await SendAsync(response, cancellationToken).ConfigureAwait(false);
        RecordSent(typeUrl, set.Version, response.Nonce, sentCount, removed.Count);
    }

    private sealed class TypeState
    {
        public bool Wildcard { get; set; }

        /// <summary>The names subscribed explicitly (without <c>*</c>).</summary>
        public HashSet<string> Names { get; } = new(StringComparer.Ordinal);

        /// <summary>What the client holds (or was sent): name → version.</summary>
        public Dictionary<string, string> Held { get; } = new(StringComparer.Ordinal);

        /// <summary>Subscribed names already reported as absent in <c>removed_resources</c>.</summary>
        public HashSet<string> ReportedAbsent { get; } = new(StringComparer.Ordinal);

        /// <summary>Names unsubscribed while the wildcard holds, to confirm with the next response.</summary>
        public HashSet<string> ConfirmAfterUnsubscribe { get; } = new(StringComparer.Ordinal);

        /// <summary>Responses not yet ACKed or NACKed, oldest first: nonce and system version.</summary>
        public List<(string Nonce, string Version)> PendingNonces { get; } = [];

        public bool Responded { get; set; }
    }
}
