using System.Buffers;
using System.IO.Hashing;
using System.Text;

namespace Mesh.Routing;

/// <summary>What a consistent-hash policy hashes: a header, a cookie or a query parameter.</summary>
internal enum RequestHashSource
{
    Header,
    Cookie,
    QueryParameter,
}

/// <summary>
/// Computes a request's hash for RingHash and Maglev: XXH64 (seed 0) of the UTF-8 value, as gRPC's
/// header hash policy (gRFC A42) and Envoy do, so that clients of either agree on the endpoint.
/// </summary>
internal sealed class RequestHashPolicy(RequestHashSource source, string name)
{
    public RequestHashSource Source { get; } = source;

    public string Name { get; } = name;

    /// <summary>The hash, or <see langword="null"/> when the request lacks the value (the policy then picks at random).</summary>
    public ulong? ComputeHash<TRequest>(ref TRequest request)
        where TRequest : IMeshRequest, allows ref struct
    {
        ReadOnlySpan<char> value;
        var found = Source switch
        {
            RequestHashSource.Header => request.TryGetHeader(Name, out value),
            RequestHashSource.Cookie => request.TryGetCookie(Name, out value),
            _ => request.TryGetQueryParameter(Name, out value),
        };

        return found ? Hash(value) : null;
    }

    public static ulong Hash(ReadOnlySpan<char> value)
    {
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = null;
        var buffer = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var length = Encoding.UTF8.GetBytes(value, buffer);
        var hash = XxHash64.HashToUInt64(buffer[..length]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return hash;
    }

    public override string ToString() => $"{Source.ToString().ToLowerInvariant()} '{Name}'";
}
