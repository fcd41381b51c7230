using System.Globalization;
using Microsoft.Extensions.Options;

namespace Mesh.Identity;

/// <summary>
/// A workload identity read from PEM files and re-read periodically, as gRPC's <c>file_watcher</c> certificate
/// provider (gRFC A29): the files are typically mounted by an agent or cert-manager's CSI driver, which replaces
/// them before the certificate expires. Used by <c>AddFileWatcherIdentity</c>.
/// </summary>
/// <example>
/// <code>
/// services.AddMesh(configuration).AddFileWatcherIdentity(o =>
/// {
///     o.CertificateFile = "/var/run/secrets/workload-spiffe-credentials/certificates.pem";
///     o.PrivateKeyFile = "/var/run/secrets/workload-spiffe-credentials/private_key.pem";
///     o.CaCertificateFile = "/var/run/secrets/workload-spiffe-credentials/ca_certificates.pem";
/// });
/// </code>
/// </example>
public sealed class FileWatcherIdentityOptions
{
    /// <summary>The default <see cref="RefreshInterval"/>: 10 minutes, as gRPC's.</summary>
    public static readonly TimeSpan DefaultRefreshInterval = TimeSpan.FromMinutes(10);

    /// <summary>
    /// <c>certificate_file</c>: the workload's certificate chain as PEM, the leaf first. Required. Replace it and
    /// <see cref="PrivateKeyFile"/> together (e.g. by swapping a symlinked directory); a read that sees one new and
    /// one old keeps the previous identity until the next refresh.
    /// </summary>
    public string? CertificateFile { get; set; }

    /// <summary><c>private_key_file</c>: the leaf's private key as PEM (PKCS#8, SEC1 or PKCS#1). Required.</summary>
    public string? PrivateKeyFile { get; set; }

    /// <summary><c>ca_certificate_file</c>: the trusted roots as PEM. Required.</summary>
    public string? CaCertificateFile { get; set; }

    /// <summary><c>refresh_interval</c>: how often the files are read again. Default 10 minutes.</summary>
    public TimeSpan RefreshInterval { get; set; } = DefaultRefreshInterval;

    /// <summary>
    /// The trust domain of the roots in <see cref="CaCertificateFile"/>, e.g. <c>cluster.local</c>. When
    /// <see langword="null"/>, the trust domain of the certificate's SPIFFE ID.
    /// </summary>
    public string? TrustDomain { get; set; }
}

/// <summary>Validates <see cref="FileWatcherIdentityOptions"/>, naming every problem.</summary>
internal sealed class FileWatcherIdentityOptionsValidator : IValidateOptions<FileWatcherIdentityOptions>
{
    private const string Section = "FileWatcherIdentity";

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, FileWatcherIdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        RequireFile(options.CertificateFile, nameof(options.CertificateFile), "the workload certificate chain, e.g. /var/run/secrets/workload-spiffe-credentials/certificates.pem", errors);
        RequireFile(options.PrivateKeyFile, nameof(options.PrivateKeyFile), "the certificate's private key, e.g. /var/run/secrets/workload-spiffe-credentials/private_key.pem", errors);
        RequireFile(options.CaCertificateFile, nameof(options.CaCertificateFile), "the trusted roots, e.g. /var/run/secrets/workload-spiffe-credentials/ca_certificates.pem", errors);
        if (options.RefreshInterval <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:RefreshInterval = {options.RefreshInterval.ToString("c", CultureInfo.InvariantCulture)}: must be a positive duration (gRPC's default is 00:10:00)");
        }

        if (options.TrustDomain is { } domain && !SpiffeId.TryParse(SpiffeId.Scheme + "://" + domain, out _, out var error))
        {
            errors.Add($"{Section}:TrustDomain = '{domain}': is not a SPIFFE trust domain ({error}); use e.g. cluster.local, or leave it unset to take the certificate's");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void RequireFile(string? path, string option, string what, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            errors.Add($"{Section}:{option}: is not set; set it to the PEM file with {what}");
        }
    }
}
