namespace Mesh.ControlPlane.Security;

/// <summary>
/// The certificate authority cannot start: its files or Secret are missing or wrong. The message names every file or
/// Secret key at fault, the problem and the fix.
/// </summary>
public sealed class CertificateAuthorityException : InvalidOperationException
{
    /// <summary>Creates the exception with a message that names the source, the problem and the fix.</summary>
    public CertificateAuthorityException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error underneath.</summary>
    public CertificateAuthorityException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public CertificateAuthorityException()
        : base("The certificate authority cannot start.")
    {
    }
}
