using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Identity;

/// <summary>Reads SPIFFE IDs from certificates (X509-SVID: the ID is the certificate's only URI SAN).</summary>
public static class SpiffeCertificates
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>The URI subject alternative names of a certificate, in order.</summary>
    public static IReadOnlyList<string> GetUriSubjectAltNames(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var extension = certificate.Extensions[SubjectAltNameOid];
        if (extension is null)
        {
            return [];
        }

        var uris = new List<string>();
        var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
        while (names.HasData)
        {
            if (names.PeekTag().HasSameClassAndValue(UriTag))
            {
                uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
            }
            else
            {
                names.ReadEncodedValue();
            }
        }

        return uris;
    }

    /// <summary>All subject alternative names as strings (DNS names, IP addresses, URIs), for SAN matching.</summary>
    public static IReadOnlyList<string> GetSubjectAltNames(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var names = new List<string>(GetUriSubjectAltNames(certificate));
        if (certificate.Extensions[SubjectAltNameOid] is X509SubjectAlternativeNameExtension san)
        {
            names.AddRange(san.EnumerateDnsNames());
            foreach (var ip in san.EnumerateIPAddresses())
            {
                names.Add(ip.ToString());
            }
        }

        return names;
    }

    /// <summary>The certificate's SPIFFE ID: exactly one URI SAN, which must be a valid SPIFFE ID.</summary>
    public static bool TryGetSpiffeId(X509Certificate2 certificate, [NotNullWhen(true)] out SpiffeId? id, [NotNullWhen(false)] out string? error)
    {
        id = null;
        IReadOnlyList<string> uris;
        try
        {
            uris = GetUriSubjectAltNames(certificate);
        }
        catch (AsnContentException ex)
        {
            error = $"the subject alternative name extension is malformed ({ex.Message})";
            return false;
        }

        switch (uris.Count)
        {
            case 0:
                error = "the certificate has no URI subject alternative name (an X509-SVID has exactly one, its SPIFFE ID)";
                return false;
            case > 1:
                error = $"the certificate has {uris.Count} URI subject alternative names ({string.Join(", ", uris)}); an X509-SVID has exactly one";
                return false;
        }

        return SpiffeId.TryParse(uris[0], out id, out error);
    }

    /// <summary>
    /// A certificate whose private key TLS can use on every platform (Windows' TLS stack cannot use an
    /// ephemeral key, so the certificate is round-tripped through PKCS#12 there).
    /// </summary>
    internal static X509Certificate2 WithUsableKey(X509Certificate2 certificate)
    {
        if (!OperatingSystem.IsWindows())
        {
            return certificate;
        }

        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
        }
    }
}
