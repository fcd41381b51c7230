using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <content>The log messages of <see cref="CertificateAuthorityServices"/>.</content>
internal sealed partial class CertificateAuthorityServices
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Certificate authority: root '{Subject}' for trust domain {TrustDomain} generated, not persisted (valid until {NotAfter:u}). Every restart makes a new root that workloads must fetch again; give --ca-dir DIR or --ca-secret NAME for a stable CA.")]
        public static partial void Generated(ILogger logger, string subject, string trustDomain, DateTime notAfter);

        [LoggerMessage(2, LogLevel.Information, "Certificate authority loaded from {Source}: signing certificate '{Subject}' valid until {NotAfter:u}, root '{Root}'")]
        public static partial void Loaded(ILogger logger, string source, string subject, DateTime notAfter, string root);

        [LoggerMessage(3, LogLevel.Information, "Certificate authority serving trust domain {TrustDomain} (key {Source}); callers authenticated by {Authenticator}; certificates {DefaultTtl} by default, at most {MaxTtl}")]
        public static partial void Serving(ILogger logger, string trustDomain, string source, string authenticator, string defaultTtl, string maxTtl);
    }
}
