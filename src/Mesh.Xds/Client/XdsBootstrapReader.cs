using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Envoy.Config.Core.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Mesh.Xds.Client;

/// <summary>
/// Reads and validates a bootstrap JSON document, collecting every problem with its JSON path and a fix. Unknown
/// fields are ignored, as gRPC does, so newer bootstraps keep working.
/// </summary>
internal sealed class XdsBootstrapReader
{
    private const string ServerUriExample = "e.g. \"127.0.0.1:18000\" or \"dns:///xds.example.com:443\"";
    private const string ChannelCredsExample = "e.g. [{\"type\": \"insecure\"}] or [{\"type\": \"tls\"}]";
    private const int DefaultPort = 443;
    private const string FileWatcherExample = "{\"plugin_name\": \"file_watcher\", \"config\": {\"certificate_file\": \"cert.pem\", \"private_key_file\": \"key.pem\", \"ca_certificate_file\": \"ca.pem\"}}";

    private static readonly string Version =
        typeof(XdsBootstrapReader).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private readonly List<string> _errors = [];

    private XdsBootstrapReader()
    {
    }

    public static XdsBootstrap Read(JsonElement root, string source)
    {
        var reader = new XdsBootstrapReader();
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new XdsBootstrapException(source, ["must be a JSON object, e.g. {\"xds_servers\": [{\"server_uri\": \"127.0.0.1:18000\", \"channel_creds\": [{\"type\": \"insecure\"}]}], \"node\": {\"id\": \"my-app\"}}"]);
        }

        var servers = reader.ReadServers(root);
        var node = reader.ReadNode(root);
        var providers = reader.ReadCertificateProviders(root);
        var template = reader.ReadOptionalString(root, "server_listener_resource_name_template", "server_listener_resource_name_template", "e.g. \"grpc/server?xds.resource.listening_address=%s\"");
        var hasAuthorities = root.TryGetProperty("authorities", out _);
        if (reader._errors.Count > 0)
        {
            throw new XdsBootstrapException(source, reader._errors);
        }

        return new XdsBootstrap(source, servers, node, providers, template, hasAuthorities);
    }

    /// <summary>
    /// Turns a gRPC <c>server_uri</c> (<c>host:port</c>, <c>[v6]:port</c>, <c>dns:///host:port</c>; port 443 when absent)
    /// into the channel address, or explains what is wrong.
    /// </summary>
    internal static bool TryParseServerUri(string value, XdsChannelCredentials credentials, out Uri? address, out string? error)
    {
        address = null;
        var target = value.Trim();
        if (target.StartsWith("dns:", StringComparison.OrdinalIgnoreCase))
        {
            target = target["dns:".Length..];
            if (target.StartsWith("//", StringComparison.Ordinal))
            {
                // dns://[dns-server]/host:port: the DNS server authority is not supported and ignored.
                var slash = target.IndexOf('/', 2);
                target = slash < 0 ? string.Empty : target[(slash + 1)..];
            }
        }
        else if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var scheme = target[..target.IndexOf(':', StringComparison.Ordinal)];
            error = $"the scheme '{scheme}' is not supported; write host:port ({ServerUriExample}); TLS is chosen by channel_creds";
            return false;
        }

        string host;
        string? portText = null;
        if (target.StartsWith('['))
        {
            var end = target.IndexOf(']', StringComparison.Ordinal);
            if (end < 0)
            {
                error = $"the IPv6 address has no closing ']'; write [address]:port, e.g. \"[::1]:18000\"";
                return false;
            }

            host = target[..(end + 1)];
            var rest = target[(end + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    error = $"unexpected '{rest}' after the IPv6 address; write [address]:port, e.g. \"[::1]:18000\"";
                    return false;
                }

                portText = rest[1..];
            }
        }
        else
        {
            var colon = target.LastIndexOf(':');
            if (colon >= 0 && target.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = "an IPv6 address needs brackets: write [address]:port, e.g. \"[::1]:18000\"";
                return false;
            }

            host = colon < 0 ? target : target[..colon];
            portText = colon < 0 ? null : target[(colon + 1)..];
        }

        if (host.Length == 0 || host.Contains('/', StringComparison.Ordinal))
        {
            error = $"has no valid host; write host:port ({ServerUriExample})";
            return false;
        }

        var port = DefaultPort;
        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            error = $"the port '{portText}' is not a number from 1 to 65535 ({ServerUriExample})";
            return false;
        }

        var channelScheme = credentials == XdsChannelCredentials.Tls ? Uri.UriSchemeHttps : Uri.UriSchemeHttp;
        if (!Uri.TryCreate($"{channelScheme}://{host}:{port.ToString(CultureInfo.InvariantCulture)}", UriKind.Absolute, out address))
        {
            error = $"'{host}' is not a valid host name or address ({ServerUriExample})";
            return false;
        }

        error = null;
        return true;
    }

    private List<XdsServerConfig> ReadServers(JsonElement root)
    {
        var servers = new List<XdsServerConfig>();
        const string Example = "e.g. [{\"server_uri\": \"127.0.0.1:18000\", \"channel_creds\": [{\"type\": \"insecure\"}]}]";
        if (!root.TryGetProperty("xds_servers", out var array))
        {
            _errors.Add($"xds_servers: is required, {Example}");
            return servers;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            _errors.Add($"xds_servers: must be an array of servers, {Example}");
            return servers;
        }

        if (array.GetArrayLength() == 0)
        {
            _errors.Add($"xds_servers: must list at least one server, {Example}");
            return servers;
        }

        var index = 0;
        foreach (var element in array.EnumerateArray())
        {
            if (ReadServer(element, $"xds_servers[{index.ToString(CultureInfo.InvariantCulture)}]") is { } server)
            {
                servers.Add(server);
            }

            index++;
        }

        return servers;
    }

    private XdsServerConfig? ReadServer(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            _errors.Add($"{path}: must be an object with server_uri and channel_creds, e.g. {{\"server_uri\": \"127.0.0.1:18000\", \"channel_creds\": [{{\"type\": \"insecure\"}}]}}");
            return null;
        }

        string? uri = null;
        if (!element.TryGetProperty("server_uri", out var uriElement) || uriElement.ValueKind == JsonValueKind.Null)
        {
            _errors.Add($"{path}.server_uri: is required, {ServerUriExample}");
        }
        else if (uriElement.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(uriElement.GetString()))
        {
            _errors.Add($"{path}.server_uri: must be a non-empty string, {ServerUriExample}");
        }
        else
        {
            uri = uriElement.GetString();
        }

        var credentials = ReadChannelCredentials(element, path, out var rootsPem);
        var features = ReadServerFeatures(element, path);
        if (uri is null || credentials is null)
        {
            return null;
        }

        if (!TryParseServerUri(uri, credentials.Value, out var address, out var error))
        {
            _errors.Add($"{path}.server_uri = '{uri}': {error}");
            return null;
        }

        return new XdsServerConfig(uri, address!, credentials.Value, features) { RootCertificatesPem = rootsPem };
    }

    private XdsChannelCredentials? ReadChannelCredentials(JsonElement server, string path, out string? rootsPem)
    {
        rootsPem = null;
        path += ".channel_creds";
        if (!server.TryGetProperty("channel_creds", out var array) || array.ValueKind == JsonValueKind.Null)
        {
            _errors.Add($"{path}: is required, {ChannelCredsExample}");
            return null;
        }

        if (array.ValueKind != JsonValueKind.Array || array.GetArrayLength() == 0)
        {
            _errors.Add($"{path}: must be a non-empty array of {{\"type\": ...}} objects, {ChannelCredsExample}");
            return null;
        }

        // As gRPC: the first supported type wins; the list fails only when no type is supported.
        var seen = new List<string>();
        var index = 0;
        foreach (var entry in array.EnumerateArray())
        {
            var entryPath = $"{path}[{index.ToString(CultureInfo.InvariantCulture)}]";
            index++;
            if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                _errors.Add($"{entryPath}.type: is required and must be a string, e.g. \"insecure\" or \"tls\"");
                return null;
            }

            var type = typeElement.GetString()!;
            switch (type)
            {
                case "insecure":
                    return XdsChannelCredentials.Insecure;
                case "tls":
                    rootsPem = ReadTlsConfig(entry, entryPath);
                    return XdsChannelCredentials.Tls;
                default:
                    seen.Add($"'{type}'");
                    break;
            }
        }

        _errors.Add($"{path}: no supported type among {string.Join(", ", seen)}; supported: 'insecure' (plaintext HTTP/2), 'tls' (TLS; the system trust store, or config.ca_certificate_file)");
        return null;
    }

    /// <summary>
    /// gRFC A65's <c>tls</c> config: <c>ca_certificate_file</c>, the PEM roots the server's certificate must chain to
    /// (read now, so a missing or broken file fails the bootstrap); without it the system trust store. Client
    /// certificates to the server (<c>certificate_file</c>, <c>private_key_file</c>) are not supported and rejected.
    /// </summary>
    private string? ReadTlsConfig(JsonElement entry, string entryPath)
    {
        if (!entry.TryGetProperty("config", out var config) || config.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (config.ValueKind != JsonValueKind.Object)
        {
            _errors.Add($"{entryPath}.config: must be an object, e.g. {{\"ca_certificate_file\": \"/etc/mesh/root-cert.pem\"}}");
            return null;
        }

        foreach (var name in (ReadOnlySpan<string>)["certificate_file", "private_key_file"])
        {
            if (config.TryGetProperty(name, out _))
            {
                _errors.Add($"{entryPath}.config.{name}: client certificates to the xDS server are not supported; remove certificate_file and private_key_file (the server authenticates callers by their bearer token)");
            }
        }

        if (!config.TryGetProperty("ca_certificate_file", out var file) || file.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (file.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(file.GetString()))
        {
            _errors.Add($"{entryPath}.config.ca_certificate_file: must be the path of a PEM file of root certificates");
            return null;
        }

        var path = file.GetString()!;
        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            _errors.Add($"{entryPath}.config.ca_certificate_file = '{path}': cannot be read ({e.Message}); give the PEM file of the roots the xDS server's certificate chains to (the mesh's root-cert.pem)");
            return null;
        }

        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        try
        {
            roots.ImportFromPem(pem);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            _errors.Add($"{entryPath}.config.ca_certificate_file = '{path}': is not a PEM file of certificates ({e.Message})");
            return null;
        }

        if (roots.Count == 0)
        {
            _errors.Add($"{entryPath}.config.ca_certificate_file = '{path}': holds no certificate; give the PEM file of the mesh's root certificate");
            return null;
        }

        return pem;
    }

    private List<string> ReadServerFeatures(JsonElement server, string path)
    {
        var features = new List<string>();
        if (!server.TryGetProperty("server_features", out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return features;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            _errors.Add($"{path}.server_features: must be an array of strings, e.g. [\"xds_v3\", \"fail_on_data_errors\"]");
            return features;
        }

        var index = 0;
        foreach (var entry in array.EnumerateArray())
        {
            if (entry.ValueKind == JsonValueKind.String)
            {
                features.Add(entry.GetString()!);
            }
            else
            {
                _errors.Add($"{path}.server_features[{index.ToString(CultureInfo.InvariantCulture)}]: must be a string, e.g. \"xds_v3\"");
            }

            index++;
        }

        return features;
    }

    private Node ReadNode(JsonElement root)
    {
        var node = new Node { UserAgentName = XdsBootstrap.UserAgentName, UserAgentVersion = Version };
        node.ClientFeatures.Add(XdsBootstrap.ClientFeatures);
        if (!root.TryGetProperty("node", out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return node;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            _errors.Add("node: must be an object, e.g. {\"id\": \"my-app\", \"cluster\": \"shop\", \"locality\": {\"zone\": \"zone-a\"}}");
            return node;
        }

        node.Id = ReadOptionalString(element, "id", "node.id", "e.g. \"my-app\"") ?? string.Empty;
        node.Cluster = ReadOptionalString(element, "cluster", "node.cluster", "e.g. \"shop\"") ?? string.Empty;
        if (element.TryGetProperty("locality", out var locality) && locality.ValueKind != JsonValueKind.Null)
        {
            if (locality.ValueKind != JsonValueKind.Object)
            {
                _errors.Add("node.locality: must be an object, e.g. {\"region\": \"eu-west1\", \"zone\": \"eu-west1-b\", \"sub_zone\": \"rack-3\"}");
            }
            else
            {
                node.Locality = new Locality
                {
                    Region = ReadOptionalString(locality, "region", "node.locality.region", "e.g. \"eu-west1\"") ?? string.Empty,
                    Zone = ReadOptionalString(locality, "zone", "node.locality.zone", "e.g. \"eu-west1-b\"") ?? string.Empty,
                    SubZone = ReadOptionalString(locality, "sub_zone", "node.locality.sub_zone", "e.g. \"rack-3\"")
                        ?? ReadOptionalString(locality, "subZone", "node.locality.subZone", "e.g. \"rack-3\"")
                        ?? string.Empty,
                };
            }
        }

        if (element.TryGetProperty("metadata", out var metadata) && metadata.ValueKind != JsonValueKind.Null)
        {
            if (metadata.ValueKind != JsonValueKind.Object)
            {
                _errors.Add("node.metadata: must be an object, e.g. {\"version\": \"v1\"}");
            }
            else
            {
                try
                {
                    node.Metadata = JsonParser.Default.Parse<Struct>(metadata.GetRawText());
                }
                catch (InvalidProtocolBufferException e)
                {
                    _errors.Add($"node.metadata: is not a valid JSON object ({e.Message})");
                }
            }
        }

        return node;
    }

    private Dictionary<string, XdsBootstrapCertificateProvider> ReadCertificateProviders(JsonElement root)
    {
        var providers = new Dictionary<string, XdsBootstrapCertificateProvider>(StringComparer.Ordinal);
        if (!root.TryGetProperty("certificate_providers", out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return providers;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            _errors.Add($"certificate_providers: must be an object of named instances, e.g. {{\"default\": {FileWatcherExample}}}");
            return providers;
        }

        foreach (var instance in element.EnumerateObject())
        {
            if (ReadCertificateProvider(instance.Name, instance.Value) is { } provider)
            {
                providers[instance.Name] = provider;
            }
        }

        return providers;
    }

    /// <summary>gRPC's file_watcher plugin: a certificate with its key, a trust bundle, or both; a positive refresh interval.</summary>
    private XdsBootstrapCertificateProvider? ReadCertificateProvider(string name, JsonElement instance)
    {
        var path = $"certificate_providers.{name}";
        if (name.Length == 0)
        {
            _errors.Add($"certificate_providers: has an instance with an empty name; name it, e.g. \"default\"");
            return null;
        }

        if (instance.ValueKind != JsonValueKind.Object)
        {
            _errors.Add($"{path}: must be an object with plugin_name and config, e.g. {FileWatcherExample}");
            return null;
        }

        var plugin = ReadOptionalString(instance, "plugin_name", $"{path}.plugin_name", "e.g. \"file_watcher\"");
        if (plugin is null)
        {
            if (!instance.TryGetProperty("plugin_name", out var pluginElement) || pluginElement.ValueKind == JsonValueKind.Null)
            {
                _errors.Add($"{path}.plugin_name: is required; the supported plugin is \"{XdsBootstrapCertificateProvider.FileWatcherPlugin}\"");
            }

            return null;
        }

        if (plugin != XdsBootstrapCertificateProvider.FileWatcherPlugin)
        {
            _errors.Add($"{path}.plugin_name = '{plugin}': is not a known certificate provider plugin; the supported plugin is \"{XdsBootstrapCertificateProvider.FileWatcherPlugin}\"");
            return null;
        }

        if (!instance.TryGetProperty("config", out var config) || config.ValueKind == JsonValueKind.Null)
        {
            _errors.Add($"{path}.config: is required for {plugin}, e.g. {{\"certificate_file\": \"cert.pem\", \"private_key_file\": \"key.pem\", \"ca_certificate_file\": \"ca.pem\"}}");
            return null;
        }

        if (config.ValueKind != JsonValueKind.Object)
        {
            _errors.Add($"{path}.config: must be an object, e.g. {{\"certificate_file\": \"cert.pem\", \"private_key_file\": \"key.pem\", \"ca_certificate_file\": \"ca.pem\"}}");
            return null;
        }

        var before = _errors.Count;
        var certificate = ReadFileName(config, "certificate_file", $"{path}.config.certificate_file");
        var key = ReadFileName(config, "private_key_file", $"{path}.config.private_key_file");
        var ca = ReadFileName(config, "ca_certificate_file", $"{path}.config.ca_certificate_file");
        if ((certificate is null) != (key is null) && _errors.Count == before)
        {
            _errors.Add(certificate is null
                ? $"{path}.config.certificate_file: is required with private_key_file; set both (an identity) or neither (roots only)"
                : $"{path}.config.private_key_file: is required with certificate_file; set both (an identity) or neither (roots only)");
        }

        if (certificate is null && key is null && ca is null && _errors.Count == before)
        {
            _errors.Add($"{path}.config: sets none of certificate_file, private_key_file and ca_certificate_file; set certificate_file and private_key_file for an identity, ca_certificate_file for roots, or all three");
        }

        var refresh = XdsBootstrapCertificateProvider.DefaultRefreshInterval;
        if (config.TryGetProperty("refresh_interval", out var interval) && interval.ValueKind != JsonValueKind.Null)
        {
            if (!TryParseJsonDuration(interval, out refresh) || refresh <= TimeSpan.Zero)
            {
                _errors.Add($"{path}.config.refresh_interval = {interval.GetRawText()}: must be a positive protobuf JSON duration, e.g. \"600s\" or \"0.5s\"");
            }
        }

        return _errors.Count == before
            ? new XdsBootstrapCertificateProvider(name, plugin, certificate, key, ca, refresh)
            : null;
    }

    private string? ReadFileName(JsonElement config, string name, string path)
    {
        var value = ReadOptionalString(config, name, path, "e.g. \"/var/lib/istio/data/cert-chain.pem\"");
        if (value is { Length: 0 })
        {
            _errors.Add($"{path}: is empty; set a file path or omit the field");
            return null;
        }

        return value;
    }

    /// <summary>A protobuf JSON <c>Duration</c>: seconds with an <c>s</c> suffix and up to nine fraction digits.</summary>
    private static bool TryParseJsonDuration(JsonElement element, out TimeSpan value)
    {
        value = default;
        if (element.ValueKind != JsonValueKind.String || element.GetString() is not { Length: > 1 } text || !text.EndsWith('s'))
        {
            return false;
        }

        if (!decimal.TryParse(text[..^1], NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds)
            || seconds > 315_576_000_000m || seconds < -315_576_000_000m)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)(seconds * TimeSpan.TicksPerSecond));
        return true;
    }

    private string? ReadOptionalString(JsonElement parent, string name, string path, string example)
    {
        if (!parent.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            _errors.Add($"{path}: must be a string, {example}");
            return null;
        }

        return element.GetString();
    }
}
