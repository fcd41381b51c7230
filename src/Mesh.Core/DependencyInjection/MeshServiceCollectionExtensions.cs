using Mesh;
using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the mesh.</summary>
public static class MeshServiceCollectionExtensions
{
    /// <summary>
    /// Adds the mesh configured from the <c>Mesh</c> section of <paramref name="configuration"/> (pass the
    /// configuration root, or a section to read that section itself), reloaded whenever it changes.
    /// </summary>
    /// <example><code>builder.Services.AddMesh(builder.Configuration);</code></example>
    public static IMeshBuilder AddMesh(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration as IConfigurationSection ?? configuration.GetSection("Mesh");
        var path = section.Path;
        services.AddSingleton<IOptionsChangeTokenSource<MeshOptions>>(new ConfigurationChangeTokenSource<MeshOptions>(Options.Options.DefaultName, section));
        services.AddSingleton<IConfigureOptions<MeshOptions>>(new ConfigureNamedOptions<MeshOptions>(Options.Options.DefaultName, o => MeshConfigurationReader.Read(section, o, path)));
        return AddStaticSource(services, $"configuration section '{path}'");
    }

    /// <summary>Adds the mesh configured in code.</summary>
    /// <example><code>
    /// services.AddMesh(o => o.Services["backend"] = new ServiceOptions { Endpoints = { new() { Address = "http://127.0.0.1:5001" } } });
    /// </code></example>
    public static IMeshBuilder AddMesh(this IServiceCollection services, Action<MeshOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.Configure(configure);
        return AddStaticSource(services, "code (AddMesh(Action<MeshOptions>))");
    }

    /// <summary>Adds the mesh's core services without a configuration source (another package, such as the xDS client, supplies one).</summary>
    public static IMeshBuilder AddMesh(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MeshTelemetry>(sp => new MeshTelemetry(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddEnumerable(
        [
            ServiceDescriptor.Singleton<LoadBalancingPolicy, RoundRobinPolicy>(),
            ServiceDescriptor.Singleton<LoadBalancingPolicy, RandomPolicy>(),
            ServiceDescriptor.Singleton<LoadBalancingPolicy, WeightedRoundRobinPolicy>(),
            ServiceDescriptor.Singleton<LoadBalancingPolicy, WeightedRandomPolicy>(),
            ServiceDescriptor.Singleton<LoadBalancingPolicy, LeastRequestPolicy>(),
            ServiceDescriptor.Singleton<LoadBalancingPolicy, RingHashPolicy>(),
            ServiceDescriptor.Singleton<LoadBalancingPolicy, MaglevPolicy>(),
        ]);
        services.TryAddSingleton(sp =>
        {
            // AddMesh may run before AddLogging: resolve the factory late and fall back to none rather than registering one.
            var loggers = sp.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
            var state = new MeshState(
                sp.GetServices<LoadBalancingPolicy>(),
                sp.GetService<MeshRandom>()?.Random ?? Random.Shared,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<MeshTelemetry>(),
                loggers,
                loggers.CreateLogger<MeshState>());
            foreach (var source in sp.GetServices<IMeshConfigSource>())
            {
                source.Start(state);
            }

            return state;
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MeshStartupValidator>());
        return new MeshBuilder(services);
    }

    private static IMeshBuilder AddStaticSource(IServiceCollection services, string description)
    {
        var builder = services.AddMesh();
        services.AddSingleton<IMeshConfigSource>(sp => new StaticConfigSource(sp.GetRequiredService<IOptionsMonitor<MeshOptions>>(), description));
        return builder;
    }
}

/// <summary>Further configuration of the mesh, extended by the other Mesh packages.</summary>
public interface IMeshBuilder
{
    /// <summary>The service collection the mesh is registered in.</summary>
    IServiceCollection Services { get; }
}

/// <summary>Extensions of <see cref="IMeshBuilder"/>.</summary>
public static class MeshBuilderExtensions
{
    /// <summary>Registers a custom load-balancing policy, selected by its <see cref="LoadBalancingPolicy.Name"/> in configuration.</summary>
    public static IMeshBuilder AddLoadBalancingPolicy<TPolicy>(this IMeshBuilder builder)
        where TPolicy : LoadBalancingPolicy
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<LoadBalancingPolicy, TPolicy>());
        return builder;
    }

    /// <summary>
    /// Records Istio's standard metrics (<c>istio_requests_total</c>, <c>istio_request_duration_milliseconds</c>) on the
    /// <c>Mesh.Istio</c> meter, so Istio's dashboards and Kiali see this workload's outbound requests.
    /// </summary>
    public static IMeshBuilder AddIstioMetrics(this IMeshBuilder builder, Action<Mesh.Telemetry.IstioMetricsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(sp =>
        {
            var options = new Mesh.Telemetry.IstioMetricsOptions();
            configure?.Invoke(options);
            return new Mesh.Telemetry.IstioMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), options, sp.GetService<Mesh.Identity.IWorkloadIdentityProvider>());
        });
        return builder;
    }
}

internal sealed class MeshBuilder(IServiceCollection services) : IMeshBuilder
{
    public IServiceCollection Services { get; } = services;
}

/// <summary>Overrides the mesh's random source (tests register a seeded one).</summary>
internal sealed class MeshRandom(Random random)
{
    public Random Random { get; } = random;
}

/// <summary>Builds the first snapshot when the host starts, so invalid configuration stops the app at startup with every error listed.</summary>
internal sealed class MeshStartupValidator(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<MeshState>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
