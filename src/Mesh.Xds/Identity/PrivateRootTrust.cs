using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Xds.Identity;

/// <summary>
/// Server certificate validation against the mesh's own roots instead of the system trust store, for the channels to
/// the control plane (xDS and the CA): the host name is checked by TLS as usual, the chain must end at one of the roots.
/// </summary>
internal static class PrivateRootTrust
{
    /// <summary>Makes <paramref name="handler"/> trust exactly the roots in <paramref name="rootsPem"/>.</summary>
    public static void Apply(SocketsHttpHandler handler, string rootsPem)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(rootsPem);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => IsTrusted(certificate, chain, errors, roots);
    }

    private static bool IsTrusted(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors, X509Certificate2Collection roots)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
