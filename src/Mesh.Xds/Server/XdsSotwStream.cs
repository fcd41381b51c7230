using Envoy.Config.Core.V3;
using Envoy.Service.Discovery.V3;
using Google.Protobuf.Collections;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Server;

/// <summary>
/// A state-of-the-world ADS stream (<c>StreamAggregatedResources</c>). Per type it tracks the subscription
/// (explicit names, or wildcard), the nonce of the latest response and what that response held (name → version).
/// A type is pushed only when what the client should now hold differs from what it was last sent: a changed or
/// newly requested resource, or, for listeners and clusters (whose responses are the full state), a removed one.
/// So an ACK gets no resend, and a NACKed version is not sent again until something changes.
/// </summary>
internal sealed class XdsSotwStream : XdsStream<DiscoveryRequest, DiscoveryResponse>
{
    private const string Wildcard = "*";

    private readonly Dictionary<string, TypeState> _types = new(StringComparer.Ordinal);

    public XdsSotwStream(XdsSnapshotCache cache, IAsyncStreamReader<DiscoveryRequest> requests, IServerStreamWriter<DiscoveryResponse> responses, string peer, string? userAgentHeader, ILogger logger)
        : base(cache, XdsStreamProtocol.StateOfTheWorld, requests, responses, peer, userAgentHeader, logger)
    {
    }

    protected override Node? GetNode(DiscoveryRequest request) => request.Node;

    protected override async ValueTask OnRequestAsync(DiscoveryRequest request, CancellationToken cancellationToken)
    {
        var typeUrl = request.TypeUrl;
        if (typeUrl.Length == 0)
        {
            throw MissingTypeUrl("DiscoveryRequest.type_url");
        }

        if (!_types.TryGetValue(typeUrl, out var state))
        {
            state = new TypeState();
            _types.Add(typeUrl, state);
        }

        var nonce = request.ResponseNonce;

        // A nonce while nothing of the type was sent on this stream answers a response of an earlier stream (a
        // reconnecting client): it is a plain subscription.
        if (nonce.Length > 0 && state.SentNonce is not null)
        {
            // A request answering an older response is superseded by the one that will answer the latest (which
            // carries the client's whole subscription again), so it is ignored, as the protocol asks.
            if (!string.Equals(nonce, state.SentNonce, StringComparison.Ordinal))
            {
                LogStaleNonce(typeUrl, nonce);
                return;
            }

            if (request.ErrorDetail is { } error)
            {
                RecordNack(typeUrl, state.SentVersion ?? string.Empty, nonce, error.Message);
            }
            else
            {
                RecordAck(typeUrl, request.VersionInfo, nonce);
            }
        }

        UpdateSubscription(state, request.ResourceNames);
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
    /// Applies the request's names. The first requests of a type with no names subscribe to every resource (the legacy
    /// wildcard); once a name was given, the names are the subscription, with <c>*</c> for every resource.
    /// </summary>
    private static void UpdateSubscription(TypeState state, RepeatedField<string> requested)
    {
        if (!state.NamedEver && requested.Count == 0)
        {
            state.Wildcard = true;
            return;
        }

        state.NamedEver = true;
        var wildcard = false;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in requested)
        {
            if (name == Wildcard)
            {
                wildcard = true;
            }
            else if (names.Add(name) && !state.Names.Contains(name))
            {
                // Newly requested: send it even if an earlier response (e.g. for the wildcard) already carried it.
                state.Sent?.Remove(name);
            }
        }

        state.Wildcard = wildcard;
        state.Names = names;
    }

    private async ValueTask RespondAsync(string typeUrl, TypeState state, CancellationToken cancellationToken)
    {
        if (Snapshot is not { } snapshot)
        {
            return;
        }

        var set = snapshot.GetResources(typeUrl);
        var view = new List<XdsResource>();
        if (state.Wildcard)
        {
            view.AddRange(set.Resources.Values);
        }
        else
        {
            foreach (var name in state.Names)
            {
                if (set.TryGetResource(name, out var resource))
                {
                    view.Add(resource);
                }
            }
        }

        var fullState = XdsTypeNames.IsFullStateInSotW(typeUrl);
        if (!MustSend(state.Sent, view, fullState))
        {
            if (state.Sent is not null)
            {
                // Forget what left the view (deleted or unsubscribed), so that it is sent again if it comes back.
                state.Sent = ToVersions(view);
            }

            return;
        }

        view.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var response = new DiscoveryResponse
        {
            VersionInfo = set.Version,
            TypeUrl = typeUrl,
            Nonce = NextNonce(),
            ControlPlane = ControlPlane,
        };
        foreach (var resource in view)
        {
            response.Resources.Add(resource.Resource);
        }

        state.Sent = ToVersions(view);
        state.SentNonce = response.Nonce;
        state.SentVersion = response.VersionInfo;
        await SendAsync(response, cancellationToken).ConfigureAwait(false);
        RecordSent(typeUrl, response.VersionInfo, response.Nonce, view.Count, 0);
    }

    /// <summary>
    /// Whether the client should be sent <paramref name="view"/>. The first time: always for listeners and clusters
    /// (an empty response tells the client that its resources do not exist), otherwise when there is something.
    /// Later: when a resource is new or changed, or, for full-state types, when one left.
    /// </summary>
    private static bool MustSend(Dictionary<string, string>? sent, List<XdsResource> view, bool fullState)
    {
        if (sent is null)
        {
            return fullState || view.Count > 0;
        }

        foreach (var resource in view)
        {
            if (!sent.TryGetValue(resource.Name, out var version) || !string.Equals(version, resource.Version, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return fullState && sent.Count != view.Count;
    }

    private static Dictionary<string, string> ToVersions(List<XdsResource> view)
    {
        var versions = new Dictionary<string, string>(view.Count, StringComparer.Ordinal);
        foreach (var resource in view)
        {
            versions[resource.Name] = resource.Version;
        }

        return versions;
    }

    private sealed class TypeState
    {
        /// <summary>Whether a request ever named a resource (which ends the legacy wildcard).</summary>
        public bool NamedEver { get; set; }

        public bool Wildcard { get; set; }

        public HashSet<string> Names { get; set; } = new(StringComparer.Ordinal);

        /// <summary>What the latest response held, name → version; null before the first response.</summary>
        public Dictionary<string, string>? Sent { get; set; }

        public string? SentNonce { get; set; }

        public string? SentVersion { get; set; }
    }
}
