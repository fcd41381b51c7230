using System.Text;
using System.Text.Json;
using Envoy.Admin.V3;
using Envoy.Config.Core.V3;
using Envoy.Service.Status.V3;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;

namespace Mesh.Xds.Client;

/// <summary>The cache status of one subscribed resource, as CSDS's <c>envoy.admin.v3.ClientResourceStatus</c>.</summary>
internal enum XdsResourceStatus
{
    /// <summary>Requested; no answer yet.</summary>
    Requested,

    /// <summary>The last update was valid and is in use.</summary>
    Acked,

    /// <summary>The last update was rejected; the value before it, if any, stays in use.</summary>
    Nacked,

    /// <summary>The server deleted the resource, or did not send it within the does-not-exist timeout.</summary>
    DoesNotExist,

    /// <summary>The server reported an error for the resource (xRFC TP3).</summary>
    ReceivedError,

    /// <summary>Not received within the resource timer, treated as a transient error (gRFC A88 server feature).</summary>
    Timeout,
}

/// <summary>The state of the ADS stream, as a gRPC channel's connectivity state.</summary>
internal enum XdsConnectionState
{
    /// <summary>Not started: nothing watched yet.</summary>
    Idle,

    /// <summary>A stream is being opened.</summary>
    Connecting,

    /// <summary>The stream is open: a request went out on it.</summary>
    Ready,

    /// <summary>The last stream failed without a response; retrying with backoff.</summary>
    TransientFailure,

    /// <summary>The client was disposed.</summary>
    Shutdown,
}

/// <summary>Why the last update of a resource was rejected (CSDS <c>UpdateFailureState</c>).</summary>
/// <param name="Details">The validation error, or the error the server reported.</param>
/// <param name="Version">The version of the rejected response.</param>
/// <param name="Time">When the update was rejected.</param>
/// <param name="FailedConfiguration">The rejected resource, when it could be read.</param>
internal sealed record XdsResourceErrorState(string Details, string Version, DateTimeOffset Time, Any? FailedConfiguration);

/// <summary>One subscribed resource in the client's cache.</summary>
/// <param name="TypeUrl">The resource type URL.</param>
/// <param name="Name">The resource name.</param>
/// <param name="Version">The version of the response that carried the value in use, if any.</param>
/// <param name="Status">The cache status.</param>
/// <param name="LastUpdated">When the value in use was received.</param>
/// <param name="Error">Why the last update was rejected, if it was.</param>
/// <param name="Resource">The value in use as received (the last good one), if any.</param>
internal sealed record XdsClientResourceStatus(
    string TypeUrl,
    string Name,
    string? Version,
    XdsResourceStatus Status,
    DateTimeOffset? LastUpdated,
    XdsResourceErrorState? Error,
    Any? Resource);

/// <summary>Counters of the ADS stream since the client started.</summary>
/// <param name="StreamsStarted">ADS streams opened.</param>
/// <param name="StreamFailures">Streams that ended without any response (connectivity errors, gRFC A57).</param>
/// <param name="ResponsesReceived">Discovery responses received.</param>
/// <param name="ResponsesAcked">Responses accepted whole.</param>
/// <param name="ResponsesNacked">Responses with at least one rejected resource.</param>
/// <param name="ResourcesNotFound">Resources reported as not existing (timer or deletion).</param>
/// <param name="LastBackoff">The last delay waited before reopening a stream, if any.</param>
internal readonly record struct XdsClientCounters(
    long StreamsStarted,
    long StreamFailures,
    long ResponsesReceived,
    long ResponsesAcked,
    long ResponsesNacked,
    long ResourcesNotFound,
    TimeSpan? LastBackoff);

/// <summary>
/// A point-in-time view of an <see cref="XdsClient"/>: the server, the stream, counters and every subscribed resource.
/// Converts to CSDS (<see cref="ToClientStatusResponse"/>) and to a JSON dump (<see cref="ToJson"/>).
/// </summary>
/// <param name="ServerUri">The xDS server in use (the bootstrap's <c>server_uri</c>).</param>
/// <param name="ConnectionState">The state of the ADS stream.</param>
/// <param name="Node">The node the client identifies itself with.</param>
/// <param name="Counters">Stream counters.</param>
/// <param name="LastStreamError">The last stream error, if any.</param>
/// <param name="LastStreamErrorTime">When it happened.</param>
/// <param name="Resources">Every subscribed resource, ordered by type URL and name.</param>
internal sealed record XdsClientStatus(
    string ServerUri,
    XdsConnectionState ConnectionState,
    Node Node,
    XdsClientCounters Counters,
    string? LastStreamError,
    DateTimeOffset? LastStreamErrorTime,
    IReadOnlyList<XdsClientResourceStatus> Resources)
{
    private static readonly Lazy<TypeRegistry> Registry = new(CreateTypeRegistry);

    /// <summary>The status as a CSDS <c>ClientConfig</c> with one <c>generic_xds_configs</c> entry per resource.</summary>
    public ClientConfig ToClientConfig(bool excludeResourceContents = false)
    {
        var config = new ClientConfig { Node = Node };
        foreach (var resource in Resources)
        {
            var entry = new ClientConfig.Types.GenericXdsConfig
            {
                TypeUrl = resource.TypeUrl,
                Name = resource.Name,
                VersionInfo = resource.Version ?? string.Empty,
                ClientStatus = ToClientResourceStatus(resource.Status),
            };
            if (resource.LastUpdated is { } updated)
            {
                entry.LastUpdated = Timestamp.FromDateTimeOffset(updated);
            }

            if (!excludeResourceContents && resource.Resource is { } value)
            {
                entry.XdsConfig = value;
            }

            if (resource.Error is { } error)
            {
                entry.ErrorState = new UpdateFailureState
                {
                    Details = error.Details,
                    VersionInfo = error.Version,
                    LastUpdateAttempt = Timestamp.FromDateTimeOffset(error.Time),
                };
                if (!excludeResourceContents && error.FailedConfiguration is { } failed)
                {
                    entry.ErrorState.FailedConfiguration = failed;
                }
            }

            config.GenericXdsConfigs.Add(entry);
        }

        return config;
    }

    /// <summary>The status as a CSDS response with one client config.</summary>
    public ClientStatusResponse ToClientStatusResponse(bool excludeResourceContents = false) =>
        new() { Config = { ToClientConfig(excludeResourceContents) } };

    /// <summary>
    /// A JSON dump: server, connection state, counters and the CSDS <c>ClientConfig</c> in protobuf JSON (resources
    /// rendered with their fields, e.g. <c>"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster"</c>).
    /// </summary>
    public string ToJson(bool indented = true)
    {
        string clientConfig;
        var formatter = new JsonFormatter(JsonFormatter.Settings.Default.WithTypeRegistry(Registry.Value));
        try
        {
            clientConfig = formatter.Format(ToClientConfig());
        }
        catch (InvalidOperationException)
        {
            // A resource of a type this assembly has no descriptor for: dump without the contents.
            clientConfig = formatter.Format(ToClientConfig(excludeResourceContents: true));
        }

        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            writer.WriteStartObject();
            writer.WriteString("server", ServerUri);
            writer.WriteString("connectionState", ConnectionState.ToString());
            if (LastStreamError is not null)
            {
                writer.WriteString("lastStreamError", LastStreamError);
                writer.WriteString("lastStreamErrorTime", LastStreamErrorTime!.Value);
            }

            writer.WriteStartObject("counters");
            writer.WriteNumber("streamsStarted", Counters.StreamsStarted);
            writer.WriteNumber("streamFailures", Counters.StreamFailures);
            writer.WriteNumber("responsesReceived", Counters.ResponsesReceived);
            writer.WriteNumber("responsesAcked", Counters.ResponsesAcked);
            writer.WriteNumber("responsesNacked", Counters.ResponsesNacked);
            writer.WriteNumber("resourcesNotFound", Counters.ResourcesNotFound);
            if (Counters.LastBackoff is { } backoff)
            {
                writer.WriteNumber("lastBackoffSeconds", backoff.TotalSeconds);
            }

            writer.WriteEndObject();
            writer.WritePropertyName("clientConfig");
            using (var document = JsonDocument.Parse(clientConfig))
            {
                document.RootElement.WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    internal static ClientResourceStatus ToClientResourceStatus(XdsResourceStatus status) => status switch
    {
        XdsResourceStatus.Requested => ClientResourceStatus.Requested,
        XdsResourceStatus.Acked => ClientResourceStatus.Acked,
        XdsResourceStatus.Nacked => ClientResourceStatus.Nacked,
        XdsResourceStatus.DoesNotExist => ClientResourceStatus.DoesNotExist,
        XdsResourceStatus.ReceivedError => ClientResourceStatus.ReceivedError,
        XdsResourceStatus.Timeout => ClientResourceStatus.Timeout,
        _ => ClientResourceStatus.Unknown,
    };

    /// <summary>Every message generated from this assembly's protos, so that <c>Any</c> fields render in JSON.</summary>
    private static TypeRegistry CreateTypeRegistry()
    {
        var files = new List<FileDescriptor>();
        foreach (var type in typeof(XdsClientStatus).Assembly.GetTypes())
        {
            if (type.IsAbstract && type.IsSealed && type.Name.EndsWith("Reflection", StringComparison.Ordinal)
                && type.GetProperty("Descriptor")?.GetValue(null) is FileDescriptor file)
            {
                files.Add(file);
            }
        }

        return TypeRegistry.FromFiles(files);
    }
}
