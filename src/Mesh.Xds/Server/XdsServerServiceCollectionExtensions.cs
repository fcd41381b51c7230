using Mesh.Xds.Server;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the xDS server engine.</summary>
public static class XdsServerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the xDS server engine: <see cref="XdsSnapshotCache"/> as a singleton, which <see cref="XdsAdsService"/>
    /// serves. Also call <c>services.AddGrpc()</c>, and map the service with <c>app.MapGrpcService&lt;XdsAdsService&gt;()</c>.
    /// </summary>
    /// <example><code>
    /// builder.Services.AddGrpc();
    /// builder.Services.AddXdsServer(o => o.NodeHash = XdsNodeHash.Constant("mesh"));
    /// var app = builder.Build();
    /// app.MapGrpcService&lt;XdsAdsService&gt;();
    /// app.Services.GetRequiredService&lt;XdsSnapshotCache&gt;().SetSnapshot("mesh", snapshot);
    /// </code></example>
    public static IServiceCollection AddXdsServer(this IServiceCollection services, Action<XdsServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(static sp => new XdsSnapshotCache(
            sp.GetRequiredService<IOptions<XdsServerOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILoggerFactory>()));
        return services;
    }
}
