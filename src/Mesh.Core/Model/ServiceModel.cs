using System.Collections.Immutable;
using Mesh.Resilience;
using Mesh.Routing;

namespace Mesh.Model;

/// <summary>A logical service (what a client addresses by host name) and its ordered routes. Immutable.</summary>
public sealed class ServiceModel
{
    internal ServiceModel(string name, ImmutableArray<string> hosts, ImmutableArray<RouteModel> routes, RateLimiterState? rateLimiter = null)
    {
        RateLimiter = rateLimiter;
        Name = name;
        Hosts = hosts;
        Routes = routes;
    }

    /// <summary>The service name (its primary host).</summary>
    public string Name { get; }

    /// <summary>Every host name that resolves to the service, the primary first.</summary>
    public ImmutableArray<string> Hosts { get; }

    /// <summary>The service's local rate limit, if any.</summary>
    internal RateLimiterState? RateLimiter { get; }

    /// <summary>Routes in order; the first that matches wins.</summary>
    public ImmutableArray<RouteModel> Routes { get; }

    /// <summary>The first route that matches the request, or <see langword="null"/>.</summary>
    public RouteModel? SelectRoute<TRequest>(ref TRequest request)
        where TRequest : IMeshRequest, allows ref struct
    {
        foreach (var route in Routes)
        {
            if (route.Matches(ref request))
            {
                return route;
            }
        }

        return null;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
