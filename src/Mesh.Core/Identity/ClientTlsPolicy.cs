using System.Collections.Immutable;
using System.Security.Cryptography.X509Certificates;
using Mesh.Configuration;
using Mesh.Routing;

namespace Mesh.Identity;

/// <summary>
/// A cluster's validated client TLS settings (from <see cref="TlsOptions"/> or xDS <c>UpstreamTlsContext</c>):
/// the mode, the server's expected subject alternative names and the SNI.
/// </summary>
public sealed class ClientTlsPolicy : IEquatable<ClientTlsPolicy>
{
    private readonly ImmutableArray<StringMatcher> _subjectAltNames;

    internal ClientTlsPolicy(TlsMode mode, ImmutableArray<StringMatcher> subjectAltNames, string? sni)
    {
        Mode = mode;
        _subjectAltNames = subjectAltNames;
        Sni = sni;
    }

    /// <summary>TLS or mutual TLS (a cluster without TLS has no policy).</summary>
    public TlsMode Mode { get; }

    /// <summary>Whether the client presents its workload certificate.</summary>
    public bool IsMutual => Mode == TlsMode.Mutual;

    /// <summary>The SNI to send, or <see langword="null"/> for the endpoint's host.</summary>
    public string? Sni { get; }

    /// <summary>
    /// Checks a server certificate: an X509-SVID of the trust bundle (<see cref="SpiffeValidator"/>) with a
    /// subject alternative name that one of the expected matchers accepts. Returns the reason it is rejected,
    /// or <see langword="null"/>.
    /// </summary>
    public string? CheckServer(X509Certificate2 certificate, X509Certificate2Collection? intermediates, TrustBundle bundle, DateTimeOffset now) =>
        CheckServer(certificate, intermediates, bundle, now, out _);

    /// <summary>As <see cref="CheckServer(X509Certificate2, X509Certificate2Collection?, TrustBundle, DateTimeOffset)"/>; <paramref name="server"/> is the server's SPIFFE ID when it is accepted.</summary>
    public string? CheckServer(X509Certificate2 certificate, X509Certificate2Collection? intermediates, TrustBundle bundle, DateTimeOffset now, out SpiffeId? server)
    {
        server = null;
        var result = SpiffeValidator.Validate(certificate, intermediates, bundle, now);
        if (!result.IsValid)
        {
            return result.Error;
        }

        if (_subjectAltNames.IsEmpty)
        {
            server = result.SpiffeId;
            return null;
        }

        var names = SpiffeCertificates.GetSubjectAltNames(certificate);
        foreach (var matcher in _subjectAltNames)
        {
            foreach (var name in names)
            {
                if (matcher.Matches(name))
                {
                    server = result.SpiffeId;
                    return null;
                }
            }
        }

        return $"server {result.SpiffeId} has no subject alternative name the cluster expects (expected {string.Join(" or ", _subjectAltNames)}; it has {string.Join(", ", names)})";
    }

    /// <inheritdoc/>
    public bool Equals(ClientTlsPolicy? other)
        => other is not null && Mode == other.Mode && Sni == other.Sni
           && _subjectAltNames.Length == other._subjectAltNames.Length
           && _subjectAltNames.Select(m => m.ToString()).SequenceEqual(other._subjectAltNames.Select(m => m.ToString()));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ClientTlsPolicy other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Mode, Sni, _subjectAltNames.Length);

    /// <inheritdoc/>
    public override string ToString()
        => _subjectAltNames.IsEmpty ? Mode.ToString() : $"{Mode} (server SAN {string.Join(" or ", _subjectAltNames)})";

    /// <summary>Validates options into a policy; <see langword="null"/> for plaintext or on errors (added to <paramref name="errors"/>).</summary>
    internal static ClientTlsPolicy? Create(TlsOptions? options, string path, List<string> errors)
    {
        if (options is null || options.Mode == TlsMode.Disable)
        {
            return null;
        }

        if (!Enum.IsDefined(options.Mode))
        {
            errors.Add($"{path}:Mode = {options.Mode}: must be Disable, Simple or Mutual");
            return null;
        }

        var matchers = ImmutableArray.CreateBuilder<StringMatcher>(options.SubjectAltNames.Count);
        for (var i = 0; i < options.SubjectAltNames.Count; i++)
        {
            var itemPath = $"{path}:SubjectAltNames[{i}]";
            var item = options.SubjectAltNames[i];
            if (item is { Present: not null } or { Absent: not null })
            {
                errors.Add($"{itemPath}: Present and Absent do not apply to names; use Exact, Prefix, Suffix or Regex");
                continue;
            }

            if (Model.MeshSnapshotBuilder.BuildStringMatcher(item, itemPath, errors) is { } matcher)
            {
                matchers.Add(matcher);
            }
        }

        if (options.Sni is { } sni && (sni.Length == 0 || Uri.CheckHostName(sni) is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6)))
        {
            errors.Add($"{path}:Sni = '{sni}': must be a host name, e.g. backend.shop.svc.cluster.local");
        }

        return new ClientTlsPolicy(options.Mode, matchers.ToImmutable(), options.Sni);
    }
}
