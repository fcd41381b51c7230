using System.Collections.Frozen;
using Mesh.Xds.Client;

namespace Mesh.Xds.Resources;

/// <summary>
/// The certificate provider instance names a CDS resource may refer to (gRFC A29), and what each provides.
/// </summary>
/// <remarks>
/// The mesh has one workload identity per process (the application's <c>IWorkloadIdentityProvider</c>), so every
/// known instance name stands for that identity: its certificate when named by
/// <c>tls_certificate_provider_instance</c>, its trust bundle when named by <c>ca_certificate_provider_instance</c>.
/// A name is known when the bootstrap's <c>certificate_providers</c> declares it (the application builds its identity
/// provider from that instance, e.g. a file watcher), or when the application registers it itself through
/// <see cref="XdsOptions.CertificateProviderInstances"/> (e.g. <c>default</c>, the name Istio's proxyless bootstraps and
/// control planes use, for the identity issued by the mesh's CA). A bootstrap instance with only a
/// <c>ca_certificate_file</c> cannot serve as the certificate, and one without it cannot serve as the CA; any other name
/// is NACKed, as gRPC does.
/// </remarks>
internal sealed class XdsCertificateProviderNames
{
    private readonly FrozenDictionary<string, (bool Identity, bool Roots)> _names;

    private XdsCertificateProviderNames(Dictionary<string, (bool Identity, bool Roots)> names)
    {
        _names = names.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The names of the bootstrap's instances and the ones the application registers.</summary>
    public static XdsCertificateProviderNames Create(XdsBootstrap? bootstrap, IEnumerable<string>? registered)
    {
        var names = new Dictionary<string, (bool Identity, bool Roots)>(StringComparer.Ordinal);
        if (bootstrap is not null)
        {
            foreach (var (name, provider) in bootstrap.CertificateProviders)
            {
                names[name] = (provider.ProvidesIdentity, provider.ProvidesRoots);
            }
        }

        foreach (var name in registered ?? [])
        {
            // The application's own identity provider supplies both a certificate and a trust bundle.
            names[name] = (true, true);
        }

        return new XdsCertificateProviderNames(names);
    }

    /// <summary>The known names, sorted, for messages.</summary>
    public string Describe()
        => _names.Count == 0 ? "none (the bootstrap has no certificate_providers and the application registers none)" : string.Join(", ", _names.Keys.Order(StringComparer.Ordinal).Select(n => $"'{n}'"));

    /// <summary>Checks a name used as the certificate (<paramref name="identity"/>) or the CA; returns the problem, or <see langword="null"/>.</summary>
    public string? Check(string name, bool identity)
    {
        if (!_names.TryGetValue(name, out var provides))
        {
            return $"is not a certificate provider instance of the bootstrap (certificate_providers) nor one the application registers (Xds:CertificateProviderInstances); known: {Describe()}";
        }

        if (identity && !provides.Identity)
        {
            return "provides no certificate (its file_watcher config has no certificate_file and private_key_file); name an instance that does";
        }

        if (!identity && !provides.Roots)
        {
            return "provides no CA certificates (its file_watcher config has no ca_certificate_file); name an instance that does";
        }

        return null;
    }
}
