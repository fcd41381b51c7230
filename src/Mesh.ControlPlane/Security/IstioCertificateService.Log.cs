using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <content>The log messages of <see cref="IstioCertificateService"/>.</content>
internal sealed partial class IstioCertificateService
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Issued certificate for {Identity}: serial {SerialNumber}, not after {NotAfter:u}, caller authenticated by {Authenticator} from {Peer}")]
        public static partial void Issued(ILogger logger, string identity, string serialNumber, DateTimeOffset notAfter, string authenticator, string peer);

        [LoggerMessage(2, LogLevel.Warning, "Certificate request from {Peer} rejected by {Authenticator}: {Reason}")]
        public static partial void Unauthenticated(ILogger logger, string peer, string authenticator, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Certificate request of {Identity} rejected, field {Field}: {Problem}")]
        public static partial void InvalidRequest(ILogger logger, string identity, string field, string problem);

        [LoggerMessage(4, LogLevel.Error, "Certificate request of {Identity} cannot be signed: {Problem}")]
        public static partial void CannotSign(ILogger logger, string identity, string problem);

        [LoggerMessage(5, LogLevel.Error, "Signing the certificate of {Identity} failed")]
        public static partial void SigningFailed(ILogger logger, string identity, Exception exception);

        [LoggerMessage(6, LogLevel.Error, "The {Authenticator} authenticator failed on a request from {Peer}")]
        public static partial void AuthenticatorFailed(ILogger logger, string authenticator, string peer, Exception exception);
    }
}
