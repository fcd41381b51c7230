using Mesh;
using Mesh.Identity;
using Mesh.Xds;
using Mesh.Xds.Client;
using Mesh.Xds.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Gives the workload its identity from the control plane's CA.</summary>
public static class WorkloadIdentityMeshBuilderExtensions
{
    /// <summary>The certificate provider instance name the CA-issued identity answers to in CDS.</summary>
    public const string DefaultCertificateProviderInstance = "default";

    /// <summary>
    /// Obtains the workload's X509-SVID from the control plane's CA (Istio's <c>IstioCertificateService</c>; by default
    /// the xDS server of the bootstrap) and renews it at half its lifetime, a new key each time. Registers the
    /// singleton <see cref="IWorkloadIdentityProvider"/>, started with the host; options are validated when the host starts.
    /// The identity is the xDS certificate provider instance <c>default</c> (the name Istio's control planes put in
    /// <c>UpstreamTlsContext</c>), added to <see cref="XdsOptions.CertificateProviderInstances"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A workload identity provider is already registered.</exception>
    /// <example><code>
    /// services.AddMesh().AddXds(o => o.Targets.Add("backend.shop.svc.cluster.local:8080"))
    ///     .AddWorkloadIdentity(o => o.RootCertificateFile = "/var/run/secrets/istio/root-cert.pem");
    /// </code></example>
    public static IMeshBuilder AddWorkloadIdentity(this IMeshBuilder builder, Action<WorkloadIdentityOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        WorkloadIdentityRegistration.Add(services, nameof(AddWorkloadIdentity), static sp =>
        {
            var options = sp.GetRequiredService<IOptions<WorkloadIdentityOptions>>().Value;
            var loggers = sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            // Without a root file, the roots the bootstrap trusts for the control plane are the mesh's roots.
            var roots = options.RootCertificateFile is { } file
                ? WorkloadIdentityOptionsValidator.ReadRoots(file, out var error) ?? throw new InvalidOperationException($"WorkloadIdentity:RootCertificateFile = '{file}': {error}")
                : options.CaAddress is null ? BootstrapServer(sp, options, loggers).RootCertificatesPem : null;
            return new RotatingIdentityProvider(
                sp.GetRequiredService<CaCertificateSigner>(),
                new RotatingIdentityProviderOptions
                {
                    RequestedTtl = options.CertificateTtl,
                    TrustDomain = options.TrustDomain,
                    TrustedRootsPem = roots,
                    ExpectedSpiffeId = options.ExpectedSpiffeId,
                },
                sp.GetService<TimeProvider>() ?? TimeProvider.System,
                sp.GetService<MeshRandom>()?.Random ?? Random.Shared,
                loggers.CreateLogger<RotatingIdentityProvider>());
        });
        services.AddSingleton(static sp =>
        {
            var options = sp.GetRequiredService<IOptions<WorkloadIdentityOptions>>().Value;
            var loggers = sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            var roots = options.RootCertificateFile is { } file ? WorkloadIdentityOptionsValidator.ReadRoots(file, out _) : null;
            Uri address;
            if (options.CaAddress is { } configured)
            {
                if (!WorkloadIdentityOptionsValidator.TryParseAddress(configured, out address))
                {
                    throw new InvalidOperationException($"WorkloadIdentity:CaAddress = '{configured}': must be an absolute http:// or https:// URI, e.g. https://istiod.istio-system.svc:15012");
                }
            }
            else
            {
                // The CA is served next to xDS by default, as istiod serves both on one port, and is trusted as xDS is.
                var server = BootstrapServer(sp, options, loggers);
                address = server.Address;
                roots ??= server.RootCertificatesPem;
            }

            return CaCertificateSigner.Create(address, options, roots, loggers);
        });
        services.Configure<XdsOptions>(static o =>
        {
            if (!o.CertificateProviderInstances.Contains(DefaultCertificateProviderInstance))
            {
                o.CertificateProviderInstances.Add(DefaultCertificateProviderInstance);
            }
        });
        var optionsBuilder = services.AddOptionsWithValidateOnStart<WorkloadIdentityOptions>();
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        services.AddSingleton<IValidateOptions<WorkloadIdentityOptions>, WorkloadIdentityOptionsValidator>();
        return builder;
    }

    /// <summary>The first xDS server of the identity's bootstrap (its own, or the xDS client's).</summary>
    private static XdsServerConfig BootstrapServer(IServiceProvider services, WorkloadIdentityOptions options, ILoggerFactory loggers) =>
        XdsBootstrap.Load(options.Bootstrap ?? services.GetService<IOptions<XdsOptions>>()?.Value.Bootstrap, logger: loggers.CreateLogger<XdsBootstrap>()).Servers[0];
}
