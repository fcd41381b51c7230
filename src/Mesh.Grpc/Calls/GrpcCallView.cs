using Grpc.Core;
using Mesh.Routing;

namespace Mesh.Grpc.Calls;

/// <summary>
/// Routing's view of a gRPC call before it is sent: the path <c>/package.Service/Method</c> and the call's
/// metadata. As gRFC A28 says, binary (<c>-bin</c>) metadata is never matched, several values of one key are
/// joined with <c>,</c>, and <c>content-type</c> reads <c>application/grpc</c>.
/// </summary>
internal readonly ref struct GrpcCallView(string path, Metadata? headers) : IMeshRequest
{
    private readonly string _path = path;
    private readonly Metadata? _headers = headers;

    public string Method => "POST";

    public ReadOnlySpan<char> Path => _path;

    public bool TryGetHeader(string name, out ReadOnlySpan<char> value)
    {
        if (GrpcHeaderRules.TryFixed(name, out value, out var found))
        {
            return found;
        }

        if (_headers is null)
        {
            return false;
        }

        string? single = null;
        List<string>? several = null;
        for (var i = 0; i < _headers.Count; i++)
        {
            var entry = _headers[i];
            if (entry.IsBinary || !string.Equals(entry.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (single is null)
            {
                single = entry.Value;
            }
            else
            {
                (several ??= [single]).Add(entry.Value);
            }
        }

        if (single is null)
        {
            return false;
        }

        value = several is null ? single : string.Join(',', several);
        return true;
    }

    public bool TryGetQueryParameter(string name, out ReadOnlySpan<char> value)
    {
        value = default;
        return false;
    }

    public bool TryGetCookie(string name, out ReadOnlySpan<char> value)
    {
        value = default;
        return false;
    }
}

/// <summary>Routing's view of the HTTP/2 request of a gRPC call, as the channel's picker sees it.</summary>
internal readonly ref struct GrpcHttpRequestView(HttpRequestMessage request) : IMeshRequest
{
    private readonly HttpRequestMessage _request = request;

    public string Method => "POST";

    public ReadOnlySpan<char> Path => _request.RequestUri is { IsAbsoluteUri: true } uri ? uri.AbsolutePath : _request.RequestUri?.OriginalString;

    public bool TryGetHeader(string name, out ReadOnlySpan<char> value)
    {
        if (GrpcHeaderRules.TryFixed(name, out value, out var found))
        {
            return found;
        }

        if (!_request.Headers.NonValidated.TryGetValues(name, out var values))
        {
            return false;
        }

        value = values.Count == 1 ? First(values) : string.Join(',', values);
        return true;
    }

    public bool TryGetQueryParameter(string name, out ReadOnlySpan<char> value)
    {
        value = default;
        return false;
    }

    public bool TryGetCookie(string name, out ReadOnlySpan<char> value)
    {
        value = default;
        return false;
    }

    private static string First(System.Net.Http.Headers.HeaderStringValues values)
    {
        foreach (var v in values)
        {
            return v;
        }

        return string.Empty;
    }
}

/// <summary>gRFC A28's header rules both views share: <c>-bin</c> keys never match; <c>content-type</c> reads <c>application/grpc</c>.</summary>
internal static class GrpcHeaderRules
{
    /// <summary>Whether a rule decides the header (then <paramref name="found"/> and <paramref name="value"/> are the answer).</summary>
    public static bool TryFixed(string name, out ReadOnlySpan<char> value, out bool found)
    {
        value = default;
        found = false;
        if (name.EndsWith("-bin", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (string.Equals(name, "content-type", StringComparison.OrdinalIgnoreCase))
        {
            value = "application/grpc";
            found = true;
            return true;
        }

        return false;
    }
}
