using System.Security.Cryptography.X509Certificates;

namespace Mesh.Identity;

/// <summary>The outcome of checking a peer's X509-SVID.</summary>
public sealed class SpiffeValidationResult
{
    private SpiffeValidationResult(SpiffeId? id, string? error)
    {
        SpiffeId = id;
        Error = error;
    }

    /// <summary>Whether the certificate is a valid SVID that chains to the trust bundle.</summary>
    public bool IsValid => Error is null;

    /// <summary>The peer's SPIFFE ID when it could be read (also on some failures, to name the peer).</summary>
    public SpiffeId? SpiffeId { get; }

    /// <summary>Why the certificate was rejected, or <see langword="null"/>.</summary>
    public string? Error { get; }

    internal static SpiffeValidationResult Valid(SpiffeId id) => new(id, null);

    internal static SpiffeValidationResult Invalid(string error, SpiffeId? id = null) => new(id, error);
}

/// <summary>
/// Checks a peer certificate as the X509-SVID standard says: the leaf is not a CA, may sign (digitalSignature)
/// but not certify (no keyCertSign / cRLSign), has exactly one URI SAN that is a SPIFFE ID, and chains, at the
/// given time and through the intermediates the peer sent, to a root of its own trust domain's bundle only.
/// </summary>
public static class SpiffeValidator
{
    /// <summary>Validates <paramref name="leaf"/>; <paramref name="intermediates"/> are the other certificates the peer presented.</summary>
    public static SpiffeValidationResult Validate(X509Certificate2 leaf, X509Certificate2Collection? intermediates, TrustBundle bundle, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(bundle);
        var subject = leaf.Subject.Length == 0 ? "(empty subject)" : leaf.Subject;
        if (!SpiffeCertificates.TryGetSpiffeId(leaf, out var id, out var idError))
        {
            return SpiffeValidationResult.Invalid($"peer certificate '{subject}' is not an X509-SVID: {idError}");
        }

        if (leaf.Extensions["2.5.29.19"] is X509BasicConstraintsExtension { CertificateAuthority: true })
        {
            return SpiffeValidationResult.Invalid($"peer certificate {id} is a CA certificate (basicConstraints CA=true); a leaf X509-SVID must not be a CA", id);
        }

        if (leaf.Extensions["2.5.29.15"] is not X509KeyUsageExtension keyUsage)
        {
            return SpiffeValidationResult.Invalid($"peer certificate {id} has no key usage extension; a leaf X509-SVID must set digitalSignature", id);
        }

        if ((keyUsage.KeyUsages & X509KeyUsageFlags.DigitalSignature) == 0)
        {
            return SpiffeValidationResult.Invalid($"peer certificate {id} does not allow digitalSignature; a leaf X509-SVID must", id);
        }

        if ((keyUsage.KeyUsages & (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)) != 0)
        {
            return SpiffeValidationResult.Invalid($"peer certificate {id} allows keyCertSign or cRLSign; a leaf X509-SVID must not", id);
        }

        var roots = bundle.GetRoots(id.TrustDomain);
        if (roots is null)
        {
            return SpiffeValidationResult.Invalid(
                $"peer {id} is in trust domain '{id.TrustDomain}', which the trust bundle does not have (it has: {string.Join(", ", bundle.TrustDomains)})", id);
        }

        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(roots);
        if (intermediates is not null)
        {
            policy.ExtraStore.AddRange(intermediates);
        }

        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.DisableCertificateDownloads = true;
        policy.VerificationTime = now.UtcDateTime;
        if (chain.Build(leaf))
        {
            return SpiffeValidationResult.Valid(id);
        }

        return SpiffeValidationResult.Invalid($"peer certificate {id} was rejected: {Describe(chain, leaf, now)}", id);
    }

    private static string Describe(X509Chain chain, X509Certificate2 leaf, DateTimeOffset now)
    {
        var flags = X509ChainStatusFlags.NoError;
        foreach (var status in chain.ChainStatus)
        {
            flags |= status.Status;
        }

        if ((flags & X509ChainStatusFlags.NotTimeValid) != 0)
        {
            return leaf.NotAfter.ToUniversalTime() < now.UtcDateTime
                ? $"it expired at {leaf.NotAfter.ToUniversalTime():u} (now {now.UtcDateTime:u})"
                : leaf.NotBefore.ToUniversalTime() > now.UtcDateTime
                    ? $"it is not valid before {leaf.NotBefore.ToUniversalTime():u} (now {now.UtcDateTime:u})"
                    : "a certificate in its chain is outside its validity period";
        }

        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
        {
            return "it does not chain to a root of its trust domain's bundle";
        }

        var details = new List<string>();
        foreach (var status in chain.ChainStatus)
        {
            details.Add(status.StatusInformation.Trim());
        }

        return $"chain validation failed ({flags}: {string.Join("; ", details)})";
    }
}
