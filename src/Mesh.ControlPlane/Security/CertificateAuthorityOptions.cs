using System.Globalization;
using Mesh.Identity;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The control plane's certificate authority (<c>--ca</c> and the <c>--ca-*</c> flags): where the signing key comes
/// from, how callers are authenticated, and the lifetimes of the certificates it issues. Istio's defaults: trust domain
/// <c>cluster.local</c>, certificates of 24 h, at most 90 days, the plug-in CA layout (<c>ca-cert.pem</c>,
/// <c>ca-key.pem</c>, <c>root-cert.pem</c>, <c>cert-chain.pem</c>) in a directory or in the Secret <c>cacerts</c>.
/// </summary>
/// <example><code>
/// var options = new ControlPlaneOptions { ManifestsDirectory = "samples/manifests" };
/// options.Ca.Enabled = true;
/// options.Ca.BootstrapTokensFile = "tokens.txt";
/// </code></example>
public sealed class CertificateAuthorityOptions
{
    /// <summary>The default trust domain.</summary>
    public const string DefaultTrustDomain = "cluster.local";

    /// <summary>The namespace of the CA Secret when none is given (Istio's).</summary>
    public const string DefaultSecretNamespace = "istio-system";

    /// <summary>The audience TokenReview checks tokens for by default (Istio's).</summary>
    public const string DefaultTokenAudience = "istio-ca";

    /// <summary>The lifetime of a certificate when the request asks for none (24 h).</summary>
    public static readonly TimeSpan DefaultDefaultTtl = TimeSpan.FromHours(24);

    /// <summary>The longest lifetime a request may ask for by default (90 days).</summary>
    public static readonly TimeSpan DefaultMaxTtl = TimeSpan.FromDays(90);

    /// <summary>Serve the certificate-signing service (<c>--ca</c>; implied by <c>--ca-dir</c> and <c>--ca-secret</c>).</summary>
    public bool Enabled { get; set; }

    /// <summary>The SPIFFE trust domain of issued certificates (<c>--trust-domain</c>).</summary>
    public string TrustDomain { get; set; } = DefaultTrustDomain;

    /// <summary>
    /// A directory in Istio's plug-in CA layout (<c>--ca-dir DIR</c>). With neither this nor
    /// <see cref="KubernetesSecretName"/>, a root is generated in memory (development only: not persisted).
    /// </summary>
    public string? CertificatesDirectory { get; set; }

    /// <summary>A Secret with the plug-in CA keys (<c>--ca-secret [NAMESPACE/]NAME</c>, Istio's is <c>cacerts</c>); needs a Kubernetes source.</summary>
    public string? KubernetesSecretName { get; set; }

    /// <summary>The namespace of <see cref="KubernetesSecretName"/>.</summary>
    public string KubernetesSecretNamespace { get; set; } = DefaultSecretNamespace;

    /// <summary>The lifetime of a certificate when the request asks for 0 (<c>--ca-default-ttl</c>).</summary>
    public TimeSpan DefaultTtl { get; set; } = DefaultDefaultTtl;

    /// <summary>The longest lifetime a request may ask for; a longer one is rejected, not shortened (<c>--ca-max-ttl</c>).</summary>
    public TimeSpan MaxTtl { get; set; } = DefaultMaxTtl;

    /// <summary>
    /// A file of bootstrap tokens (<c>--bootstrap-tokens FILE</c>), one per line: <c>&lt;token&gt; &lt;namespace&gt; &lt;serviceAccount&gt;</c>;
    /// <c>#</c> starts a comment. Re-read when it changes. The authenticator when no Kubernetes source is configured.
    /// </summary>
    public string? BootstrapTokensFile { get; set; }

    /// <summary>
    /// Trust the identity callers claim in <c>x-mesh-namespace</c> / <c>x-mesh-service-account</c> metadata
    /// (<c>--insecure-dev-identities</c>). Anyone who can reach the port gets any identity: development only.
    /// </summary>
    public bool InsecureDevelopmentIdentities { get; set; }

    /// <summary>The audiences TokenReview checks tokens for (<c>--ca-token-audiences</c>); empty: the API server's own.</summary>
    public IList<string> TokenAudiences { get; } = [DefaultTokenAudience];

    /// <summary>An authenticator to use instead of the built-in choice (embedders with their own credentials).</summary>
    public ICallerAuthenticator? Authenticator { get; set; }

    /// <summary>Whether a CA is to be served: <see cref="Enabled"/>, or a directory or Secret is given.</summary>
    internal bool IsEnabled => Enabled || CertificatesDirectory is not null || KubernetesSecretName is not null;

    /// <summary>Every problem with these options, each naming the flag, its value and the rule; empty when valid or not enabled.</summary>
    internal List<string> Validate(bool hasKubernetes)
    {
        var errors = new List<string>();
        if (!IsEnabled)
        {
            return errors;
        }

        if (!SpiffeId.TryParse("spiffe://" + TrustDomain, out _, out var error) || TrustDomain.Contains('/', StringComparison.Ordinal))
        {
            errors.Add($"--trust-domain = '{TrustDomain}': must be a SPIFFE trust domain, e.g. cluster.local ({error ?? "no path allowed"})");
        }

        if (CertificatesDirectory is not null && KubernetesSecretName is not null)
        {
            errors.Add("give either --ca-dir or --ca-secret, not both");
        }

        if (KubernetesSecretName is not null && !hasKubernetes)
        {
            errors.Add($"--ca-secret {KubernetesSecretNamespace}/{KubernetesSecretName} needs a cluster: add --kubeconfig FILE or --in-cluster, or use --ca-dir DIR");
        }

        if (DefaultTtl <= TimeSpan.Zero)
        {
            errors.Add($"--ca-default-ttl = {FormatDuration(DefaultTtl)}: must be positive");
        }

        if (MaxTtl <= TimeSpan.Zero)
        {
            errors.Add($"--ca-max-ttl = {FormatDuration(MaxTtl)}: must be positive");
        }
        else if (DefaultTtl > MaxTtl)
        {
            errors.Add($"--ca-default-ttl = {FormatDuration(DefaultTtl)}: must not exceed --ca-max-ttl ({FormatDuration(MaxTtl)})");
        }

        if (Authenticator is not null)
        {
            return errors;
        }

        if (InsecureDevelopmentIdentities && BootstrapTokensFile is not null)
        {
            errors.Add("give either --bootstrap-tokens or --insecure-dev-identities, not both");
        }

        if (!hasKubernetes && !InsecureDevelopmentIdentities && BootstrapTokensFile is null)
        {
            errors.Add("the CA cannot authenticate callers without a cluster: give --bootstrap-tokens FILE (tokens of the workloads), "
                       + "or --insecure-dev-identities for development only (with --kubeconfig or --in-cluster, Kubernetes TokenReview is used)");
        }

        for (var i = 0; i < TokenAudiences.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(TokenAudiences[i]))
            {
                errors.Add($"--ca-token-audiences[{i}] is empty: give audience names separated by commas, e.g. istio-ca");
            }
        }

        return errors;
    }

    /// <summary>Reads a duration such as <c>90s</c>, <c>30m</c>, <c>24h</c> or <c>90d</c>.</summary>
    internal static bool TryParseDuration(string value, out TimeSpan duration)
    {
        duration = default;
        if (value.Length < 2)
        {
            return false;
        }

        var unit = value[^1];
        if (!double.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            return false;
        }

        try
        {
            duration = unit switch
            {
                's' => TimeSpan.FromSeconds(amount),
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                'd' => TimeSpan.FromDays(amount),
                _ => TimeSpan.MinValue,
            };
        }
        catch (OverflowException)
        {
            return false;
        }

        return duration != TimeSpan.MinValue;
    }

    /// <summary>A duration the way the flags take it: whole days, hours, minutes or seconds.</summary>
    internal static string FormatDuration(TimeSpan value) => value switch
    {
        { Ticks: > TimeSpan.TicksPerDay } when value.Ticks % TimeSpan.TicksPerDay == 0 => string.Create(CultureInfo.InvariantCulture, $"{value.Ticks / TimeSpan.TicksPerDay}d"),
        { Ticks: > 0 } when value.Ticks % TimeSpan.TicksPerHour == 0 => string.Create(CultureInfo.InvariantCulture, $"{value.Ticks / TimeSpan.TicksPerHour}h"),
        { Ticks: > 0 } when value.Ticks % TimeSpan.TicksPerMinute == 0 => string.Create(CultureInfo.InvariantCulture, $"{value.Ticks / TimeSpan.TicksPerMinute}m"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds}s"),
    };
}
