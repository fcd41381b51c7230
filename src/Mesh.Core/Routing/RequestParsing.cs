namespace Mesh.Routing;

/// <summary>Allocation-free scanning of query strings and cookie headers, shared by request adapters.</summary>
public static class RequestParsing
{
    /// <summary>Finds the first value of <paramref name="name"/> in a query string (with or without the leading '?').</summary>
    public static bool TryGetQueryParameter(ReadOnlySpan<char> query, string name, out ReadOnlySpan<char> value)
    {
        if (!query.IsEmpty && query[0] == '?')
        {
            query = query[1..];
        }

        while (!query.IsEmpty)
        {
            var end = query.IndexOf('&');
            var pair = end < 0 ? query : query[..end];
            var eq = pair.IndexOf('=');
            var key = eq < 0 ? pair : pair[..eq];
            if (key.SequenceEqual(name))
            {
                value = eq < 0 ? [] : pair[(eq + 1)..];
                return true;
            }

            query = end < 0 ? [] : query[(end + 1)..];
        }

        value = default;
        return false;
    }

    /// <summary>Finds a cookie in a <c>Cookie</c> header value (<c>a=1; b=2</c>).</summary>
    public static bool TryGetCookie(ReadOnlySpan<char> header, string name, out ReadOnlySpan<char> value)
    {
        while (!header.IsEmpty)
        {
            var end = header.IndexOf(';');
            var pair = (end < 0 ? header : header[..end]).Trim();
            var eq = pair.IndexOf('=');
            if (eq > 0 && pair[..eq].SequenceEqual(name))
            {
                value = pair[(eq + 1)..].Trim('"');
                return true;
            }

            header = end < 0 ? [] : header[(end + 1)..];
        }

        value = default;
        return false;
    }
}
