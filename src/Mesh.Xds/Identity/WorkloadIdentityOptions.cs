using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Microsoft.Extensions.Options;

namespace Mesh.Xds.Identity;

/// <summary>
/// How the workload obtains its certificate from the control plane's CA (Istio's <c>IstioCertificateService</c>):
/// where the CA is, how the workload authenticates (a Kubernetes service-account token), which root it trusts and
/// the lifetime it asks for. Used by <c>AddWorkloadIdentity</c>.
/// </summary>
/// <example>
/// <code>
/// services.AddMesh().AddXds(o => o.Targets.Add("backend.shop.svc.cluster.local:8080"))
///     .AddWorkloadIdentity(o => o.RootCertificateFile = "/var/run/secrets/istio/root-cert.pem");
/// </code>
/// </example>
public sealed class WorkloadIdentityOptions
{
    /// <summary>The projected service-account token Istio mounts for its CA (audience <c>istio-ca</c>).</summary>
    public const string DefaultTokenFile = "/var/run/secrets/tokens/istio-token";

    /// <summary>The pod's own service-account token, used when <see cref="DefaultTokenFile"/> does not exist.</summary>
    public const string KubernetesTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    /// <summary>
    /// The CA's address, an <c>http://</c> or <c>https://</c> URI such as <c>https://istiod.istio-system.svc:15012</c>.
    /// When <see langword="null"/>, the first xDS server of the bootstrap.
    /// </summary>
    public string? CaAddress { get; set; }

    /// <summary>
    /// The gRPC xDS bootstrap JSON whose server is the CA when <see cref="CaAddress"/> is not set. When
    /// <see langword="null"/>, the one of <c>AddXds</c>, else <c>GRPC_XDS_BOOTSTRAP</c> / <c>GRPC_XDS_BOOTSTRAP_CONFIG</c>.
    /// </summary>
    public string? Bootstrap { get; set; }

    /// <summary>
    /// The file holding the bearer token sent to the CA, read again for every request since projected tokens rotate.
    /// When neither this nor <see cref="Token"/> is set, <see cref="DefaultTokenFile"/>, else
    /// <see cref="KubernetesTokenFile"/>, else no token.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>A fixed bearer token (a bootstrap token for development), instead of <see cref="TokenFile"/>.</summary>
    public string? Token { get; set; }

    /// <summary>
    /// A PEM file with the mesh's root certificate(s): the trust bundle, and the roots the CA's TLS certificate is
    /// checked against. When <see langword="null"/> and the CA is the bootstrap's xDS server, the roots of its
    /// <c>tls</c> channel credentials (<c>config.ca_certificate_file</c>) when given; otherwise the root the CA returns
    /// with each certificate is trusted as is (trust on first use, with a warning) and an https CA is checked against
    /// the system trust store.
    /// </summary>
    public string? RootCertificateFile { get; set; }

    /// <summary>The certificate lifetime asked for. Default 24 h; the CA may issue a different one.</summary>
    public TimeSpan CertificateTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The trust domain of the mesh, e.g. <c>cluster.local</c>. When <see langword="null"/>, the issued certificate's.</summary>
    public string? TrustDomain { get; set; }

    /// <summary>
    /// The workload's Kubernetes namespace. When set, it is sent as <c>x-mesh-namespace</c> (a development CA uses it
    /// instead of a token) and, with <see cref="ServiceAccount"/> and <see cref="TrustDomain"/>, names the SPIFFE ID
    /// asked for.
    /// </summary>
    public string? Namespace { get; set; }

    /// <summary>The workload's service account; when set, sent as <c>x-mesh-service-account</c>.</summary>
    public string? ServiceAccount { get; set; }

    /// <summary>The deadline of one request to the CA. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The SPIFFE ID to ask for, when the trust domain, namespace and service account are all known.</summary>
    internal SpiffeId? ExpectedSpiffeId
        => TrustDomain is { } domain && Namespace is { } ns && ServiceAccount is { } sa
           && SpiffeId.TryParse($"{SpiffeId.Scheme}://{domain}/ns/{ns}/sa/{sa}", out var id, out _) ? id : null;
}

/// <summary>Validates <see cref="WorkloadIdentityOptions"/>, naming every problem.</summary>
internal sealed class WorkloadIdentityOptionsValidator : IValidateOptions<WorkloadIdentityOptions>
{
    private const string Section = "WorkloadIdentity";

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, WorkloadIdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.CaAddress is { } address && !TryParseAddress(address, out _))
        {
            errors.Add($"{Section}:CaAddress = '{address}': must be an absolute http:// or https:// URI with a host, e.g. https://istiod.istio-system.svc:15012; leave it unset to use the xDS server of the bootstrap");
        }

        if (options.Token is not null && options.TokenFile is not null)
        {
            errors.Add($"{Section}:Token and {Section}:TokenFile are both set: set one (TokenFile for a rotating projected token, Token for a fixed development token)");
        }

        if (options.Token is { } token && string.IsNullOrWhiteSpace(token))
        {
            errors.Add($"{Section}:Token: is empty; set a token or leave it unset");
        }

        if (options.TokenFile is { } tokenFile && string.IsNullOrWhiteSpace(tokenFile))
        {
            errors.Add($"{Section}:TokenFile: is empty; set the path of the token file, e.g. {WorkloadIdentityOptions.DefaultTokenFile}, or leave it unset");
        }

        if (options.RootCertificateFile is { } rootFile)
        {
            if (ReadRoots(rootFile, out var error) is null)
            {
                errors.Add($"{Section}:RootCertificateFile = '{rootFile}': {error}");
            }
        }

        if (options.CertificateTtl <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:CertificateTtl = {options.CertificateTtl.ToString("c", CultureInfo.InvariantCulture)}: must be a positive duration, e.g. 24:00:00");
        }

        if (options.RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:RequestTimeout = {options.RequestTimeout.ToString("c", CultureInfo.InvariantCulture)}: must be a positive duration, e.g. 00:00:30");
        }

        if (options.TrustDomain is { } domain && !SpiffeId.TryParse($"{SpiffeId.Scheme}://{domain}", out _, out var domainError))
        {
            errors.Add($"{Section}:TrustDomain = '{domain}': is not a SPIFFE trust domain ({domainError}); use e.g. cluster.local, or leave it unset to take the certificate's");
        }

        CheckSegment(options.Namespace, "Namespace", errors);
        CheckSegment(options.ServiceAccount, "ServiceAccount", errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static bool TryParseAddress(string value, out Uri address)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0)
        {
            address = uri;
            return true;
        }

        address = null!;
        return false;
    }

    /// <summary>Reads the roots PEM from a file; <see langword="null"/> with the reason when it cannot be used.</summary>
    internal static string? ReadRoots(string path, out string error)
    {
        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error = $"cannot be read ({e.Message}); set it to the PEM file of the mesh's root certificate";
            return null;
        }

        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            error = $"has a certificate that cannot be read ({e.Message})";
            return null;
        }

        if (roots.Count == 0)
        {
            error = "has no PEM certificate (expected '-----BEGIN CERTIFICATE-----' blocks)";
            return null;
        }

        error = string.Empty;
        return pem;
    }

    private static void CheckSegment(string? value, string option, List<string> errors)
    {
        if (value is not null && (value.Contains('/', StringComparison.Ordinal) || !SpiffeId.TryParse($"{SpiffeId.Scheme}://example.org/{value}", out _, out _)))
        {
            errors.Add($"{Section}:{option} = '{value}': must be a Kubernetes name (letters, digits, '.', '-', '_'), e.g. default");
        }
    }
}
