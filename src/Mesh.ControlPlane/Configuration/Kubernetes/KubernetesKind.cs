using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Mesh.ControlPlane.Configuration.Kubernetes;

/// <summary>One list of a kind: the resourceVersion to watch from and every object as JSON.</summary>
internal readonly record struct KubernetesList(string? ResourceVersion, IReadOnlyList<JsonElement> Items);

/// <summary>
/// One kind the source reflects, with how to list and watch it through <see cref="IKubernetes"/>: the typed
/// operations for built-in kinds, the custom-objects operations for Istio's CRDs. Both are reduced to JSON
/// with <c>apiVersion</c> and <c>kind</c> filled in (the API server omits them from the items of a list).
/// </summary>
internal sealed class KubernetesKind
{
    private KubernetesKind(string apiVersion, string kind, KubernetesListFunc list, KubernetesWatchFunc watch)
    {
        ApiVersion = apiVersion;
        Kind = kind;
        List = list;
        Watch = watch;
    }

    public string ApiVersion { get; }

    public string Kind { get; }

    /// <summary>Lists every object (namespace null: all namespaces).</summary>
    public KubernetesListFunc List { get; }

    /// <summary>Watches from a resourceVersion with bookmarks; a watch ERROR (e.g. 410 Gone) arrives only through the error callback.</summary>
    public KubernetesWatchFunc Watch { get; }

    /// <summary>The kinds the mesh reads (DESIGN 4.2).</summary>
    public static IReadOnlyList<KubernetesKind> All { get; } =
    [
        new("v1", "Service",
            async (c, ns, ct) =>
            {
                var list = await (ns is null
                    ? c.CoreV1.ListServiceForAllNamespacesAsync(cancellationToken: ct)
                    : c.CoreV1.ListNamespacedServiceAsync(ns, cancellationToken: ct)).ConfigureAwait(false);
                return Typed(list.Metadata, list.Items, "v1", "Service");
            },
            (c, ns, rv, onError, ct) => Map(ns is null
                ? c.CoreV1.WatchListServiceForAllNamespacesAsync(allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct)
                : c.CoreV1.WatchListNamespacedServiceAsync(ns, allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct), "v1", "Service", ct)),
        new("discovery.k8s.io/v1", "EndpointSlice",
            async (c, ns, ct) =>
            {
                var list = await (ns is null
                    ? c.DiscoveryV1.ListEndpointSliceForAllNamespacesAsync(cancellationToken: ct)
                    : c.DiscoveryV1.ListNamespacedEndpointSliceAsync(ns, cancellationToken: ct)).ConfigureAwait(false);
                return Typed(list.Metadata, list.Items, "discovery.k8s.io/v1", "EndpointSlice");
            },
            (c, ns, rv, onError, ct) => Map(ns is null
                ? c.DiscoveryV1.WatchListEndpointSliceForAllNamespacesAsync(allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct)
                : c.DiscoveryV1.WatchListNamespacedEndpointSliceAsync(ns, allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct), "discovery.k8s.io/v1", "EndpointSlice", ct)),
        new("v1", "Pod",
            async (c, ns, ct) =>
            {
                var list = await (ns is null
                    ? c.CoreV1.ListPodForAllNamespacesAsync(cancellationToken: ct)
                    : c.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: ct)).ConfigureAwait(false);
                return Typed(list.Metadata, list.Items, "v1", "Pod");
            },
            (c, ns, rv, onError, ct) => Map(ns is null
                ? c.CoreV1.WatchListPodForAllNamespacesAsync(allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct)
                : c.CoreV1.WatchListNamespacedPodAsync(ns, allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct), "v1", "Pod", ct)),
        Custom("networking.istio.io", "v1", "virtualservices", "VirtualService"),
        Custom("networking.istio.io", "v1", "destinationrules", "DestinationRule"),
        Custom("networking.istio.io", "v1", "workloadentries", "WorkloadEntry"),
        Custom("security.istio.io", "v1", "peerauthentications", "PeerAuthentication"),
        Custom("security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy"),
    ];

    private static KubernetesKind Custom(string group, string version, string plural, string kind)
    {
        var apiVersion = group + "/" + version;
        return new(apiVersion, kind,
            async (c, ns, ct) => FromCustomList(await (ns is null
                ? c.CustomObjects.ListClusterCustomObjectAsync(group, version, plural, cancellationToken: ct)
                : c.CustomObjects.ListNamespacedCustomObjectAsync(group, version, ns, plural, cancellationToken: ct)).ConfigureAwait(false), apiVersion, kind),
            (c, ns, rv, onError, ct) => Map(ns is null
                ? c.CustomObjects.WatchListClusterCustomObjectAsync(group, version, plural, allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct)
                : c.CustomObjects.WatchListNamespacedCustomObjectAsync(group, version, ns, plural, allowWatchBookmarks: true, resourceVersion: rv, onError: onError, cancellationToken: ct), apiVersion, kind, ct));
    }

    private static KubernetesList Typed<T>(V1ListMeta? metadata, IList<T>? list, string apiVersion, string kind)
    {
        var items = new List<JsonElement>(list?.Count ?? 0);
        foreach (var item in list ?? [])
        {
            if (item is not null)
            {
                items.Add(ToJson(item, apiVersion, kind));
            }
        }

        return new(metadata?.ResourceVersion, items);
    }

    private static KubernetesList FromCustomList(object? body, string apiVersion, string kind)
    {
        var root = body is JsonElement element ? element : JsonSerializer.SerializeToElement(body);
        string? resourceVersion = null;
        if (root.ValueKind == JsonValueKind.Object
            && root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("resourceVersion", out var rv) && rv.ValueKind == JsonValueKind.String)
        {
            resourceVersion = rv.GetString();
        }

        var items = new List<JsonElement>();
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("items", out var array) && array.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in array.EnumerateArray())
            {
                items.Add(ToJson(item, apiVersion, kind));
            }
        }

        return new(resourceVersion, items);
    }

    private static async IAsyncEnumerable<(WatchEventType Type, JsonElement Object)> Map<T>(
        IAsyncEnumerable<(WatchEventType, T)> source, string apiVersion, string kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var (type, item) in source.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (item is not null)
            {
                yield return (type, ToJson(item, apiVersion, kind));
            }
        }
    }

    /// <summary>The object as JSON (the library's own serializer for typed models), with apiVersion and kind set.</summary>
    internal static JsonElement ToJson(object item, string apiVersion, string kind)
    {
        var node = item is JsonElement element ? JsonNode.Parse(element.GetRawText()) : JsonNode.Parse(KubernetesJson.Serialize(item));
        if (node is not JsonObject json)
        {
            return item is JsonElement original ? original.Clone() : JsonSerializer.SerializeToElement(node);
        }

        if (json["apiVersion"] is null)
        {
            json["apiVersion"] = apiVersion;
        }

        if (json["kind"] is null)
        {
            json["kind"] = kind;
        }

        return JsonSerializer.SerializeToElement(json);
    }
}

/// <summary>Lists a kind in one namespace (or all when null).</summary>
internal delegate Task<KubernetesList> KubernetesListFunc(IKubernetes client, string? ns, CancellationToken cancellationToken);

/// <summary>Watches a kind from a resourceVersion.</summary>
internal delegate IAsyncEnumerable<(WatchEventType Type, JsonElement Object)> KubernetesWatchFunc(
    IKubernetes client, string? ns, string? resourceVersion, Action<Exception> onError, CancellationToken cancellationToken);
