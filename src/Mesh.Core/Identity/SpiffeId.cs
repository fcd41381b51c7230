using System.Diagnostics.CodeAnalysis;

namespace Mesh.Identity;

/// <summary>
/// A SPIFFE ID (<c>spiffe://trust-domain/path</c>), validated by the SPIFFE ID standard: scheme <c>spiffe</c>,
/// a trust domain of lowercase letters, digits, <c>.</c>, <c>-</c> and <c>_</c>, no port, user info, query or
/// fragment, and path segments of <c>[A-Za-z0-9._-]</c> that are neither empty, <c>.</c> nor <c>..</c>.
/// Workloads in Kubernetes are <c>spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;service-account&gt;</c>.
/// </summary>
public sealed class SpiffeId : IEquatable<SpiffeId>
{
    /// <summary>The URI scheme.</summary>
    public const string Scheme = "spiffe";

    private const string Prefix = "spiffe://";
    private const int MaxLength = 2048;

    private SpiffeId(string trustDomain, string path)
    {
        TrustDomain = trustDomain;
        Path = path;
        Value = Prefix + trustDomain + path;
        if (path.Split('/') is ["", "ns", var ns, "sa", var sa])
        {
            (Namespace, ServiceAccount) = (ns, sa);
        }
    }

    /// <summary>The trust domain, e.g. <c>cluster.local</c>.</summary>
    public string TrustDomain { get; }

    /// <summary>The path including its leading slash, or empty for the trust domain's own ID.</summary>
    public string Path { get; }

    /// <summary>The whole ID as a string.</summary>
    public string Value { get; }

    /// <summary>The Kubernetes namespace when the path is <c>/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>, otherwise <see langword="null"/>.</summary>
    public string? Namespace { get; }

    /// <summary>The Kubernetes service account when the path is <c>/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>, otherwise <see langword="null"/>.</summary>
    public string? ServiceAccount { get; }

    /// <summary>The ID of a Kubernetes service account: <c>spiffe://&lt;trustDomain&gt;/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>.</summary>
    public static SpiffeId ForServiceAccount(string trustDomain, string @namespace, string serviceAccount)
        => Parse($"{Prefix}{trustDomain}/ns/{@namespace}/sa/{serviceAccount}");

    /// <summary>Parses an ID; throws <see cref="FormatException"/> naming the rule it breaks.</summary>
    public static SpiffeId Parse(string value)
        => TryParse(value, out var id, out var error) ? id : throw new FormatException(error);

    /// <summary>Parses an ID; on failure <paramref name="error"/> says which rule the value breaks.</summary>
    public static bool TryParse(string? value, [NotNullWhen(true)] out SpiffeId? id, [NotNullWhen(false)] out string? error)
    {
        id = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "a SPIFFE ID must not be empty";
            return false;
        }

        if (value.Length > MaxLength)
        {
            error = $"'{Shorten(value)}' is longer than {MaxLength} characters";
            return false;
        }

        if (!value.StartsWith(Prefix, StringComparison.Ordinal))
        {
            error = $"'{value}' is not a SPIFFE ID: the scheme must be '{Scheme}://'";
            return false;
        }

        var rest = value.AsSpan(Prefix.Length);
        var slash = rest.IndexOf('/');
        var trustDomain = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? ReadOnlySpan<char>.Empty : rest[slash..];
        if (trustDomain.IsEmpty)
        {
            error = $"'{value}' has no trust domain";
            return false;
        }

        foreach (var c in trustDomain)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '-' or '_'))
            {
                error = c switch
                {
                    ':' => $"'{value}': the trust domain must not have a port",
                    '@' => $"'{value}': the trust domain must not have user info",
                    >= 'A' and <= 'Z' => $"'{value}': the trust domain must be lowercase",
                    _ => $"'{value}': the trust domain has the character '{c}' (allowed: a-z, 0-9, '.', '-', '_')",
                };
                return false;
            }
        }

        if (!path.IsEmpty)
        {
            foreach (var range in path[1..].Split('/'))
            {
                var segment = path[1..][range];
                if (segment.IsEmpty)
                {
                    error = $"'{value}': the path has an empty segment or a trailing '/'";
                    return false;
                }

                if (segment is "." or "..")
                {
                    error = $"'{value}': the path must not have '.' or '..' segments";
                    return false;
                }

                foreach (var c in segment)
                {
                    if (!(c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '.' or '-' or '_'))
                    {
                        error = c is '?' or '#'
                            ? $"'{value}' must not have a query or fragment"
                            : $"'{value}': the path has the character '{c}' (allowed: A-Z, a-z, 0-9, '.', '-', '_')";
                        return false;
                    }
                }
            }
        }

        id = new SpiffeId(trustDomain.ToString(), path.ToString());
        error = null;
        return true;
    }

    /// <inheritdoc/>
    public bool Equals(SpiffeId? other) => other is not null && string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SpiffeId other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <inheritdoc/>
    public override string ToString() => Value;

    private static string Shorten(string value) => value.Length <= 64 ? value : string.Concat(value.AsSpan(0, 64), "...");
}
