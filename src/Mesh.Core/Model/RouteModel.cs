using System.Collections.Immutable;
using Mesh.Resilience;
using Mesh.Routing;

namespace Mesh.Model;

/// <summary>A route: conditions and weighted destination clusters. Immutable.</summary>
public sealed class RouteModel
{
    private readonly ImmutableArray<RouteMatch> _matches;
    private readonly ClusterModel[] _clusters;
    private readonly long[] _cumulativeWeights;
    private readonly Random _random;

    internal RouteModel(string name, ImmutableArray<RouteMatch> matches, ImmutableArray<(ClusterModel Cluster, int Weight)> destinations, Random random, RoutePolicy? policy = null, RateLimiterState? rateLimiter = null)
    {
        Name = name;
        Policy = policy ?? RoutePolicy.None;
        RateLimiter = rateLimiter;
        _matches = matches;
        _random = random;
        Destinations = destinations;
        _clusters = new ClusterModel[destinations.Length];
        _cumulativeWeights = new long[destinations.Length];
        long total = 0;
        for (var i = 0; i < destinations.Length; i++)
        {
            total += destinations[i].Weight;
            _clusters[i] = destinations[i].Cluster;
            _cumulativeWeights[i] = total;
        }

        TotalWeight = total;
    }

    /// <summary>The route's name (configured, or <c>routes[i]</c>).</summary>
    public string Name { get; }

    /// <summary>The destination clusters and their relative weights.</summary>
    public ImmutableArray<(ClusterModel Cluster, int Weight)> Destinations { get; }

    /// <summary>Timeouts, retries, hedging and fault injection of the route.</summary>
    internal RoutePolicy Policy { get; }

    /// <summary>The route's local rate limit, if any.</summary>
    internal RateLimiterState? RateLimiter { get; }

    /// <summary>The sum of destination weights.</summary>
    public long TotalWeight { get; }

    /// <summary>Whether the route matches everything (it has no conditions).</summary>
    public bool IsCatchAll => _matches.IsEmpty;

    /// <summary>Whether any of the route's match conditions holds for the request.</summary>
    public bool Matches<TRequest>(ref TRequest request)
        where TRequest : IMeshRequest, allows ref struct
    {
        if (_matches.IsEmpty)
        {
            return true;
        }

        foreach (var match in _matches)
        {
            if (match.Matches(ref request))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Chooses a destination cluster by weight (uniform random draw over the total weight, as Envoy).</summary>
    public ClusterModel PickCluster()
    {
        if (_clusters.Length == 1)
        {
            return _clusters[0];
        }

        var draw = _random.NextInt64(TotalWeight);
        var weights = _cumulativeWeights;
        for (var i = 0; i < weights.Length; i++)
        {
            if (draw < weights[i])
            {
                return _clusters[i];
            }
        }

        return _clusters[^1];
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
