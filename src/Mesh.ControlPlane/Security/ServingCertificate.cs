using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The TLS certificate of the control plane's xDS and CA port (as istiod serves 15012), issued by its own CA for the
/// names clients dial and renewed by the first handshake after half its lifetime; clients trust the mesh's root.
/// </summary>
internal sealed partial class ServingCertificate
{
    /// <summary>How long each serving certificate is valid.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    private readonly CertificateAuthority _authority;
    private readonly IReadOnlyList<string> _dnsNames;
    private readonly IReadOnlyList<IPAddress> _addresses;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _renewal = new();
    private SslStreamCertificateContext _current = null!;
    private DateTimeOffset _renewAt;

    public ServingCertificate(CertificateAuthority authority, IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeProvider time, ILogger logger)
    {
        _authority = authority;
        _dnsNames = dnsNames;
        _addresses = addresses;
        _time = time;
        _logger = logger;
        Renew();
    }

    /// <summary>The names the certificate is for (DNS names, then addresses).</summary>
    public string Names => string.Join(", ", _dnsNames.Concat(_addresses.Select(static a => a.ToString())));

    /// <summary>The certificate and its intermediates for the next handshake, renewed first when it is past half its lifetime.</summary>
    public SslStreamCertificateContext Current
    {
        get
        {
            if (_time.GetUtcNow() >= _renewAt)
            {
                lock (_renewal)
                {
                    if (_time.GetUtcNow() >= _renewAt)
                    {
                        Renew();
                    }
                }
            }

            return Volatile.Read(ref _current);
        }
    }

    /// <summary>The leaf now served.</summary>
    public X509Certificate2 Certificate => Volatile.Read(ref _current).TargetCertificate;

    private void Renew()
    {
        var certificate = _authority.IssueServingCertificate(_dnsNames, _addresses, Lifetime);
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        Volatile.Write(ref _current, SslStreamCertificateContext.Create(certificate, _authority.Intermediates, offline: true));
        _renewAt = notBefore + ((notAfter - notBefore) / 2);
        Log.Issued(_logger, Names, notAfter.UtcDateTime);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "xDS port TLS: certificate from the mesh's CA for {Names}, valid until {NotAfter:u}")]
        public static partial void Issued(ILogger logger, string names, DateTime notAfter);
    }
}
