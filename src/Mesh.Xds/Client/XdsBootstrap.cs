using System.Text.Json;
using Envoy.Config.Core.V3;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Xds.Client;

/// <summary>
/// gRPC's xDS bootstrap (gRFC A27 and its successors): the xDS servers, the node identity sent to them, and the
/// certificate providers kept for mTLS. Read from, in this order: an explicit JSON string or object (options), the
/// file named by <c>GRPC_XDS_BOOTSTRAP</c>, the JSON in <c>GRPC_XDS_BOOTSTRAP_CONFIG</c>.
/// </summary>
/// <example>
/// <code>
/// {
///   "xds_servers": [ { "server_uri": "127.0.0.1:18000", "channel_creds": [ { "type": "insecure" } ], "server_features": [ "xds_v3" ] } ],
///   "node": { "id": "app-1", "cluster": "shop", "locality": { "zone": "zone-a" }, "metadata": { "version": "v1" } }
/// }
/// </code>
/// </example>
internal sealed partial class XdsBootstrap
{
    /// <summary>The environment variable naming the bootstrap file.</summary>
    public const string FileVariable = "GRPC_XDS_BOOTSTRAP";

    /// <summary>The environment variable holding the bootstrap JSON itself.</summary>
    public const string ConfigVariable = "GRPC_XDS_BOOTSTRAP_CONFIG";

    /// <summary>Sent in <see cref="Node.UserAgentName"/>.</summary>
    public const string UserAgentName = "Mesh";

    /// <summary>
    /// Sent in <see cref="Node.ClientFeatures"/>: no overprovisioning factor in EDS (as gRPC), and
    /// <c>envoy.service.discovery.v3.Resource</c> wrappers accepted in state-of-the-world responses.
    /// </summary>
    public static readonly IReadOnlyList<string> ClientFeatures = ["envoy.lb.does_not_support_overprovisioning", "xds.config.resource-in-sotw"];

    internal XdsBootstrap(
        string source,
        IReadOnlyList<XdsServerConfig> servers,
        Node node,
        IReadOnlyDictionary<string, XdsBootstrapCertificateProvider> certificateProviders,
        string? serverListenerResourceNameTemplate,
        bool hasAuthorities)
    {
        Source = source;
        Servers = servers;
        Node = node;
        CertificateProviders = certificateProviders;
        ServerListenerResourceNameTemplate = serverListenerResourceNameTemplate;
        HasAuthorities = hasAuthorities;
    }

    /// <summary>Where the bootstrap came from, e.g. <c>GRPC_XDS_BOOTSTRAP file '/etc/xds/bootstrap.json'</c>.</summary>
    public string Source { get; }

    /// <summary>The xDS servers, in order of preference; at least one.</summary>
    public IReadOnlyList<XdsServerConfig> Servers { get; }

    /// <summary>The node sent on the first request of each ADS stream, with the user agent and client features filled in.</summary>
    public Node Node { get; }

    /// <summary>
    /// The <c>certificate_providers</c> instances by name (gRFC A29). CDS resources may name these, or the names the
    /// application registers itself (<see cref="XdsOptions.CertificateProviderInstances"/>); every name stands for
    /// the application's one workload identity, see <see cref="Resources.XdsCertificateProviderNames"/>.
    /// </summary>
    public IReadOnlyDictionary<string, XdsBootstrapCertificateProvider> CertificateProviders { get; }

    /// <summary>The <c>server_listener_resource_name_template</c> (gRFC A36), if any.</summary>
    public string? ServerListenerResourceNameTemplate { get; }

    /// <summary>Whether the bootstrap has <c>authorities</c> (gRFC A47); they are not supported and ignored.</summary>
    public bool HasAuthorities { get; }

    /// <summary>Parses a bootstrap JSON document; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="XdsBootstrapException">The JSON is malformed or the bootstrap is invalid; every problem is listed.</exception>
    public static XdsBootstrap Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(source);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new XdsBootstrapException(source, [$"is not valid JSON: {e.Message}"]);
        }

        using (document)
        {
            return Parse(document.RootElement, source);
        }
    }

    /// <summary>Parses a bootstrap already read as JSON; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="XdsBootstrapException">The bootstrap is invalid; every problem is listed.</exception>
    public static XdsBootstrap Parse(JsonElement json, string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return XdsBootstrapReader.Read(json, source);
    }

    /// <summary>
    /// Finds and parses the bootstrap: <paramref name="json"/> or <paramref name="config"/> when given (options),
    /// else the file named by <c>GRPC_XDS_BOOTSTRAP</c>, else the JSON in <c>GRPC_XDS_BOOTSTRAP_CONFIG</c>.
    /// </summary>
    /// <param name="json">The bootstrap as a JSON string, from options.</param>
    /// <param name="config">The bootstrap as a JSON object, from options.</param>
    /// <param name="getEnvironmentVariable">Reads an environment variable; <see cref="Environment.GetEnvironmentVariable(string)"/> by default.</param>
    /// <param name="logger">Receives a debug message about ignored parts (authorities).</param>
    /// <exception cref="XdsBootstrapException">No source is set, a file cannot be read, or the bootstrap is invalid.</exception>
    public static XdsBootstrap Load(string? json = null, JsonElement? config = null, Func<string, string?>? getEnvironmentVariable = null, ILogger? logger = null)
    {
        getEnvironmentVariable ??= Environment.GetEnvironmentVariable;
        logger ??= NullLogger.Instance;
        XdsBootstrap bootstrap;
        if (!string.IsNullOrWhiteSpace(json))
        {
            bootstrap = Parse(json, "xDS bootstrap option (JSON string)");
        }
        else if (config is { ValueKind: not JsonValueKind.Undefined and not JsonValueKind.Null } element)
        {
            bootstrap = Parse(element, "xDS bootstrap option (JSON object)");
        }
        else if (getEnvironmentVariable(FileVariable) is { Length: > 0 } path)
        {
            var source = $"{FileVariable} file '{path}'";
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new XdsBootstrapException(source, [$"cannot be read ({e.Message}); set {FileVariable} to the path of a readable bootstrap file"]);
            }

            bootstrap = Parse(text, source);
        }
        else if (getEnvironmentVariable(ConfigVariable) is { Length: > 0 } text)
        {
            bootstrap = Parse(text, $"{ConfigVariable} environment variable");
        }
        else
        {
            throw new XdsBootstrapException(
                "xDS bootstrap",
                [$"none found: pass the bootstrap JSON in the options, set {FileVariable} to the path of a bootstrap file, or set {ConfigVariable} to the bootstrap JSON, e.g. {{\"xds_servers\": [{{\"server_uri\": \"127.0.0.1:18000\", \"channel_creds\": [{{\"type\": \"insecure\"}}]}}], \"node\": {{\"id\": \"my-app\"}}}}"]);
        }

        if (bootstrap.HasAuthorities)
        {
            Log.AuthoritiesIgnored(logger, bootstrap.Source);
        }

        return bootstrap;
    }

    /// <inheritdoc />
    public override string ToString() => Source;

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Debug, "{Source}: 'authorities' (xDS federation) is not supported and ignored; every resource comes from xds_servers")]
        public static partial void AuthoritiesIgnored(ILogger logger, string source);
    }
}
