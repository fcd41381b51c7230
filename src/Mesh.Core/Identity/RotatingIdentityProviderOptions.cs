namespace Mesh.Identity;

/// <summary>How a <see cref="RotatingIdentityProvider"/> asks for certificates and which roots it trusts.</summary>
internal sealed class RotatingIdentityProviderOptions
{
    /// <summary>The fraction of a certificate's lifetime after which it is renewed.</summary>
    public const double RenewalFraction = 0.5;

    /// <summary>The renewal time varies by up to this fraction of the lifetime either way, so replicas do not renew together.</summary>
    public const double RenewalJitter = 0.05;

    /// <summary>The first retry after a failed attempt; each further failure doubles it.</summary>
    public static readonly TimeSpan InitialBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two attempts (before jitter).</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);

    /// <summary>Retry delays vary by up to this fraction either way.</summary>
    public const double BackoffJitter = 0.2;

    /// <summary>The shortest wait before the next renewal, so a signer issuing already-half-expired certificates is not called in a loop.</summary>
    public static readonly TimeSpan MinRenewalDelay = TimeSpan.FromSeconds(1);

    /// <summary>The lifetime asked for. Default 24 h.</summary>
    public TimeSpan RequestedTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>The trust domain of the bundle; when <see langword="null"/>, the issued certificate's own.</summary>
    public string? TrustDomain { get; init; }

    /// <summary>
    /// The roots to trust, as PEM. When <see langword="null"/>, the last certificate of each chain the signer
    /// returns is trusted (trust on first use).
    /// </summary>
    public string? TrustedRootsPem { get; init; }

    /// <summary>The SPIFFE ID put in the request as its URI SAN, when known.</summary>
    public SpiffeId? ExpectedSpiffeId { get; init; }
}
