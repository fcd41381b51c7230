namespace Mesh.Xds.Client;

/// <summary>
/// One instance of the bootstrap's <c>certificate_providers</c> map (gRFC A29): a name that CDS and LDS resources
/// refer to in <c>CertificateProviderPluginInstance.instance_name</c>, and the plugin configuration behind it. Only
/// the <c>file_watcher</c> plugin is known; its files are PEM.
/// </summary>
/// <example>
/// <code>
/// "certificate_providers": {
///   "default": { "plugin_name": "file_watcher", "config": {
///     "certificate_file": "/var/lib/istio/data/cert-chain.pem", "private_key_file": "/var/lib/istio/data/key.pem",
///     "ca_certificate_file": "/var/lib/istio/data/root-cert.pem", "refresh_interval": "900s" } }
/// }
/// </code>
/// </example>
/// <param name="Name">The instance name, e.g. <c>default</c>.</param>
/// <param name="PluginName">The plugin, <see cref="FileWatcherPlugin"/>.</param>
/// <param name="CertificateFile">The PEM certificate chain of the workload, or <see langword="null"/> when the instance only provides roots.</param>
/// <param name="PrivateKeyFile">The PEM private key of <paramref name="CertificateFile"/>; set exactly when it is.</param>
/// <param name="CaCertificateFile">The PEM trust bundle, or <see langword="null"/> when the instance only provides an identity.</param>
/// <param name="RefreshInterval">How often the files are re-read; gRPC's default is 10 minutes.</param>
internal sealed record XdsBootstrapCertificateProvider(
    string Name,
    string PluginName,
    string? CertificateFile,
    string? PrivateKeyFile,
    string? CaCertificateFile,
    TimeSpan RefreshInterval)
{
    /// <summary>The plugin that reads a certificate, key and trust bundle from files and re-reads them periodically.</summary>
    public const string FileWatcherPlugin = "file_watcher";

    /// <summary>gRPC's default <c>refresh_interval</c>: 600 s.</summary>
    public static readonly TimeSpan DefaultRefreshInterval = TimeSpan.FromMinutes(10);

    /// <summary>Whether the instance provides the workload's certificate (usable as <c>tls_certificate_provider_instance</c>).</summary>
    public bool ProvidesIdentity => CertificateFile is not null;

    /// <summary>Whether the instance provides a trust bundle (usable as <c>ca_certificate_provider_instance</c>).</summary>
    public bool ProvidesRoots => CaCertificateFile is not null;
}
