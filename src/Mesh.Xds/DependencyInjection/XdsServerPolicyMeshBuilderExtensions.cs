using Mesh;
using Mesh.Authorization;
using Mesh.Xds;
using Mesh.Xds.Client;
using Mesh.Xds.ServerPolicies;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Takes the server's mTLS mode and authorization policies from the xDS server (gRFC A36, A41).</summary>
public static class XdsServerPolicyMeshBuilderExtensions
{
    /// <summary>
    /// Registers an <see cref="IServerPolicySource"/> that follows the server <c>Listener</c> of the workload's
    /// listening address on the xDS server of <c>AddXds</c>: its filter chains give the <see cref="PeerAuthenticationMode"/>
    /// and its RBAC filters the authorization policies. It replaces the options-based source of <c>AddMeshServer</c>,
    /// whichever is called first.
    /// </summary>
    /// <example><code>
    /// services.AddMesh().AddXds().AddXdsServerPolicy(o => o.ListeningAddress = "10.0.0.5:8080");
    /// services.AddMeshServer();
    /// </code></example>
    public static IMeshBuilder AddXdsServerPolicy(this IMeshBuilder builder, Action<XdsServerPolicyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<XdsServerPolicyOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton(static sp =>
        {
            var settings = sp.GetRequiredService<IOptions<XdsServerPolicyOptions>>().Value;
            var address = settings.ResolveListeningAddress(Environment.GetEnvironmentVariable, out var error)
                ?? throw new OptionsValidationException(nameof(XdsServerPolicyOptions), typeof(XdsServerPolicyOptions), [error!]);
            var client = sp.GetService<XdsClient>()
                ?? throw new InvalidOperationException("AddXdsServerPolicy needs the xDS client: call AddXds first.");
            var loggers = sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            return new XdsServerPolicySource(
                client,
                client.Bootstrap.ServerListenerResourceNameTemplate,
                address,
                settings.InitialPolicy ?? XdsServerPolicyOptions.NotServing,
                loggers.CreateLogger<XdsServerPolicySource>());
        });

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, XdsServerPolicyStartupWaiter>());
        services.Configure<XdsOptions>(static o => o.ServesOnly = true);

        // Replace, not TryAdd: the xDS source wins over AddMeshServer's options-based one in either call order.
        services.Replace(ServiceDescriptor.Singleton<IServerPolicySource>(static sp => sp.GetRequiredService<XdsServerPolicySource>()));
        return builder;
    }
}

/// <summary>
/// Starts the server policy source with the host and holds the start until the first server listener is applied, or
/// <see cref="XdsServerPolicyOptions.StartupTimeout"/> passes (gRFC A36: a server does not serve before its listener).
/// </summary>
internal sealed class XdsServerPolicyStartupWaiter(XdsServerPolicySource source, IOptions<XdsServerPolicyOptions> options, TimeProvider? time = null) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var timeout = options.Value.StartupTimeout;
        if (timeout > TimeSpan.Zero)
        {
            await source.WaitForFirstListenerAsync(timeout, time ?? TimeProvider.System, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
