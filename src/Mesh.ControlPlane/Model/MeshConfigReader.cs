using System.Collections.Immutable;
using System.Text.Json;
using k8s;
using k8s.Models;
using Mesh.ControlPlane.Configuration;

namespace Mesh.ControlPlane.Model;

/// <summary>
/// The one place where the store's raw objects become typed configuration. Every problem is reported with the
/// object's origin, kind, namespace and name, the field path, the value and the rule, e.g.
/// <c>manifests/seed.yaml, document 3: VirtualService demo/backend: spec.http[0].route[1].weight = -5: must be between 0 and 100</c>.
/// An object with an error is left out whole (never half-applied); a field that is not supported is a warning when
/// ignoring it leaves routing unchanged (mirroring, CORS, ...), and an error when ignoring it would send
/// traffic elsewhere or differently (redirects, rewrites, match conditions we cannot evaluate, source-IP hashing, ...).
/// Security fields (DestinationRule tls, PeerAuthentication, AuthorizationPolicy) are errors whenever unsupported.
/// Objects of other kinds (Deployments, ...) are ignored with a warning.
/// </summary>
internal static partial class MeshConfigReader
{
    private static readonly string[] IstioNetworkingVersions = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];

    /// <summary>Reads every object: the valid ones typed, and every error and warning.</summary>
    public static MeshConfigReadResult Read(IReadOnlyList<ConfigObject> objects)
    {
        ArgumentNullException.ThrowIfNull(objects);
        var services = new List<TypedObject<V1Service>>();
        var slices = new List<TypedObject<V1EndpointSlice>>();
        var pods = new List<TypedObject<V1Pod>>();
        var virtualServices = new List<VirtualServiceModel>();
        var rules = new List<DestinationRuleModel>();
        var entries = new List<WorkloadEntryModel>();
        var peerAuthentications = new List<PeerAuthenticationModel>();
        var authorizationPolicies = new List<AuthorizationPolicyModel>();
        var errors = new List<string>();
        var warnings = new List<string>();
        foreach (var obj in objects)
        {
            var reader = new SpecReader(Prefix(obj));
            var value = ReadOne(obj, reader);
            errors.AddRange(reader.Errors);
            warnings.AddRange(reader.Warnings);
            if (reader.Errors.Count > 0)
            {
                continue;
            }

            switch (value)
            {
                case V1Service s: services.Add(new(obj.Namespace, obj.Name, obj.Origin, s)); break;
                case V1EndpointSlice e: slices.Add(new(obj.Namespace, obj.Name, obj.Origin, e)); break;
                case V1Pod p: pods.Add(new(obj.Namespace, obj.Name, obj.Origin, p)); break;
                case VirtualServiceModel v: virtualServices.Add(v); break;
                case DestinationRuleModel d: rules.Add(d); break;
                case WorkloadEntryModel w: entries.Add(w); break;
                case PeerAuthenticationModel pa: peerAuthentications.Add(pa); break;
                case AuthorizationPolicyModel ap: authorizationPolicies.Add(ap); break;
                default: break;
            }
        }

        return new MeshConfigReadResult(services, slices, pods, virtualServices, rules, entries, errors, warnings)
        {
            PeerAuthentications = peerAuthentications,
            AuthorizationPolicies = authorizationPolicies,
        };
    }

    /// <summary>The errors of one object (empty when it is valid or of a kind the mesh ignores).</summary>
    public static IReadOnlyList<string> Validate(ConfigObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var reader = new SpecReader(Prefix(obj));
        ReadOne(obj, reader);
        return reader.Errors;
    }

    /// <summary>The errors and warnings of one object.</summary>
    public static (IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings) Check(ConfigObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var reader = new SpecReader(Prefix(obj));
        ReadOne(obj, reader);
        return (reader.Errors, reader.Warnings);
    }

    private static string Prefix(ConfigObject obj) => $"{obj.Origin}: {obj.Kind} {obj.Namespace}/{obj.Name}: ";

    private static object? ReadOne(ConfigObject obj, SpecReader reader)
    {
        switch (obj.Kind)
        {
            case "Service" when obj.ApiVersion == "v1":
                return ReadKubernetes<V1Service>(obj, reader, ValidateService);
            case "EndpointSlice" when obj.ApiVersion == "discovery.k8s.io/v1":
                return ReadKubernetes<V1EndpointSlice>(obj, reader, ValidateEndpointSlice);
            case "Pod" when obj.ApiVersion == "v1":
                return ReadKubernetes<V1Pod>(obj, reader, static (_, _) => { });
            case "Service" or "EndpointSlice" or "Pod":
                reader.Error("apiVersion", JsonSerializer.SerializeToElement(obj.ApiVersion), obj.Kind == "EndpointSlice" ? "must be discovery.k8s.io/v1" : "must be v1");
                return null;
            case "VirtualService" or "DestinationRule" or "WorkloadEntry":
                if (Array.IndexOf(IstioNetworkingVersions, obj.ApiVersion) < 0)
                {
                    reader.Error("apiVersion", JsonSerializer.SerializeToElement(obj.ApiVersion), "must be networking.istio.io/v1 (v1beta1 and v1alpha3 are accepted)");
                    return null;
                }

                if (reader.Object(obj.Body, "spec", string.Empty) is not { } spec)
                {
                    reader.Error("spec", null, "is required");
                    return null;
                }

                return obj.Kind switch
                {
                    "VirtualService" => ReadVirtualService(obj, spec, reader),
                    "DestinationRule" => ReadDestinationRule(obj, spec, reader),
                    _ => ReadWorkloadEntry(obj, spec, reader),
                };
            case "PeerAuthentication" or "AuthorizationPolicy":
                return ReadSecurity(obj, reader);
            default:
                reader.Warn("kind", $"{obj.ApiVersion}/{obj.Kind} is not used by the mesh; ignored");
                return null;
        }
    }

    private static T? ReadKubernetes<T>(ConfigObject obj, SpecReader reader, Action<T, SpecReader> validate)
        where T : class
    {
        T? value;
        try
        {
            value = KubernetesJson.Deserialize<T>(obj.Body.GetRawText());
        }
        catch (JsonException ex)
        {
            reader.Error(string.IsNullOrEmpty(ex.Path) ? "(body)" : ex.Path.TrimStart('$', '.'), null, $"cannot be read as a {obj.Kind}: {ex.Message}");
            return null;
        }

        if (value is null)
        {
            reader.Error("(body)", null, $"is empty: a {obj.Kind} needs at least metadata");
            return null;
        }

        validate(value, reader);
        return value;
    }

    private static void ValidateService(V1Service service, SpecReader reader)
    {
        var ports = service.Spec?.Ports;
        for (var i = 0; i < (ports?.Count ?? 0); i++)
        {
            var port = ports![i];
            var path = SpecReader.Index("spec.ports", i);
            if (port.Port is < 1 or > 65535)
            {
                reader.Error($"{path}.port", JsonSerializer.SerializeToElement(port.Port), "must be between 1 and 65535");
            }

            if (port.Protocol is { } protocol && protocol != "TCP")
            {
                reader.Warn($"{path}.protocol", $"{protocol} is not served over xDS (HTTP and gRPC over TCP only); this port is ignored");
            }
        }
    }

    private static void ValidateEndpointSlice(V1EndpointSlice slice, SpecReader reader)
    {
        if (slice.AddressType is not ("IPv4" or "IPv6" or "FQDN"))
        {
            reader.Error("addressType", JsonSerializer.SerializeToElement(slice.AddressType), "must be IPv4, IPv6 or FQDN");
        }

        if (slice.Metadata?.Labels?.ContainsKey("kubernetes.io/service-name") != true)
        {
            reader.Warn("metadata.labels", "has no kubernetes.io/service-name: the slice belongs to no Service; ignored");
        }
    }

    private static VirtualServiceModel? ReadVirtualService(ConfigObject obj, JsonElement spec, SpecReader r)
    {
        r.CheckFields(spec, "spec", ["hosts", "http", "gateways", "exportTo", "tcp", "tls"]);
        var hosts = new List<string>();
        foreach (var (item, path) in r.Items(spec, "hosts", "spec"))
        {
            if (item.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(item.GetString()))
            {
                r.Error(path, item, "must be a host name (a Service name, short or name.namespace.svc.cluster.local)");
            }
            else if (item.GetString()!.Contains('*', StringComparison.Ordinal))
            {
                r.Error(path, item, "wildcard hosts are not supported: name the Service");
            }
            else
            {
                hosts.Add(item.GetString()!);
            }
        }

        if (hosts.Count == 0 && r.Errors.Count == 0)
        {
            r.Error("spec.hosts", null, "is required: list the Services this VirtualService routes");
        }

        foreach (var (item, path) in r.Items(spec, "gateways", "spec"))
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() != "mesh")
            {
                r.Error(path, item, "only \"mesh\" is supported: gateway routing is not served to proxyless clients; remove the gateway or move it to another VirtualService");
            }
        }

        if (SpecReader.TryGet(spec, "exportTo", out _))
        {
            r.Warn("spec.exportTo", "not supported; ignored (the VirtualService is visible to every client)");
        }

        foreach (var name in (string[])["tcp", "tls"])
        {
            if (SpecReader.TryGet(spec, name, out _))
            {
                r.Warn($"spec.{name}", "not supported (proxyless clients route HTTP only); ignored");
            }
        }

        var http = new List<HttpRouteModel>();
        foreach (var (item, path) in r.Items(spec, "http", "spec"))
        {
            if (ReadHttpRoute(item, path, r) is { } route)
            {
                http.Add(route);
            }
        }

        return new VirtualServiceModel(obj.Namespace, obj.Name, obj.Origin, [.. hosts], [.. http]);
    }

    private static HttpRouteModel? ReadHttpRoute(JsonElement item, string path, SpecReader r)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            r.Error(path, item, "must be an object");
            return null;
        }

        r.CheckFields(item, path, ["name", "match", "route", "timeout", "retries", "fault", "mirror", "mirrorPercentage", "mirrorPercent", "mirror_percent", "mirrors", "corsPolicy"], ["redirect", "rewrite", "delegate", "directResponse", "headers"]);
        foreach (var name in (string[])["mirror", "mirrorPercentage", "mirrorPercent", "mirror_percent", "mirrors", "corsPolicy"])
        {
            if (SpecReader.TryGet(item, name, out _))
            {
                r.Warn(SpecReader.Join(path, name), "not supported; ignored (it does not change where requests go)");
            }
        }

        var matches = new List<HttpMatchModel>();
        foreach (var (match, matchPath) in r.Items(item, "match", path))
        {
            r.CheckFields(match, matchPath, ["name", "uri", "headers", "queryParams", "method"], ["scheme", "authority", "port", "sourceLabels", "gateways", "ignoreUriCase", "withoutHeaders", "sourceNamespace", "statPrefix"]);
            matches.Add(new HttpMatchModel(
                r.String(match, "name", matchPath),
                ReadStringMatch(match, "uri", matchPath, r),
                ReadStringMatches(match, "headers", matchPath, r),
                ReadStringMatches(match, "queryParams", matchPath, r),
                ReadStringMatch(match, "method", matchPath, r)));
        }

        var destinations = new List<RouteDestinationModel>();
        var weights = 0L;
        var routeItems = r.Items(item, "route", path).ToList();
        foreach (var (route, routePath) in routeItems)
        {
            r.CheckFields(route, routePath, ["destination", "weight"], ["headers"]);
            var weight = r.Int(route, "weight", routePath, 0, 100);
            weights += weight ?? 0;
            if (r.Object(route, "destination", routePath) is not { } destination)
            {
                r.Error($"{routePath}.destination", null, "is required: give destination.host (and subset, port.number)");
                continue;
            }

            var destinationPath = $"{routePath}.destination";
            r.CheckFields(destination, destinationPath, ["host", "subset", "port"]);
            var host = r.String(destination, "host", destinationPath, required: true);
            var subset = r.String(destination, "subset", destinationPath);
            int? port = null;
            if (r.Object(destination, "port", destinationPath) is { } portObject)
            {
                r.CheckFields(portObject, $"{destinationPath}.port", ["number"]);
                port = r.Int(portObject, "number", $"{destinationPath}.port", 1, 65535);
            }

            if (host is not null)
            {
                destinations.Add(new RouteDestinationModel(new DestinationModel(host, subset, port), weight));
            }
        }

        if (routeItems.Count == 0)
        {
            r.Error($"{path}.route", null, "is required: give at least one destination");
        }
        else if (routeItems.Count > 1 && weights != 100)
        {
            r.Error($"{path}.route", null, $"the weights add up to {weights}: they must add up to 100");
        }

        RetriesModel? retries = null;
        if (r.Object(item, "retries", path) is { } retry)
        {
            var retryPath = $"{path}.retries";
            r.CheckFields(retry, retryPath, ["attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities"]);
            if (SpecReader.TryGet(retry, "retryRemoteLocalities", out _))
            {
                r.Warn($"{retryPath}.retryRemoteLocalities", "not supported; ignored");
            }

            retries = new RetriesModel(r.Int(retry, "attempts", retryPath, 0, 100) ?? 0, r.Duration(retry, "perTryTimeout", retryPath, positive: true), r.String(retry, "retryOn", retryPath));
        }

        return new HttpRouteModel(
            r.String(item, "name", path),
            [.. matches],
            [.. destinations],
            r.Duration(item, "timeout", path),
            retries,
            ReadFault(item, path, r));
    }

    private static FaultModel? ReadFault(JsonElement item, string path, SpecReader r)
    {
        if (r.Object(item, "fault", path) is not { } fault)
        {
            return null;
        }

        var faultPath = $"{path}.fault";
        r.CheckFields(fault, faultPath, ["delay", "abort"]);
        FaultDelayModel? delay = null;
        if (r.Object(fault, "delay", faultPath) is { } d)
        {
            var delayPath = $"{faultPath}.delay";
            r.CheckFields(d, delayPath, ["fixedDelay", "percentage", "percent"], ["exponentialDelay"]);
            var fixedDelay = r.Duration(d, "fixedDelay", delayPath);
            if (fixedDelay is null && !SpecReader.TryGet(d, "fixedDelay", out _))
            {
                r.Error($"{delayPath}.fixedDelay", null, "is required: give a duration such as \"2s\"");
            }

            delay = new FaultDelayModel(fixedDelay ?? TimeSpan.Zero, Percentage(d, delayPath, r));
        }

        FaultAbortModel? abort = null;
        if (r.Object(fault, "abort", faultPath) is { } a)
        {
            var abortPath = $"{faultPath}.abort";
            r.CheckFields(a, abortPath, ["httpStatus", "grpcStatus", "percentage"], ["http2Error"]);
            var http = r.Int(a, "httpStatus", abortPath, 200, 599);
            int? grpc = null;
            if (SpecReader.TryGet(a, "grpcStatus", out var grpcValue))
            {
                grpc = grpcValue.ValueKind == JsonValueKind.String ? GrpcStatus(grpcValue.GetString()) : r.Int(a, "grpcStatus", abortPath, 0, 16);
                if (grpc is null && grpcValue.ValueKind == JsonValueKind.String)
                {
                    r.Error($"{abortPath}.grpcStatus", grpcValue, "must be a gRPC status code name (UNAVAILABLE, ...) or number 0-16");
                }
            }

            if (SpecReader.TryGet(a, "httpStatus", out _) == SpecReader.TryGet(a, "grpcStatus", out _))
            {
                r.Error(abortPath, null, "give exactly one of httpStatus and grpcStatus");
            }

            abort = new FaultAbortModel(http, grpc, Percentage(a, abortPath, r));
        }

        return new FaultModel(delay, abort);
    }

    private static double Percentage(JsonElement fault, string path, SpecReader r)
    {
        if (r.Object(fault, "percentage", path) is { } percentage)
        {
            r.CheckFields(percentage, $"{path}.percentage", ["value"]);
            return r.Number(percentage, "value", $"{path}.percentage", 0, 100) ?? 0;
        }

        // The deprecated integer "percent"; Istio applies the fault to every request when no percentage is given.
        return r.Int(fault, "percent", path, 0, 100) ?? 100;
    }

    private static int? GrpcStatus(string? name) => name switch
    {
        "OK" => 0,
        "CANCELLED" => 1,
        "UNKNOWN" => 2,
        "INVALID_ARGUMENT" => 3,
        "DEADLINE_EXCEEDED" => 4,
        "NOT_FOUND" => 5,
        "ALREADY_EXISTS" => 6,
        "PERMISSION_DENIED" => 7,
        "RESOURCE_EXHAUSTED" => 8,
        "FAILED_PRECONDITION" => 9,
        "ABORTED" => 10,
        "OUT_OF_RANGE" => 11,
        "UNIMPLEMENTED" => 12,
        "INTERNAL" => 13,
        "UNAVAILABLE" => 14,
        "DATA_LOSS" => 15,
        "UNAUTHENTICATED" => 16,
        _ => null,
    };

    private static StringMatchModel? ReadStringMatch(JsonElement obj, string name, string path, SpecReader r)
    {
        if (r.Object(obj, name, path) is not { } match)
        {
            return null;
        }

        var matchPath = SpecReader.Join(path, name);
        r.CheckFields(match, matchPath, ["exact", "prefix", "regex"]);
        var exact = r.String(match, "exact", matchPath);
        var prefix = r.String(match, "prefix", matchPath);
        var regex = r.String(match, "regex", matchPath);
        if ((exact is null ? 0 : 1) + (prefix is null ? 0 : 1) + (regex is null ? 0 : 1) != 1)
        {
            r.Error(matchPath, match, "give exactly one of exact, prefix and regex");
            return null;
        }

        if (regex is not null)
        {
            try
            {
                _ = new System.Text.RegularExpressions.Regex(regex, System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException ex)
            {
                r.Error($"{matchPath}.regex", match.GetProperty("regex"), $"is not a valid regular expression: {ex.Message}");
            }
        }

        return new StringMatchModel(exact, prefix, regex);
    }

    private static ImmutableArray<KeyValuePair<string, StringMatchModel>> ReadStringMatches(JsonElement obj, string name, string path, SpecReader r)
    {
        if (r.Object(obj, name, path) is not { } map)
        {
            return [];
        }

        var result = ImmutableArray.CreateBuilder<KeyValuePair<string, StringMatchModel>>();
        foreach (var property in map.EnumerateObject())
        {
            if (ReadStringMatch(map, property.Name, SpecReader.Join(path, name), r) is { } match)
            {
                result.Add(new(name == "headers" ? property.Name.ToLowerInvariant() : property.Name, match));
            }
        }

        return result.ToImmutable();
    }

    private static DestinationRuleModel? ReadDestinationRule(ConfigObject obj, JsonElement spec, SpecReader r)
    {
        r.CheckFields(spec, "spec", ["host", "subsets", "trafficPolicy", "exportTo"], ["workloadSelector"]);
        var host = r.String(spec, "host", "spec", required: true);
        if (host is not null && host.Contains('*', StringComparison.Ordinal))
        {
            r.Error("spec.host", spec.GetProperty("host"), "wildcard hosts are not supported: name the Service");
        }

        var subsets = new List<SubsetModel>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (item, path) in r.Items(spec, "subsets", "spec"))
        {
            r.CheckFields(item, path, ["name", "labels", "trafficPolicy"]);
            var name = r.String(item, "name", path, required: true);
            if (name is not null && !names.Add(name))
            {
                r.Error($"{path}.name", item.GetProperty("name"), "is used by another subset: subset names must be unique");
            }

            var policy = r.Object(item, "trafficPolicy", path) is { } p ? ReadTrafficPolicy(p, $"{path}.trafficPolicy", r, portLevel: false) : null;
            subsets.Add(new SubsetModel(name ?? string.Empty, r.StringMap(item, "labels", path), policy));
        }

        var trafficPolicy = r.Object(spec, "trafficPolicy", "spec") is { } tp ? ReadTrafficPolicy(tp, "spec.trafficPolicy", r, portLevel: false) : TrafficPolicyModel.Empty;
        return new DestinationRuleModel(obj.Namespace, obj.Name, obj.Origin, host ?? string.Empty, [.. subsets], trafficPolicy);
    }

    private static TrafficPolicyModel ReadTrafficPolicy(JsonElement policy, string path, SpecReader r, bool portLevel)
    {
        string[] known = portLevel
            ? ["port", "loadBalancer", "connectionPool", "outlierDetection", "tls"]
            : ["loadBalancer", "connectionPool", "outlierDetection", "portLevelSettings", "tls", "proxyProtocol"];
        r.CheckFields(policy, path, known, ["tunnel"]);

        if (SpecReader.TryGet(policy, "proxyProtocol", out _))
        {
            r.Warn($"{path}.proxyProtocol", "not supported; ignored");
        }

        var ports = ImmutableArray.CreateBuilder<PortTrafficPolicyModel>();
        if (!portLevel)
        {
            foreach (var (item, itemPath) in r.Items(policy, "portLevelSettings", path))
            {
                int? number = null;
                if (r.Object(item, "port", itemPath) is { } port)
                {
                    r.CheckFields(port, $"{itemPath}.port", ["number"]);
                    number = r.Int(port, "number", $"{itemPath}.port", 1, 65535);
                }

                if (number is null)
                {
                    r.Error($"{itemPath}.port.number", null, "is required: the Service port this policy applies to");
                    continue;
                }

                ports.Add(new PortTrafficPolicyModel(number.Value, ReadTrafficPolicy(item, itemPath, r, portLevel: true)));
            }
        }

        return new TrafficPolicyModel(
            r.Object(policy, "loadBalancer", path) is { } lb ? ReadLoadBalancer(lb, $"{path}.loadBalancer", r) : null,
            r.Object(policy, "connectionPool", path) is { } cp ? ReadConnectionPool(cp, $"{path}.connectionPool", r) : null,
            r.Object(policy, "outlierDetection", path) is { } od ? ReadOutlierDetection(od, $"{path}.outlierDetection", r) : null,
            ports.ToImmutable(),
            r.Object(policy, "tls", path) is { } tls ? ReadClientTls(tls, $"{path}.tls", r) : null);
    }

    private static LoadBalancerModel ReadLoadBalancer(JsonElement lb, string path, SpecReader r)
    {
        r.CheckFields(lb, path, ["simple", "consistentHash", "localityLbSetting", "warmupDurationSecs", "warmup"]);
        SimpleLoadBalancer? simple = null;
        if (r.String(lb, "simple", path) is { } name)
        {
            simple = name switch
            {
                "ROUND_ROBIN" or "UNSPECIFIED" => SimpleLoadBalancer.RoundRobin,
                "LEAST_REQUEST" or "LEAST_CONN" => SimpleLoadBalancer.LeastRequest,
                "RANDOM" => SimpleLoadBalancer.Random,
                _ => null,
            };
            if (simple is null)
            {
                r.Error($"{path}.simple", lb.GetProperty("simple"), name == "PASSTHROUGH"
                    ? "PASSTHROUGH is not supported: proxyless clients connect to the endpoints the control plane sends; use ROUND_ROBIN, LEAST_REQUEST or RANDOM"
                    : "must be ROUND_ROBIN, LEAST_REQUEST or RANDOM");
            }
        }

        ConsistentHashModel? hash = null;
        if (r.Object(lb, "consistentHash", path) is { } ch)
        {
            var chPath = $"{path}.consistentHash";
            r.CheckFields(ch, chPath, ["httpHeaderName", "httpCookie", "httpQueryParameterName", "ringHash", "maglev", "minimumRingSize"], ["useSourceIp"]);
            string? cookie = null;
            if (r.Object(ch, "httpCookie", chPath) is { } c)
            {
                r.CheckFields(c, $"{chPath}.httpCookie", ["name", "path", "ttl"]);
                cookie = r.String(c, "name", $"{chPath}.httpCookie", required: true);
                if (SpecReader.TryGet(c, "ttl", out _) || SpecReader.TryGet(c, "path", out _))
                {
                    r.Warn($"{chPath}.httpCookie", "ttl and path are not supported (clients do not generate cookies); the cookie is hashed when present");
                }
            }

            var header = r.String(ch, "httpHeaderName", chPath);
            var query = r.String(ch, "httpQueryParameterName", chPath);
            if ((header is null ? 0 : 1) + (cookie is null ? 0 : 1) + (query is null ? 0 : 1) > 1)
            {
                r.Error(chPath, null, "give one of httpHeaderName, httpCookie and httpQueryParameterName");
            }

            int? ringSize = r.Int(ch, "minimumRingSize", chPath, 1, 8_388_608);
            if (r.Object(ch, "ringHash", chPath) is { } ring)
            {
                r.CheckFields(ring, $"{chPath}.ringHash", ["minimumRingSize"]);
                ringSize = r.Int(ring, "minimumRingSize", $"{chPath}.ringHash", 1, 8_388_608) ?? ringSize;
            }

            int? tableSize = null;
            var maglev = false;
            if (r.Object(ch, "maglev", chPath) is { } m)
            {
                maglev = true;
                r.CheckFields(m, $"{chPath}.maglev", ["tableSize"]);
                tableSize = r.Int(m, "tableSize", $"{chPath}.maglev", 1, 5_000_011);
                if (tableSize is { } size && !IsPrime(size))
                {
                    r.Error($"{chPath}.maglev.tableSize", m.GetProperty("tableSize"), "must be a prime number (e.g. 65537)");
                }
            }

            hash = new ConsistentHashModel(header, cookie, query, maglev, ringSize, tableSize);
        }

        if (simple is not null && hash is not null)
        {
            r.Error(path, null, "give either simple or consistentHash, not both");
        }

        foreach (var name2 in (string[])["localityLbSetting", "warmupDurationSecs", "warmup"])
        {
            if (SpecReader.TryGet(lb, name2, out _))
            {
                r.Warn(SpecReader.Join(path, name2), "not supported; ignored");
            }
        }

        return new LoadBalancerModel(simple, hash);
    }

    private static bool IsPrime(int n)
    {
        if (n < 2)
        {
            return false;
        }

        for (var i = 2; (long)i * i <= n; i++)
        {
            if (n % i == 0)
            {
                return false;
            }
        }

        return true;
    }

    private static ConnectionPoolModel ReadConnectionPool(JsonElement cp, string path, SpecReader r)
    {
        r.CheckFields(cp, path, ["http", "tcp"]);
        int? maxRequests = null, maxPending = null, maxRetries = null;
        TimeSpan? connectTimeout = null;
        if (r.Object(cp, "http", path) is { } http)
        {
            var httpPath = $"{path}.http";
            r.CheckFields(http, httpPath, ["http2MaxRequests", "http1MaxPendingRequests", "maxRetries"]);
            maxRequests = r.Int(http, "http2MaxRequests", httpPath, 1);
            maxPending = r.Int(http, "http1MaxPendingRequests", httpPath, 1);
            maxRetries = r.Int(http, "maxRetries", httpPath, 0);
        }

        if (r.Object(cp, "tcp", path) is { } tcp)
        {
            var tcpPath = $"{path}.tcp";
            r.CheckFields(tcp, tcpPath, ["connectTimeout", "maxConnections"]);
            connectTimeout = r.Duration(tcp, "connectTimeout", tcpPath, positive: true);
            if (SpecReader.TryGet(tcp, "maxConnections", out _))
            {
                r.Warn($"{tcpPath}.maxConnections", "not enforced (clients multiplex requests on their own connections); ignored");
            }
        }

        return new ConnectionPoolModel(maxRequests, maxPending, maxRetries, connectTimeout);
    }

    private static OutlierDetectionModel ReadOutlierDetection(JsonElement od, string path, SpecReader r)
    {
        r.CheckFields(od, path, ["consecutive5xxErrors", "consecutiveGatewayErrors", "interval", "baseEjectionTime", "maxEjectionPercent", "minHealthPercent"]);
        return new OutlierDetectionModel(
            r.Int(od, "consecutive5xxErrors", path),
            r.Int(od, "consecutiveGatewayErrors", path),
            r.Duration(od, "interval", path, positive: true),
            r.Duration(od, "baseEjectionTime", path, positive: true),
            r.Int(od, "maxEjectionPercent", path, 0, 100),
            r.Int(od, "minHealthPercent", path, 0, 100));
    }

    private static WorkloadEntryModel? ReadWorkloadEntry(ConfigObject obj, JsonElement spec, SpecReader r)
    {
        r.CheckFields(spec, "spec", ["address", "ports", "labels", "weight", "locality", "network", "serviceAccount"]);
        if (SpecReader.TryGet(spec, "network", out _))
        {
            r.Warn("spec.network", "not supported yet; ignored");
        }

        var serviceAccount = r.String(spec, "serviceAccount", "spec");
        if (serviceAccount is not null && !IsDnsLabel(serviceAccount))
        {
            r.Error("spec.serviceAccount", spec.GetProperty("serviceAccount"), "must be a Kubernetes service account name (lowercase letters, digits, '-' and '.'), e.g. backend");
            serviceAccount = null;
        }

        var address = r.String(spec, "address", "spec", required: true);
        if (address is not null && address.StartsWith("unix://", StringComparison.Ordinal))
        {
            r.Error("spec.address", spec.GetProperty("address"), "unix domain sockets are not supported: give an IP address or host name");
        }

        var ports = ImmutableDictionary.CreateBuilder<string, int>(StringComparer.Ordinal);
        if (r.Object(spec, "ports", "spec") is { } portMap)
        {
            foreach (var property in portMap.EnumerateObject())
            {
                if (r.Int(portMap, property.Name, "spec.ports", 1, 65535) is { } number)
                {
                    ports[property.Name] = number;
                }
            }
        }

        var weight = r.Int(spec, "weight", "spec", 0, int.MaxValue) ?? 1;
        return new WorkloadEntryModel(obj.Namespace, obj.Name, obj.Origin, address ?? string.Empty, ports.ToImmutable(), r.StringMap(spec, "labels", "spec"), weight, r.String(spec, "locality", "spec"))
        {
            ServiceAccount = string.IsNullOrEmpty(serviceAccount) ? null : serviceAccount,
        };
    }
}
