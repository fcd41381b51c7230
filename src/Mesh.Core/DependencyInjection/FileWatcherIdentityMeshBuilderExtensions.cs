using Mesh.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Gives the workload its identity from certificate files.</summary>
public static class FileWatcherIdentityMeshBuilderExtensions
{
    /// <summary>
    /// Reads the workload's certificate, key and trusted roots from PEM files and re-reads them every
    /// <see cref="FileWatcherIdentityOptions.RefreshInterval"/> (gRPC's <c>file_watcher</c> provider). Registers the
    /// singleton <see cref="IWorkloadIdentityProvider"/>; options are validated when the host starts.
    /// </summary>
    /// <exception cref="InvalidOperationException">A workload identity provider is already registered.</exception>
    /// <example><code>
    /// services.AddMesh(configuration).AddFileWatcherIdentity(o =>
    /// {
    ///     o.CertificateFile = "/etc/mesh/certs/cert-chain.pem";
    ///     o.PrivateKeyFile = "/etc/mesh/certs/key.pem";
    ///     o.CaCertificateFile = "/etc/mesh/certs/root-cert.pem";
    /// });
    /// </code></example>
    public static IMeshBuilder AddFileWatcherIdentity(this IMeshBuilder builder, Action<FileWatcherIdentityOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
        WorkloadIdentityRegistration.Add(services, nameof(AddFileWatcherIdentity), static sp => new FileWatcherIdentityProvider(
            sp.GetRequiredService<IOptions<FileWatcherIdentityOptions>>().Value,
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            (sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger<FileWatcherIdentityProvider>()));
        services.AddOptionsWithValidateOnStart<FileWatcherIdentityOptions>().Configure(configure);
        services.AddSingleton<IValidateOptions<FileWatcherIdentityOptions>, FileWatcherIdentityOptionsValidator>();
        return builder;
    }
}
