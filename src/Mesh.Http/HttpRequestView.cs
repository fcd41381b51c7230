using System.Net.Http.Headers;
using Mesh.Routing;

namespace Mesh.Http;

/// <summary>Routing's view of an <see cref="HttpRequestMessage"/>, reading headers without validation or allocation where the platform allows.</summary>
internal readonly ref struct HttpRequestView(HttpRequestMessage request) : IMeshRequest
{
    private readonly HttpRequestMessage _request = request;

    public string Method => _request.Method.Method;

    public ReadOnlySpan<char> Path => _request.RequestUri!.AbsolutePath;

    public bool TryGetHeader(string name, out ReadOnlySpan<char> value)
    {
        if (TryGet(_request.Headers.NonValidated, name, out value))
        {
            return true;
        }

        return _request.Content is { } content && TryGet(content.Headers.NonValidated, name, out value);
    }

    public bool TryGetQueryParameter(string name, out ReadOnlySpan<char> value) =>
        RequestParsing.TryGetQueryParameter(_request.RequestUri!.Query, name, out value);

    public bool TryGetCookie(string name, out ReadOnlySpan<char> value)
    {
        value = default;
        return TryGetHeader("Cookie", out var header) && RequestParsing.TryGetCookie(header, name, out value);
    }

    private static bool TryGet(HttpHeadersNonValidated headers, string name, out ReadOnlySpan<char> value)
    {
        if (headers.TryGetValues(name, out var values))
        {
            // A single value is returned as stored; several are joined with ", " as HTTP allows.
            value = values.Count == 1 ? GetSingle(values) : values.ToString();
            return true;
        }

        value = default;
        return false;
    }

    private static string GetSingle(HeaderStringValues values)
    {
        foreach (var v in values)
        {
            return v;
        }

        return string.Empty;
    }
}
