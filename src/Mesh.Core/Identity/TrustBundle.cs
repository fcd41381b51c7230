using System.Collections.Frozen;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Identity;

/// <summary>
/// The root certificates a workload trusts, per SPIFFE trust domain (SPIFFE trust bundles). A peer's
/// certificate is checked against the roots of the trust domain in its SPIFFE ID only, so a CA of one
/// domain cannot vouch for another.
/// </summary>
public sealed class TrustBundle
{
    private readonly FrozenDictionary<string, X509Certificate2Collection> _roots;

    /// <summary>Creates a bundle from roots keyed by trust domain.</summary>
    public TrustBundle(IReadOnlyDictionary<string, X509Certificate2Collection> rootsByTrustDomain)
    {
        ArgumentNullException.ThrowIfNull(rootsByTrustDomain);
        foreach (var (domain, roots) in rootsByTrustDomain)
        {
            if (roots.Count == 0)
            {
                throw new ArgumentException($"The trust bundle of '{domain}' has no root certificate.", nameof(rootsByTrustDomain));
            }
        }

        _roots = rootsByTrustDomain.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The trust domains this bundle has roots for.</summary>
    public IEnumerable<string> TrustDomains => _roots.Keys;

    /// <summary>A bundle of one trust domain.</summary>
    public static TrustBundle ForTrustDomain(string trustDomain, X509Certificate2Collection roots)
        => new(new Dictionary<string, X509Certificate2Collection> { [trustDomain] = roots });

    /// <summary>A bundle of one trust domain from PEM text with one or more certificates.</summary>
    public static TrustBundle FromPem(string trustDomain, string rootsPem)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(rootsPem);
        if (roots.Count == 0)
        {
            throw new FormatException($"The trust bundle of '{trustDomain}' has no PEM certificate (expected '-----BEGIN CERTIFICATE-----' blocks).");
        }

        return ForTrustDomain(trustDomain, roots);
    }

    /// <summary>The roots of a trust domain, or <see langword="null"/> when the bundle has none.</summary>
    public X509Certificate2Collection? GetRoots(string trustDomain) => _roots.GetValueOrDefault(trustDomain);
}
