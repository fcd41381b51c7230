using System.Collections.Immutable;
using System.Text.Json;
using Mesh.ControlPlane.Configuration;

namespace Mesh.ControlPlane.Model;

/// <summary>
/// The security kinds: DestinationRule <c>tls</c>, PeerAuthentication and AuthorizationPolicy. Unlike routing fields,
/// an unsupported security field is always an error: ignoring it would accept connections or requests the policy
/// rejects, or send plaintext where the policy asks for TLS.
/// </summary>
internal static partial class MeshConfigReader
{
    private const string SecurityApiVersion = "security.istio.io/v1";

    private static readonly string[] SecurityVersions = [SecurityApiVersion, "security.istio.io/v1beta1"];

    private static object? ReadSecurity(ConfigObject obj, SpecReader reader)
    {
        if (Array.IndexOf(SecurityVersions, obj.ApiVersion) < 0)
        {
            reader.Error("apiVersion", JsonSerializer.SerializeToElement(obj.ApiVersion), "must be security.istio.io/v1 (v1beta1 is accepted)");
            return null;
        }

        // Both kinds may omit spec: an empty PeerAuthentication inherits, an empty ALLOW AuthorizationPolicy denies all.
        var spec = reader.Object(obj.Body, "spec", string.Empty) ?? EmptyObject;
        return obj.Kind == "PeerAuthentication" ? ReadPeerAuthentication(obj, spec, reader) : ReadAuthorizationPolicy(obj, spec, reader);
    }

    private static JsonElement EmptyObject { get; } = JsonDocument.Parse("{}").RootElement.Clone();

    private static ClientTlsModel? ReadClientTls(JsonElement tls, string path, SpecReader r)
    {
        RejectUnknown(r, tls, path, ["mode", "subjectAltNames", "sni", "clientCertificate", "privateKey", "caCertificates", "credentialName", "insecureSkipVerify", "caCrl"], "remove it");
        foreach (var name in (string[])["clientCertificate", "privateKey", "caCertificates", "credentialName", "caCrl"])
        {
            if (SpecReader.TryGet(tls, name, out var value))
            {
                r.Error(SpecReader.Join(path, name), value, "certificate files and secrets are not supported: proxyless clients use the mesh's workload certificates and trust bundle; remove it (and use mode ISTIO_MUTUAL for mutual TLS)");
            }
        }

        if (r.Bool(tls, "insecureSkipVerify", path) == true)
        {
            r.Error($"{path}.insecureSkipVerify", tls.GetProperty("insecureSkipVerify"), "is not supported: the server is always verified; remove it");
        }

        var modeName = r.String(tls, "mode", path) ?? "DISABLE";
        ClientTlsModelMode? mode = modeName switch
        {
            "DISABLE" => ClientTlsModelMode.Disable,
            "SIMPLE" => ClientTlsModelMode.Simple,
            "ISTIO_MUTUAL" => ClientTlsModelMode.IstioMutual,
            _ => null,
        };
        if (mode is null)
        {
            r.Error($"{path}.mode", tls.GetProperty("mode"), modeName == "MUTUAL"
                ? "MUTUAL (mutual TLS with your own certificate files) is not supported: use ISTIO_MUTUAL, which uses the mesh's workload certificates"
                : "must be DISABLE, SIMPLE or ISTIO_MUTUAL");
            return null;
        }

        var names = StringList(tls, "subjectAltNames", path, r, "a subject alternative name, e.g. spiffe://cluster.local/ns/shop/sa/backend");
        var sni = r.String(tls, "sni", path);
        if (sni is not null && Uri.CheckHostName(sni) is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6))
        {
            r.Error($"{path}.sni", tls.GetProperty("sni"), "must be a host name, e.g. backend.shop.svc.cluster.local");
            sni = null;
        }

        if (mode == ClientTlsModelMode.Disable && (names.Length > 0 || sni is not null))
        {
            r.Warn(path, "subjectAltNames and sni do not apply with mode DISABLE; ignored");
        }

        return new ClientTlsModel(mode.Value, names, sni);
    }

    private static PeerAuthenticationModel? ReadPeerAuthentication(ConfigObject obj, JsonElement spec, SpecReader r)
    {
        RejectUnknown(r, spec, "spec", ["selector", "mtls", "portLevelMtls"], "remove it");
        if (SpecReader.TryGet(spec, "portLevelMtls", out var portLevel))
        {
            r.Error("spec.portLevelMtls", portLevel, "is not supported: set spec.mtls.mode for the whole workload, or give the port's workloads their own PeerAuthentication with a selector");
        }

        var selector = ReadSelector(spec, r);
        var mode = PeerAuthenticationMode.Unset;
        if (r.Object(spec, "mtls", "spec") is { } mtls)
        {
            RejectUnknown(r, mtls, "spec.mtls", ["mode"], "remove it");
            var name = r.String(mtls, "mode", "spec.mtls") ?? "UNSET";
            PeerAuthenticationMode? parsed = name switch
            {
                "UNSET" => PeerAuthenticationMode.Unset,
                "DISABLE" => PeerAuthenticationMode.Disable,
                "PERMISSIVE" => PeerAuthenticationMode.Permissive,
                "STRICT" => PeerAuthenticationMode.Strict,
                _ => null,
            };
            if (parsed is null)
            {
                r.Error("spec.mtls.mode", mtls.GetProperty("mode"), "must be STRICT, PERMISSIVE, DISABLE or UNSET");
            }

            mode = parsed ?? PeerAuthenticationMode.Unset;
        }

        return new PeerAuthenticationModel(obj.Namespace, obj.Name, obj.Origin, selector, mode);
    }

    private static AuthorizationPolicyModel? ReadAuthorizationPolicy(ConfigObject obj, JsonElement spec, SpecReader r)
    {
        RejectUnknown(r, spec, "spec", ["selector", "action", "rules"], "remove it; the mesh supports selector, action (ALLOW or DENY) and rules");
        var selector = ReadSelector(spec, r);
        var actionName = r.String(spec, "action", "spec") ?? "ALLOW";
        AuthorizationAction? action = actionName switch
        {
            "ALLOW" => AuthorizationAction.Allow,
            "DENY" => AuthorizationAction.Deny,
            _ => null,
        };
        if (action is null)
        {
            r.Error("spec.action", spec.GetProperty("action"), actionName is "AUDIT" or "CUSTOM"
                ? $"{actionName} is not supported (it needs an external provider): use ALLOW or DENY"
                : "must be ALLOW or DENY");
        }

        var rules = ImmutableArray.CreateBuilder<AuthorizationRuleModel>();
        foreach (var (rule, rulePath) in r.Items(spec, "rules", "spec"))
        {
            if (rule.ValueKind != JsonValueKind.Object)
            {
                r.Error(rulePath, rule, "must be an object with from and to");
                continue;
            }

            RejectUnknown(r, rule, rulePath, ["from", "to"], "remove it (conditions such as when are not supported); express the rule with from.source and to.operation");
            var from = ImmutableArray.CreateBuilder<AuthorizationSourceModel>();
            foreach (var (item, itemPath) in r.Items(rule, "from", rulePath))
            {
                RejectUnknown(r, item, itemPath, ["source"], "remove it");
                if (r.Object(item, "source", itemPath) is not { } source)
                {
                    r.Error($"{itemPath}.source", null, "is required: give principals, notPrincipals, namespaces or notNamespaces");
                    continue;
                }

                var sourcePath = $"{itemPath}.source";
                RejectUnknown(r, source, sourcePath, ["principals", "notPrincipals", "namespaces", "notNamespaces"], "remove it; sources are matched by principals and namespaces only (the peer's SPIFFE identity)");
                from.Add(new AuthorizationSourceModel(
                    StringList(source, "principals", sourcePath, r, "a principal, e.g. cluster.local/ns/shop/sa/frontend"),
                    StringList(source, "notPrincipals", sourcePath, r, "a principal, e.g. cluster.local/ns/shop/sa/frontend"),
                    StringList(source, "namespaces", sourcePath, r, "a namespace, e.g. shop"),
                    StringList(source, "notNamespaces", sourcePath, r, "a namespace, e.g. shop")));
            }

            var to = ImmutableArray.CreateBuilder<AuthorizationOperationModel>();
            foreach (var (item, itemPath) in r.Items(rule, "to", rulePath))
            {
                RejectUnknown(r, item, itemPath, ["operation"], "remove it");
                if (r.Object(item, "operation", itemPath) is not { } operation)
                {
                    r.Error($"{itemPath}.operation", null, "is required: give paths, notPaths, methods or notMethods");
                    continue;
                }

                var operationPath = $"{itemPath}.operation";
                RejectUnknown(r, operation, operationPath, ["paths", "notPaths", "methods", "notMethods"], "remove it; operations are matched by paths and methods only");
                to.Add(new AuthorizationOperationModel(
                    StringList(operation, "paths", operationPath, r, "a path, e.g. /api/* or /shop.Orders/Get"),
                    StringList(operation, "notPaths", operationPath, r, "a path, e.g. /admin/*"),
                    StringList(operation, "methods", operationPath, r, "an HTTP method, e.g. GET"),
                    StringList(operation, "notMethods", operationPath, r, "an HTTP method, e.g. DELETE")));
            }

            rules.Add(new AuthorizationRuleModel(from.ToImmutable(), to.ToImmutable()));
        }

        return new AuthorizationPolicyModel(obj.Namespace, obj.Name, obj.Origin, selector, action ?? AuthorizationAction.Allow, rules.ToImmutable());
    }

    /// <summary><c>spec.selector.matchLabels</c>; <see langword="null"/> (the whole namespace) when absent or empty.</summary>
    private static ImmutableDictionary<string, string>? ReadSelector(JsonElement spec, SpecReader r)
    {
        if (r.Object(spec, "selector", "spec") is not { } selector)
        {
            return null;
        }

        RejectUnknown(r, selector, "spec.selector", ["matchLabels"], "remove it; workloads are selected by matchLabels only");
        var labels = r.StringMap(selector, "matchLabels", "spec.selector");
        return labels.IsEmpty ? null : labels;
    }

    /// <summary>Every field not in <paramref name="known"/> is an error naming it, with <paramref name="fix"/>.</summary>
    private static void RejectUnknown(SpecReader r, JsonElement obj, string path, string[] known, string fix)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            r.Error(path, obj, "must be an object");
            return;
        }

        foreach (var property in obj.EnumerateObject())
        {
            if (Array.IndexOf(known, property.Name) < 0)
            {
                r.Error(SpecReader.Join(path, property.Name), null, $"is not supported, and ignoring a security setting could let through traffic the policy is meant to stop: {fix}");
            }
        }
    }

    private static ImmutableArray<string> StringList(JsonElement obj, string name, string path, SpecReader r, string example)
    {
        var result = ImmutableArray.CreateBuilder<string>();
        foreach (var (item, itemPath) in r.Items(obj, name, path))
        {
            if (item.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(item.GetString()))
            {
                r.Error(itemPath, item, $"must be a non-empty string, {example}");
                continue;
            }

            result.Add(item.GetString()!);
        }

        return result.ToImmutable();
    }

    /// <summary>A Kubernetes name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters.</summary>
    private static bool IsDnsLabel(string value)
    {
        if (value.Length is 0 or > 253 || !char.IsAsciiLetterLower(value[0]) && !char.IsAsciiDigit(value[0]) || !char.IsAsciiLetterLower(value[^1]) && !char.IsAsciiDigit(value[^1]))
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c is not ('-' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
