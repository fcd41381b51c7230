namespace Mesh.Identity;

/// <summary>
/// Signs a workload's certificate signing request: a certificate authority reached over the network (the
/// control plane's CA) or in process. The signer decides the identity in the certificate; the SPIFFE ID in the
/// request is only a hint.
/// </summary>
public interface ICertificateSigner
{
    /// <summary>Names the signer in logs and errors, e.g. <c>CA https://istiod.istio-system.svc:15012</c>.</summary>
    string Description { get; }

    /// <summary>
    /// Sends a PKCS#10 request and returns the issued chain as PEM certificates: the leaf first, then the
    /// intermediates, the root last (one certificate per element; an element with several is also accepted).
    /// </summary>
    /// <param name="csrPem">The PEM-encoded PKCS#10 request (<c>-----BEGIN CERTIFICATE REQUEST-----</c>).</param>
    /// <param name="requestedTtl">The lifetime asked for; the signer may issue a shorter or longer one.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="CertificateSigningException">The signer refused or could not be reached; the message says which and why.</exception>
    Task<IReadOnlyList<string>> SignAsync(string csrPem, TimeSpan requestedTtl, CancellationToken cancellationToken);
}

/// <summary>A certificate signer refused a request or could not be reached; the message names the signer and the cause.</summary>
public sealed class CertificateSigningException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CertificateSigningException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public CertificateSigningException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public CertificateSigningException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
