using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;

namespace Mesh.Xds.Server;

/// <summary>
/// Content versions: a resource's version hashes its serialized bytes and a type's version hashes its names and
/// resource versions. Content hashes (rather than counters) keep versions stable across snapshots that leave a
/// resource unchanged and across server restarts and replicas, so a reconnecting client is not sent what it has.
/// </summary>
internal static class XdsResourceVersions
{
    /// <summary>16 hex digits (64 bits) are plenty to tell versions of one resource apart, and short enough for logs.</summary>
    private const int HashBytes = 8;

    public static string ForResource(ByteString serialized)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(serialized.Span, hash);
        return Convert.ToHexStringLower(hash[..HashBytes]);
    }

    public static string ForSet(IReadOnlyDictionary<string, XdsResource> resources)
    {
        var names = resources.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var name in names)
        {
            // Length-prefixed so that ("ab", "c") and ("a", "bc") hash differently.
            AppendString(hash, name);
            AppendString(hash, resources[name].Version);
        }

        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return Convert.ToHexStringLower(digest[..HashBytes]);
    }

    private static void AppendString(IncrementalHash hash, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Span<byte> length = stackalloc byte[sizeof(int)];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}
