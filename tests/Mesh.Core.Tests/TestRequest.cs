using Mesh.Routing;

namespace Mesh.Core.Tests;

/// <summary>A request for routing and hashing tests: method, path, headers (case-insensitive), a query string and cookies.</summary>
internal readonly struct TestRequest : IMeshRequest
{
    private readonly string _path;
    private readonly Dictionary<string, string> _headers;
    private readonly string _query;

    public TestRequest(string method, string path, string query = "", Dictionary<string, string>? headers = null, string? cookies = null)
    {
        Method = method;
        _path = path;
        _query = query;
        _headers = new Dictionary<string, string>(headers ?? [], StringComparer.OrdinalIgnoreCase);
        if (cookies is not null)
        {
            _headers["Cookie"] = cookies;
        }
    }

    public string Method { get; }

    public ReadOnlySpan<char> Path => _path;

    public static TestRequest Get(string path, string query = "", Dictionary<string, string>? headers = null, string? cookies = null) =>
        new("GET", path, query, headers, cookies);

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

    public bool TryGetQueryParameter(string name, out ReadOnlySpan<char> value) =>
        RequestParsing.TryGetQueryParameter(_query, name, out value);

    public bool TryGetCookie(string name, out ReadOnlySpan<char> value)
    {
        value = default;
        return TryGetHeader("Cookie", out var header) && RequestParsing.TryGetCookie(header, name, out value);
    }
}
