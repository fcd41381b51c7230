using Mesh.AspNetCore;
using Mesh.AspNetCore.Authentication;
using Mesh.AspNetCore.Authorization;
using Mesh.Authorization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the server side of the mesh: mTLS mode, peer identity and authorization policies.</summary>
public static class MeshServerServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="MeshServerOptions"/> (bound from the <c>Mesh:Server</c> section of the application's
    /// <see cref="IConfiguration"/> when there is one, then <paramref name="configure"/>), the
    /// <see cref="IServerPolicySource"/> built from them, and the <c>Mesh</c> authentication scheme. Serve mTLS
    /// with <c>ListenOptions.UseMeshTls()</c> and enforce policies with <c>app.UseMeshAuthorization()</c>; a workload
    /// identity provider must be registered too.
    /// </summary>
    /// <example><code>
    /// builder.Services.AddMeshServer(o =>
    /// {
    ///     o.PeerAuthentication = PeerAuthenticationMode.Strict;
    ///     o.AuthorizationPolicies.Add(new() { Name = "deny-admin", Action = AuthorizationAction.Deny, Rules = [new() { To = [new() { Paths = ["/admin/*"] }] }] });
    /// });
    /// builder.WebHost.ConfigureKestrel(k => k.ListenAnyIP(5001, l => l.UseMeshTls()));
    /// </code></example>
    public static IServiceCollection AddMeshServer(this IServiceCollection services, Action<MeshServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddCore(services, MeshServerOptions.SectionName, static sp => sp.GetService<IConfiguration>()?.GetSection(MeshServerOptions.SectionName));
        if (configure is not null)
        {
            services.Configure(configure);
        }

        return services;
    }

    /// <summary>
    /// As <see cref="AddMeshServer(IServiceCollection, Action{MeshServerOptions}?)"/>, bound from
    /// <paramref name="section"/> (reloaded when it changes) instead of <c>Mesh:Server</c>.
    /// </summary>
    public static IServiceCollection AddMeshServer(this IServiceCollection services, IConfigurationSection section, Action<MeshServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        AddCore(services, section.Path, _ => section);
        if (configure is not null)
        {
            services.Configure(configure);
        }

        return services;
    }

    private static void AddCore(IServiceCollection services, string path, Func<IServiceProvider, IConfiguration?> section)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(MeshServerConfigurationPath))
            {
                throw new InvalidOperationException("AddMeshServer was already called; call it once, with all server options.");
            }
        }

        services.AddOptions();
        services.AddLogging();
        services.AddSingleton(new MeshServerConfigurationPath(path));
        services.AddSingleton<IConfigureOptions<MeshServerOptions>>(sp => new ConfigureFromSection(section(sp)));
        services.AddSingleton<IOptionsChangeTokenSource<MeshServerOptions>>(sp => new SectionChangeTokenSource(section(sp)));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IServerPolicySource, OptionsServerPolicySource>();
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, MeshAuthenticationHandler>(MeshAuthenticationDefaults.AuthenticationScheme, displayName: "Mesh mTLS peer", configureOptions: null);
    }

    private sealed class ConfigureFromSection(IConfiguration? section) : IConfigureOptions<MeshServerOptions>
    {
        public void Configure(MeshServerOptions options) => section?.Bind(options);
    }

    private sealed class SectionChangeTokenSource(IConfiguration? section) : IOptionsChangeTokenSource<MeshServerOptions>
    {
        public string Name => Options.Options.DefaultName;

        public IChangeToken GetChangeToken() => section?.GetReloadToken() ?? new CancellationChangeToken(CancellationToken.None);
    }
}
