using System.Collections.Immutable;
using Envoy.Config.Core.V3;

namespace Mesh.Xds.Server;

/// <summary>The flavour of an ADS stream.</summary>
public enum XdsStreamProtocol
{
    /// <summary><c>StreamAggregatedResources</c>: every response carries the state of the world of its type.</summary>
    StateOfTheWorld,

    /// <summary><c>DeltaAggregatedResources</c>: responses carry changed resources and the names of removed ones.</summary>
    Delta,
}

/// <summary>
/// A connected xDS client (one ADS stream), for admin pages: who it is and, per resource type, what it subscribed to,
/// what it was sent, and what it accepted or rejected. The object is live: <see cref="Types"/> changes as the stream
/// goes on; every value read from it is an immutable snapshot.
/// </summary>
public sealed class XdsServerClientStatus
{
    private ImmutableDictionary<string, XdsServerTypeStatus> _types = ImmutableDictionary.Create<string, XdsServerTypeStatus>(StringComparer.Ordinal);

    internal XdsServerClientStatus(long streamId, XdsStreamProtocol protocol, Node node, string snapshotKey, string peer, string? userAgentHeader, DateTimeOffset connectedAt)
    {
        StreamId = streamId;
        Protocol = protocol;
        NodeId = node.Id;
        Cluster = node.Cluster;
        UserAgent = FormatUserAgent(node, userAgentHeader);
        ClientFeatures = [.. node.ClientFeatures];
        SnapshotKey = snapshotKey;
        Peer = peer;
        ConnectedAt = connectedAt;
    }

    /// <summary>The stream's id on this server (increasing in order of connection).</summary>
    public long StreamId { get; }

    /// <summary>SotW or delta.</summary>
    public XdsStreamProtocol Protocol { get; }

    /// <summary>The client's <c>node.id</c>.</summary>
    public string NodeId { get; }

    /// <summary>The client's <c>node.cluster</c>.</summary>
    public string Cluster { get; }

    /// <summary>
    /// <c>node.user_agent_name</c> and <c>node.user_agent_version</c> (e.g. <c>grpc-go/1.70.0</c>), or the HTTP
    /// <c>user-agent</c> header when the node has none.
    /// </summary>
    public string UserAgent { get; }

    /// <summary>The client's <c>node.client_features</c>.</summary>
    public IReadOnlyList<string> ClientFeatures { get; }

    /// <summary>The key of the snapshot this client is served from (see <see cref="XdsServerOptions.NodeHash"/>).</summary>
    public string SnapshotKey { get; }

    /// <summary>The client's address, as gRPC reports it (e.g. <c>ipv4:127.0.0.1:53012</c>).</summary>
    public string Peer { get; }

    /// <summary>When the stream's first request arrived.</summary>
    public DateTimeOffset ConnectedAt { get; }

    /// <summary>Per resource type the client asked for, ordered by type URL.</summary>
    public IReadOnlyList<XdsServerTypeStatus> Types => [.. Volatile.Read(ref _types).Values.OrderBy(static t => t.TypeUrl, StringComparer.Ordinal)];

    /// <summary>The status of one type, or null when the client never asked for it.</summary>
    public XdsServerTypeStatus? GetTypeStatus(string typeUrl) => Volatile.Read(ref _types).GetValueOrDefault(typeUrl);

    /// <inheritdoc />
    public override string ToString() => $"stream {StreamId} ({Protocol}) of node '{NodeId}' from {Peer}";

    /// <summary>Replaces the status of a type. Called only by the stream's loop, so there is a single writer.</summary>
    internal void Update(string typeUrl, Func<XdsServerTypeStatus, XdsServerTypeStatus> update)
    {
        var types = _types;
        var current = types.GetValueOrDefault(typeUrl) ?? new XdsServerTypeStatus { TypeUrl = typeUrl };
        Volatile.Write(ref _types, types.SetItem(typeUrl, update(current)));
    }

    private static string FormatUserAgent(Node node, string? userAgentHeader)
    {
        if (node.UserAgentName.Length == 0)
        {
            return userAgentHeader ?? string.Empty;
        }

        return node.UserAgentVersionTypeCase == Node.UserAgentVersionTypeOneofCase.UserAgentVersion
            ? $"{node.UserAgentName}/{node.UserAgentVersion}"
            : node.UserAgentName;
    }
}

/// <summary>What one client subscribed to, was sent, accepted and rejected, for one resource type.</summary>
public sealed record XdsServerTypeStatus
{
    /// <summary>The type URL.</summary>
    public required string TypeUrl { get; init; }

    /// <summary>The names the client subscribed to explicitly, sorted (without <c>*</c>; see <see cref="Wildcard"/>).</summary>
    public IReadOnlyList<string> SubscribedNames { get; init; } = [];

    /// <summary>Whether the client subscribed to every resource of the type (an empty first request, or <c>*</c>).</summary>
    public bool Wildcard { get; init; }

    /// <summary>The version of the last response sent (<c>version_info</c> or <c>system_version_info</c>).</summary>
    public string? LastSentVersion { get; init; }

    /// <summary>The nonce of the last response sent.</summary>
    public string? LastSentNonce { get; init; }

    /// <summary>The number of resources in the last response sent.</summary>
    public int LastSentResourceCount { get; init; }

    /// <summary>When the last response was sent.</summary>
    public DateTimeOffset? LastSentAt { get; init; }

    /// <summary>The last version the client accepted (ACKed).</summary>
    public string? LastAckedVersion { get; init; }

    /// <summary>When the client last ACKed.</summary>
    public DateTimeOffset? LastAckedAt { get; init; }

    /// <summary>The last response the client rejected, with its error; kept after later ACKs, for diagnosis.</summary>
    public XdsNackStatus? LastNack { get; init; }

    /// <summary>Whether the last response sent was rejected (and nothing was sent since).</summary>
    public bool IsRejected => LastNack is not null && string.Equals(LastNack.Nonce, LastSentNonce, StringComparison.Ordinal);
}

/// <summary>A rejected (NACKed) response.</summary>
/// <param name="Version">The version of the rejected response.</param>
/// <param name="Nonce">The nonce of the rejected response.</param>
/// <param name="ErrorMessage">The client's <c>error_detail.message</c>.</param>
/// <param name="At">When the NACK arrived.</param>
public sealed record XdsNackStatus(string Version, string Nonce, string ErrorMessage, DateTimeOffset At);
