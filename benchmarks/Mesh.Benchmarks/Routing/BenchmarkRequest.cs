using Mesh.Routing;

namespace Mesh.Benchmarks.Routing;

/// <summary>
/// An <see cref="IMeshRequest"/> over plain strings, as a transport with its own parsed request would
/// implement it: what routing costs on its own, without <see cref="HttpRequestMessage"/>'s header store.
/// </summary>
internal readonly struct BenchmarkRequest : IMeshRequest
{
    private readonly string _path;
    private readonly string _query;
    private readonly (string Name, string Value)[] _headers;

    public BenchmarkRequest(string method, Uri uri, (string Name, string Value)[] headers)
    {
        Method = method;
        _path = uri.AbsolutePath;
        _query = uri.Query;
        _headers = headers;
    }

    public string Method { get; }

    public ReadOnlySpan<char> Path => _path;

    public bool TryGetHeader(string name, out ReadOnlySpan<char> value)
    {
        foreach (var (headerName, headerValue) in _headers)
        {
            if (string.Equals(headerName, name, StringComparison.OrdinalIgnoreCase))
            {
                value = headerValue;
                return true;
            }
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
