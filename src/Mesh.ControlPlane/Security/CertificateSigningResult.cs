namespace Mesh.ControlPlane.Security;

/// <summary>How a signing request ended.</summary>
internal enum CertificateSigningOutcome
{
    /// <summary>A certificate was issued.</summary>
    Issued,

    /// <summary>The request is wrong (a bad CSR, a lifetime above the maximum): the caller can fix it.</summary>
    InvalidRequest,

    /// <summary>The CA cannot sign now (its certificate expired): the operator must fix it.</summary>
    Unavailable,
}

/// <summary>The outcome of <see cref="CertificateAuthority.Sign(string, Mesh.Identity.SpiffeId, TimeSpan)"/>: the issued chain, or the reason.</summary>
internal sealed class CertificateSigningResult
{
    private CertificateSigningResult(CertificateSigningOutcome outcome, IReadOnlyList<string> chain, string? serial, DateTimeOffset notAfter, string? field, string? error)
    {
        Outcome = outcome;
        CertificateChain = chain;
        SerialNumber = serial;
        NotAfter = notAfter;
        Field = field;
        Error = error;
    }

    public CertificateSigningOutcome Outcome { get; }

    public bool IsIssued => Outcome == CertificateSigningOutcome.Issued;

    /// <summary>PEM certificates: the issued leaf, the intermediates, the root last (Istio's order); empty on failure.</summary>
    public IReadOnlyList<string> CertificateChain { get; }

    /// <summary>The leaf's serial number in hex.</summary>
    public string? SerialNumber { get; }

    /// <summary>When the leaf expires.</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>The request field at fault (<c>csr</c>, <c>validity_duration</c>), when the request is invalid.</summary>
    public string? Field { get; }

    /// <summary>Why nothing was issued, or <see langword="null"/>.</summary>
    public string? Error { get; }

    public static CertificateSigningResult Issued(IReadOnlyList<string> chain, string serial, DateTimeOffset notAfter) =>
        new(CertificateSigningOutcome.Issued, chain, serial, notAfter, null, null);

    public static CertificateSigningResult Invalid(string field, string error) =>
        new(CertificateSigningOutcome.InvalidRequest, [], null, default, field, error);

    public static CertificateSigningResult Unavailable(string error) =>
        new(CertificateSigningOutcome.Unavailable, [], null, default, null, error);
}
