namespace Mesh.Routing;

/// <summary>
/// The parts of a request that routing and hashing look at. Transport packages implement it as a
/// struct (or ref struct) over their own request type, so routing neither allocates nor boxes.
/// </summary>
public interface IMeshRequest
{
    /// <summary>The request method, e.g. <c>GET</c> (gRPC calls are <c>POST</c>).</summary>
    string Method { get; }

    /// <summary>The escaped path without the query, e.g. <c>/api/orders</c> or <c>/pkg.Service/Method</c>.</summary>
    ReadOnlySpan<char> Path { get; }

    /// <summary>Gets a header's value (several values joined with <c>", "</c>); header names are case-insensitive.</summary>
    bool TryGetHeader(string name, out ReadOnlySpan<char> value);

    /// <summary>Gets the first value of a query parameter, as sent (not unescaped).</summary>
    bool TryGetQueryParameter(string name, out ReadOnlySpan<char> value);

    /// <summary>Gets a cookie's value.</summary>
    bool TryGetCookie(string name, out ReadOnlySpan<char> value);
}
