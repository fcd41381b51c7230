using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Identity;

/// <summary>Registers the one <see cref="IWorkloadIdentityProvider"/> of an application.</summary>
internal static class WorkloadIdentityRegistration
{
    /// <summary>
    /// Registers <typeparamref name="TProvider"/> as the singleton <see cref="IWorkloadIdentityProvider"/>, started by
    /// the host; throws when a provider is already registered, since a workload has one identity.
    /// </summary>
    public static void Add<TProvider>(IServiceCollection services, string method, Func<IServiceProvider, TProvider> factory)
        where TProvider : class, IWorkloadIdentityProvider, IHostedService
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(IWorkloadIdentityProvider))
            {
                var existing = FindMarker(services)
                    ?? descriptor.ImplementationType?.Name
                    ?? descriptor.ImplementationInstance?.GetType().Name
                    ?? (descriptor.IsKeyedService ? "a keyed registration" : "a factory registration");
                throw new InvalidOperationException(
                    $"{method}: a workload identity provider is already registered ({existing}); a workload has one identity, so call AddWorkloadIdentity or AddFileWatcherIdentity once.");
            }
        }

        services.AddSingleton(new Marker($"{typeof(TProvider).Name} by {method}"));
        services.AddSingleton(factory);
        services.AddSingleton<IWorkloadIdentityProvider>(static sp => sp.GetRequiredService<TProvider>());
        services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<TProvider>());
    }

    private static string? FindMarker(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(Marker) && descriptor.ImplementationInstance is Marker marker)
            {
                return marker.Registration;
            }
        }

        return null;
    }

    /// <summary>Names the registered provider in the error of a second registration.</summary>
    private sealed record Marker(string Registration);
}
