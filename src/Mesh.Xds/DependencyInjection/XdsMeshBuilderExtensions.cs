using Mesh;
using Mesh.Configuration;
using Mesh.Xds;
using Mesh.Xds.Client;
using Mesh.Xds.Resources;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures the mesh from an xDS server.</summary>
public static class XdsMeshBuilderExtensions
{
    /// <summary>
    /// Configures the mesh from the xDS server of the gRPC bootstrap (<see cref="XdsOptions.Bootstrap"/>, else
    /// <c>GRPC_XDS_BOOTSTRAP</c> / <c>GRPC_XDS_BOOTSTRAP_CONFIG</c>), following the listeners of
    /// <see cref="XdsOptions.Targets"/>. The host's start waits up to <see cref="XdsOptions.StartupTimeout"/> for the
    /// first complete configuration.
    /// </summary>
    /// <example><code>services.AddMesh().AddXds(o => o.Targets.Add("backend.shop.svc.cluster.local:8080"));</code></example>
    public static IMeshBuilder AddXds(this IMeshBuilder builder, Action<XdsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<XdsOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<XdsOptions>, XdsOptionsValidator>());
        services.TryAddSingleton(static sp =>
        {
            var xds = sp.GetRequiredService<IOptions<XdsOptions>>().Value;
            var loggers = sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            var bootstrap = XdsBootstrap.Load(xds.Bootstrap, logger: loggers.CreateLogger<XdsBootstrap>());
            return new XdsClient(
                bootstrap,
                XdsResourceTypes.Create(bootstrap, xds.CertificateProviderInstances),
                sp.GetService<TimeProvider>() ?? TimeProvider.System,
                loggers,
                new XdsClientOptions { ResourceDoesNotExistTimeout = xds.ResourceDoesNotExistTimeout });
        });
        services.TryAddSingleton(static sp =>
        {
            var xds = sp.GetRequiredService<IOptions<XdsOptions>>().Value;
            var client = sp.GetRequiredService<XdsClient>();
            var loggers = sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            return new XdsConfigSource(
                client,
                XdsOptionsValidator.ParseTargets(xds, []),
                $"xDS server {client.Server.ServerUri}",
                loggers.CreateLogger<XdsConfigSource>());
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IMeshConfigSource, XdsConfigSource>(static sp => sp.GetRequiredService<XdsConfigSource>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, XdsStartupWaiter>());
        return builder;
    }
}

/// <summary>Holds the host's start until the first complete xDS configuration is applied, or <see cref="XdsOptions.StartupTimeout"/> passes.</summary>
internal sealed class XdsStartupWaiter(IServiceProvider services, XdsConfigSource source, IOptions<XdsOptions> options, TimeProvider? time = null) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Creating the state starts its sources, this one included.
        _ = services.GetRequiredService<MeshState>();
        var timeout = options.Value.StartupTimeout;
        if (timeout > TimeSpan.Zero)
        {
            await source.WaitForFirstConfigurationAsync(timeout, time ?? TimeProvider.System, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
