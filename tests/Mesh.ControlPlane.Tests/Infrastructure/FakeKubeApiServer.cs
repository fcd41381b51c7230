using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Tests.Infrastructure;

/// <summary>
/// A wire-level fake of the Kubernetes API server for the read paths a reflector uses: a real Kestrel HTTP/1.1
/// server on 127.0.0.1 serving <c>/api/v1/{plural}</c>, <c>/api/v1/namespaces/{ns}/{plural}</c>,
/// <c>/apis/{group}/{version}/{plural}</c> and <c>/apis/{group}/{version}/namespaces/{ns}/{plural}</c>.
/// LIST returns <c>{kind: XList, apiVersion, metadata: {resourceVersion}, items}</c> (items of built-in kinds
/// without apiVersion/kind, as the real server sends them); WATCH streams newline-delimited watch events
/// (chunked), replays the history after the requested resourceVersion, answers a resourceVersion older than
/// the history with an ERROR event carrying a 410 Status (then closes, as the API server does), and sends
/// BOOKMARK events when asked. Every object carries a resourceVersion from one global counter.
/// For the certificate authority it also answers <c>POST /apis/authentication.k8s.io/v1/tokenreviews</c> from a token
/// table (<see cref="AddToken"/>) and <c>GET /api/v1/namespaces/{ns}/secrets/{name}</c> (<see cref="SetSecret"/>),
/// with the API server's status codes and JSON shapes.
/// </summary>
internal sealed class FakeKubeApiServer : IAsyncDisposable
{
    private static readonly ResourceType[] Types =
    [
        new("", "v1", "services", "Service"),
        new("", "v1", "pods", "Pod"),
        new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
        new("networking.istio.io", "v1", "virtualservices", "VirtualService"),
        new("networking.istio.io", "v1", "destinationrules", "DestinationRule"),
        new("networking.istio.io", "v1", "workloadentries", "WorkloadEntry"),
    ];

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> _objects = new(StringComparer.Ordinal);
    private readonly List<HistoryEntry> _history = [];
    private readonly HashSet<string> _notServed = new(StringComparer.Ordinal);
    private readonly List<WatchConnection> _watches = [];
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, int> _bookmarksSent = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Username, IReadOnlyList<string>? Audiences)> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, JsonObject> _secrets = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<RecordedTokenReview> _tokenReviews = new();
    private long _resourceVersion = 1000;
    private long _compactedThrough;

    private FakeKubeApiServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>The server's address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>How many events the history keeps; a watch from before them gets 410.</summary>
    public int HistoryLimit { get; set; } = 1000;

    /// <summary>When set, watches that allow bookmarks get one this often.</summary>
    public TimeSpan? BookmarkInterval { get; set; }

    /// <summary>Every LIST and WATCH request received, in order.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>The current global resourceVersion.</summary>
    public string ResourceVersion
    {
        get
        {
            lock (_lock)
            {
                return _resourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>A client configuration for the real KubernetesClient.</summary>
    public KubernetesClientConfiguration ClientConfiguration => new() { Host = Address.ToString().TrimEnd('/') };

    public static async Task<FakeKubeApiServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        var app = builder.Build();
        FakeKubeApiServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        server = new FakeKubeApiServer(app, new Uri(address));
        return server;
    }

    /// <summary>When set, TokenReviews are answered 403 Forbidden (the control plane lacks system:auth-delegator).</summary>
    public bool ForbidTokenReviews { get; set; }

    /// <summary>Every TokenReview received, in order.</summary>
    public IReadOnlyList<RecordedTokenReview> TokenReviews => [.. _tokenReviews];

    /// <summary>
    /// Makes a token valid for <paramref name="username"/> (e.g. <c>system:serviceaccount:demo:backend</c>); with
    /// <paramref name="audiences"/>, only for reviews that ask for one of them (or for none). Other tokens are not authenticated.
    /// </summary>
    public void AddToken(string token, string username, IReadOnlyList<string>? audiences = null) => _tokens[token] = (username, audiences);

    /// <summary>Creates or replaces an Opaque Secret; the values are stored base64-encoded under <c>data</c>, as the API server does.</summary>
    public void SetSecret(string ns, string name, IReadOnlyDictionary<string, string> data)
    {
        var encoded = new JsonObject();
        foreach (var (key, value) in data)
        {
            encoded[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes(value));
        }

        string rv;
        lock (_lock)
        {
            rv = Rv(++_resourceVersion);
        }

        _secrets[ns + "/" + name] = new JsonObject
        {
            ["kind"] = "Secret",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["uid"] = $"uid-Secret-{ns}-{name}", ["resourceVersion"] = rv },
            ["type"] = "Opaque",
            ["data"] = encoded,
        };
    }

    public int ListCount(string kind) => Requests.Count(r => !r.Watch && r.Kind == kind);

    public int WatchCount(string kind) => Requests.Count(r => r.Watch && r.Kind == kind);

    /// <summary>How many BOOKMARK events were queued for watches of a kind (periodic and explicit).</summary>
    public int BookmarksSent(string kind) => _bookmarksSent.GetValueOrDefault(kind);

    /// <summary>
    /// Creates or replaces an object (ADDED / MODIFIED) with the given top-level fields besides apiVersion, kind and
    /// metadata (e.g. <c>{"spec": {...}}</c>, or <c>{"addressType": "IPv4", "endpoints": [...]}</c>), and more metadata
    /// fields besides name, namespace and labels (e.g. <c>ownerReferences</c>); returns its new resourceVersion.
    /// </summary>
    public string Apply(string kind, string ns, string name, JsonObject? fields = null, IReadOnlyDictionary<string, string>? labels = null, JsonObject? metadataFields = null)
    {
        var type = TypeOf(kind);
        var metadata = new JsonObject { ["name"] = name, ["namespace"] = ns, ["uid"] = $"uid-{kind}-{ns}-{name}" };
        foreach (var (key, value) in metadataFields ?? [])
        {
            metadata[key] = value?.DeepClone();
        }

        if (labels is not null)
        {
            var labelNode = new JsonObject();
            foreach (var (key, value) in labels)
            {
                labelNode[key] = value;
            }

            metadata["labels"] = labelNode;
        }

        var body = new JsonObject { ["apiVersion"] = type.ApiVersion, ["kind"] = kind, ["metadata"] = metadata };
        foreach (var (key, value) in fields ?? [])
        {
            body[key] = value?.DeepClone();
        }

        lock (_lock)
        {
            var rv = ++_resourceVersion;
            metadata["resourceVersion"] = Rv(rv);
            var objects = ObjectsOf(type);
            var added = objects.TryAdd(ns + "/" + name, body);
            objects[ns + "/" + name] = body;
            Record(type, ns, added ? "ADDED" : "MODIFIED", body, rv);
            return Rv(rv);
        }
    }

    /// <summary>Deletes an object (DELETED); returns the deletion's resourceVersion.</summary>
    public string Delete(string kind, string ns, string name)
    {
        var type = TypeOf(kind);
        lock (_lock)
        {
            if (!ObjectsOf(type).Remove(ns + "/" + name, out var body))
            {
                throw new InvalidOperationException($"{kind} {ns}/{name} does not exist");
            }

            var rv = ++_resourceVersion;
            body = (JsonObject)body.DeepClone();
            body["metadata"]!["resourceVersion"] = Rv(rv);
            Record(type, ns, "DELETED", body, rv);
            return Rv(rv);
        }
    }

    /// <summary>The server's objects of a kind as <c>ns/name@resourceVersion</c>, sorted.</summary>
    public IReadOnlyList<string> State(string kind)
    {
        lock (_lock)
        {
            return [.. ObjectsOf(TypeOf(kind)).Values.Select(o => $"{o["metadata"]!["namespace"]}/{o["metadata"]!["name"]}@{o["metadata"]!["resourceVersion"]}").Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>Makes a kind unserved (404 on every path), like a CRD that is not installed.</summary>
    public void SetServed(string kind, bool served)
    {
        lock (_lock)
        {
            if (served)
            {
                _notServed.Remove(kind);
            }
            else
            {
                _notServed.Add(kind);
            }
        }
    }

    /// <summary>Forgets the whole history: a watch from any older resourceVersion now gets 410.</summary>
    public void CompactHistory()
    {
        lock (_lock)
        {
            _history.Clear();
            _compactedThrough = _resourceVersion;
        }
    }

    /// <summary>Aborts every open watch connection (the client sees the connection drop).</summary>
    public void DropWatches()
    {
        lock (_lock)
        {
            foreach (var watch in _watches)
            {
                watch.Context.Abort();
            }

            _watches.Clear();
        }
    }

    /// <summary>Open watch connections stop sending anything (events are lost) but stay open; new watches are normal.</summary>
    public void StallWatches()
    {
        lock (_lock)
        {
            foreach (var watch in _watches)
            {
                watch.Stalled = true;
            }
        }
    }

    /// <summary>Sends a BOOKMARK at the current resourceVersion to every open watch that asked for bookmarks.</summary>
    public string SendBookmark()
    {
        lock (_lock)
        {
            foreach (var watch in _watches)
            {
                if (watch.Bookmarks)
                {
                    watch.Lines.Writer.TryWrite(BookmarkLine(watch.Type, _resourceVersion));
                    _bookmarksSent.AddOrUpdate(watch.Type.Kind, 1, static (_, n) => n + 1);
                }
            }

            return Rv(_resourceVersion);
        }
    }

    public async ValueTask DisposeAsync()
    {
        DropWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static string Rv(long rv) => rv.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static ResourceType TypeOf(string kind) => Types.First(t => t.Kind == kind);

    private SortedDictionary<string, JsonObject> ObjectsOf(ResourceType type)
    {
        if (!_objects.TryGetValue(type.Kind, out var objects))
        {
            _objects[type.Kind] = objects = new(StringComparer.Ordinal);
        }

        return objects;
    }

    private void Record(ResourceType type, string ns, string eventType, JsonObject body, long rv)
    {
        var line = new JsonObject { ["type"] = eventType, ["object"] = body.DeepClone() }.ToJsonString();
        _history.Add(new HistoryEntry(rv, type.Kind, ns, line));
        if (_history.Count > HistoryLimit)
        {
            _compactedThrough = _history[0].ResourceVersion;
            _history.RemoveAt(0);
        }

        foreach (var watch in _watches)
        {
            if (watch.Type == type && (watch.Namespace is null || watch.Namespace == ns))
            {
                watch.Lines.Writer.TryWrite(line);
            }
        }
    }

    private static string BookmarkLine(ResourceType type, long rv) =>
        new JsonObject
        {
            ["type"] = "BOOKMARK",
            ["object"] = new JsonObject { ["kind"] = type.Kind, ["apiVersion"] = type.ApiVersion, ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(rv) } },
        }.ToJsonString();

    private static string Status(int code, string reason, string message) =>
        new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
            ["code"] = code,
        }.ToJsonString();

    private async Task HandleAsync(HttpContext context)
    {
        var segments = context.Request.Path.Value!.Trim('/').Split('/');
        if (segments is ["apis", "authentication.k8s.io", "v1", "tokenreviews"] && HttpMethods.IsPost(context.Request.Method))
        {
            await TokenReviewAsync(context);
            return;
        }

        if (segments is ["api", "v1", "namespaces", var secretNamespace, "secrets", var secretName] && HttpMethods.IsGet(context.Request.Method))
        {
            await SecretAsync(context, secretNamespace, secretName);
            return;
        }

        ResourceType? type = null;
        string? ns = null;
        if (segments.Length >= 3 && segments[0] == "api")
        {
            (type, ns) = Resolve("", segments[1], segments[2..]);
        }
        else if (segments.Length >= 4 && segments[0] == "apis")
        {
            (type, ns) = Resolve(segments[1], segments[2], segments[3..]);
        }

        var query = context.Request.Query;
        var watch = query["watch"] is var w && (w == "true" || w == "1");
        var resourceVersion = query["resourceVersion"].ToString();
        var bookmarks = query["allowWatchBookmarks"] == "true";
        if (type is not null)
        {
            _requests.Enqueue(new RecordedRequest(type.Kind, ns, watch, resourceVersion, bookmarks));
        }

        bool served;
        lock (_lock)
        {
            served = type is not null && !_notServed.Contains(type.Kind);
        }

        if (!served || !HttpMethods.IsGet(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Status(404, "NotFound", "the server could not find the requested resource"));
            return;
        }

        if (watch)
        {
            await WatchAsync(context, type!, ns, resourceVersion, bookmarks);
        }
        else
        {
            await ListAsync(context, type!, ns);
        }
    }

    private static (ResourceType? Type, string? Namespace) Resolve(string group, string version, string[] rest)
    {
        string? ns = null;
        string plural;
        if (rest.Length == 1)
        {
            plural = rest[0];
        }
        else if (rest.Length == 3 && rest[0] == "namespaces")
        {
            ns = rest[1];
            plural = rest[2];
        }
        else
        {
            return (null, null);
        }

        return (Types.FirstOrDefault(t => t.Group == group && t.Version == version && t.Plural == plural), ns);
    }

    private async Task ListAsync(HttpContext context, ResourceType type, string? ns)
    {
        string json;
        lock (_lock)
        {
            var items = new JsonArray();
            foreach (var item in ObjectsOf(type).Values)
            {
                if (ns is null || item["metadata"]!["namespace"]!.GetValue<string>() == ns)
                {
                    var copy = (JsonObject)item.DeepClone();
                    if (type.Group.Length == 0 || type.Group.EndsWith(".k8s.io", StringComparison.Ordinal))
                    {
                        // The API server leaves apiVersion and kind out of the items of built-in lists.
                        copy.Remove("apiVersion");
                        copy.Remove("kind");
                    }

                    items.Add(copy);
                }
            }

            json = new JsonObject
            {
                ["kind"] = type.Kind + "List",
                ["apiVersion"] = type.ApiVersion,
                ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_resourceVersion) },
                ["items"] = items,
            }.ToJsonString();
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(json);
    }

    private async Task WatchAsync(HttpContext context, ResourceType type, string? ns, string resourceVersion, bool bookmarks)
    {
        var connection = new WatchConnection(context, type, ns, bookmarks);
        string? expired = null;
        lock (_lock)
        {
            if (resourceVersion.Length == 0 || resourceVersion == "0")
            {
                foreach (var item in ObjectsOf(type).Values)
                {
                    if (ns is null || item["metadata"]!["namespace"]!.GetValue<string>() == ns)
                    {
                        connection.Lines.Writer.TryWrite(new JsonObject { ["type"] = "ADDED", ["object"] = item.DeepClone() }.ToJsonString());
                    }
                }
            }
            else if (!long.TryParse(resourceVersion, out var from) || from < _compactedThrough)
            {
                expired = new JsonObject
                {
                    ["type"] = "ERROR",
                    ["object"] = JsonNode.Parse(Status(410, "Expired", $"too old resource version: {resourceVersion} ({_compactedThrough})")),
                }.ToJsonString();
            }
            else
            {
                foreach (var entry in _history)
                {
                    if (entry.ResourceVersion > from && entry.Kind == type.Kind && (ns is null || entry.Namespace == ns))
                    {
                        connection.Lines.Writer.TryWrite(entry.Line);
                    }
                }
            }

            if (expired is null)
            {
                _watches.Add(connection);
            }
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync();
        await context.Response.Body.FlushAsync();
        if (expired is not null)
        {
            // The API server reports an expired resourceVersion in the stream, then ends the watch.
            await WriteLineAsync(context, expired);
            return;
        }

        using var bookmarkTimer = bookmarks && BookmarkInterval is { } interval ? new Timer(_ => SendBookmarkTo(connection), null, interval, interval) : null;
        try
        {
            await foreach (var line in connection.Lines.Reader.ReadAllAsync(context.RequestAborted))
            {
                if (!connection.Stalled)
                {
                    await WriteLineAsync(context, line);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            lock (_lock)
            {
                _watches.Remove(connection);
            }
        }
    }

    private void SendBookmarkTo(WatchConnection connection)
    {
        lock (_lock)
        {
            if (!connection.Stalled)
            {
                connection.Lines.Writer.TryWrite(BookmarkLine(connection.Type, _resourceVersion));
                _bookmarksSent.AddOrUpdate(connection.Type.Kind, 1, static (_, n) => n + 1);
            }
        }
    }

    private async Task TokenReviewAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        if (ForbidTokenReviews)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await context.Response.WriteAsync(Status(403, "Forbidden", "tokenreviews.authentication.k8s.io is forbidden: User \"system:serviceaccount:istio-system:mesh\" cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope"));
            return;
        }

        JsonObject? body;
        try
        {
            body = JsonNode.Parse(await new StreamReader(context.Request.Body).ReadToEndAsync()) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            body = null;
        }

        if (body is null || body["kind"]?.GetValue<string>() != "TokenReview" || body["spec"] is not JsonObject spec)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync(Status(400, "BadRequest", "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"));
            return;
        }

        var token = spec["token"]?.GetValue<string>() ?? string.Empty;
        var requested = spec["audiences"] is JsonArray array ? array.Select(a => a!.GetValue<string>()).ToList() : [];
        _tokenReviews.Enqueue(new RecordedTokenReview(token, requested));
        var status = new JsonObject { ["user"] = new JsonObject() };
        if (_tokens.TryGetValue(token, out var entry))
        {
            var granted = requested.Count == 0 ? ["https://kubernetes.default.svc.cluster.local"] : entry.Audiences is null ? requested : requested.Intersect(entry.Audiences, StringComparer.Ordinal).ToList();
            if (granted.Count == 0)
            {
                status["error"] = $"[invalid bearer token, token audiences [{string.Join(" ", entry.Audiences!.Select(a => $"\"{a}\""))}] is invalid for the target audiences [{string.Join(" ", requested.Select(a => $"\"{a}\""))}]]";
            }
            else
            {
                var parts = entry.Username.Split(':');
                var groups = new JsonArray();
                if (parts is ["system", "serviceaccount", var ns, _])
                {
                    groups.Add("system:serviceaccounts");
                    groups.Add($"system:serviceaccounts:{ns}");
                }

                groups.Add("system:authenticated");
                status["authenticated"] = true;
                status["user"] = new JsonObject { ["username"] = entry.Username, ["uid"] = $"uid-{entry.Username}", ["groups"] = groups };
                status["audiences"] = new JsonArray([.. granted.Select(static a => (JsonNode?)a)]);
            }
        }
        else
        {
            status["error"] = "[invalid bearer token, square/go-jose: error in cryptographic primitive]";
        }

        // The API server answers a create of a TokenReview with 201 and the review, its status filled in.
        context.Response.StatusCode = StatusCodes.Status201Created;
        await context.Response.WriteAsync(new JsonObject
        {
            ["kind"] = "TokenReview",
            ["apiVersion"] = "authentication.k8s.io/v1",
            ["metadata"] = new JsonObject { ["creationTimestamp"] = null },
            ["spec"] = spec.DeepClone(),
            ["status"] = status,
        }.ToJsonString());
    }

    private async Task SecretAsync(HttpContext context, string ns, string name)
    {
        context.Response.ContentType = "application/json";
        if (_secrets.TryGetValue(ns + "/" + name, out var secret))
        {
            await context.Response.WriteAsync(secret.ToJsonString());
            return;
        }

        context.Response.StatusCode = StatusCodes.Status404NotFound;
        var status = JsonNode.Parse(Status(404, "NotFound", $"secrets \"{name}\" not found"))!;
        status["details"] = new JsonObject { ["name"] = name, ["kind"] = "secrets" };
        await context.Response.WriteAsync(status.ToJsonString());
    }

    private static async Task WriteLineAsync(HttpContext context, string line)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>A TokenReview the server received: the token and the audiences asked for.</summary>
    public sealed record RecordedTokenReview(string Token, IReadOnlyList<string> Audiences);

    /// <summary>A LIST or WATCH the server received.</summary>
    public sealed record RecordedRequest(string Kind, string? Namespace, bool Watch, string ResourceVersion, bool AllowWatchBookmarks);

    private sealed record ResourceType(string Group, string Version, string Plural, string Kind)
    {
        public string ApiVersion => Group.Length == 0 ? Version : Group + "/" + Version;
    }

    private sealed record HistoryEntry(long ResourceVersion, string Kind, string Namespace, string Line);

    private sealed class WatchConnection(HttpContext context, ResourceType type, string? ns, bool bookmarks)
    {
        public HttpContext Context { get; } = context;

        public ResourceType Type { get; } = type;

        public string? Namespace { get; } = ns;

        public bool Bookmarks { get; } = bookmarks;

        public Channel<string> Lines { get; } = Channel.CreateUnbounded<string>();

        public volatile bool Stalled;
    }
}
