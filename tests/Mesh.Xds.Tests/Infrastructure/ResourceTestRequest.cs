using Mesh.Model;
using Mesh.Routing;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>A request for routing translated configurations: method, path, headers (case-insensitive) and a query string.</summary>
internal readonly struct ResourceTestRequest(string method, string path, Dictionary<string, string>? headers = null, string query = "") : IMeshRequest
{
    private readonly Dictionary<string, string> _headers = new(headers ?? [], StringComparer.OrdinalIgnoreCase);

    public string Method { get; } = method;

    public ReadOnlySpan<char> Path => path;

    public static ResourceTestRequest Get(string path, Dictionary<string, string>? headers = null, string query = "") => new("GET", path, headers, query);

    public bool TryGetHeader(string name, out ReadOnlySpan<char> value)
    {
        if (_headers.TryGetValue(name, out var found))
        {
            value = found;
            return true;
        }

        value = default;
        return false;
    }

    public bool TryGetQueryParameter(string name, out ReadOnlySpan<char> value) => RequestParsing.TryGetQueryParameter(query, name, out value);

    public bool TryGetCookie(string name, out ReadOnlySpan<char> value)
    {
        value = default;
        return TryGetHeader("Cookie", out var header) && RequestParsing.TryGetCookie(header, name, out value);
    }

    /// <summary>The route a snapshot's service picks for this request, or <see langword="null"/>.</summary>
    public RouteModel? RouteIn(MeshSnapshot snapshot, string host)
    {
        Assert.That(snapshot.TryGetService(host, out var service), Is.True, $"the snapshot should have a service for '{host}'");
        var request = this;
        return service!.SelectRoute(ref request);
    }
}
