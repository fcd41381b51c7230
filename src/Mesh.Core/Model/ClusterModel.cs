using System.Collections.Immutable;
using Mesh.LoadBalancing;
using Mesh.Routing;

namespace Mesh.Model;

/// <summary>
/// A set of interchangeable endpoints and the policy that picks among them (a service's endpoints, or
/// one of its subsets). Immutable: its picker was built for exactly these endpoints.
/// </summary>
public sealed class ClusterModel
{
    internal ClusterModel(string name, ImmutableArray<EndpointModel> endpoints, string policyName, EndpointPicker picker, RequestHashPolicy? hashPolicy)
    {
        Name = name;
        Endpoints = endpoints;
        PolicyName = policyName;
        Picker = picker;
        HashPolicy = hashPolicy;
        var usable = 0;
        foreach (var endpoint in endpoints)
        {
            usable += endpoint.IsUsable ? 1 : 0;
        }

        UsableCount = usable;
    }

    /// <summary>The cluster name, e.g. <c>backend</c> or <c>backend/v1</c>.</summary>
    public string Name { get; }

    /// <summary>All endpoints, usable or not.</summary>
    public ImmutableArray<EndpointModel> Endpoints { get; }

    /// <summary>How many endpoints take traffic.</summary>
    public int UsableCount { get; }

    /// <summary>The load-balancing policy's name.</summary>
    public string PolicyName { get; }

    internal EndpointPicker Picker { get; }

    internal RequestHashPolicy? HashPolicy { get; }

    /// <summary>Picks an endpoint for a request, or returns <see langword="null"/> when none is usable.</summary>
    public EndpointModel? Pick<TRequest>(ref TRequest request)
        where TRequest : IMeshRequest, allows ref struct
    {
        var context = HashPolicy is null ? default : new PickContext(HashPolicy.ComputeHash(ref request));
        return Picker.Pick(in context);
    }

    /// <summary>Explains why no endpoint can be picked, for error messages.</summary>
    internal string DescribeUnavailability()
    {
        if (Endpoints.IsEmpty)
        {
            return $"cluster '{Name}' has no endpoints";
        }

        var counts = new SortedDictionary<EndpointHealth, int>();
        foreach (var endpoint in Endpoints)
        {
            counts[endpoint.Health] = counts.GetValueOrDefault(endpoint.Health) + 1;
        }

        return $"cluster '{Name}' has {Endpoints.Length} endpoint(s), none usable ({string.Join(", ", counts.Select(c => $"{c.Value} {c.Key.ToString().ToLowerInvariant()}"))})";
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({UsableCount}/{Endpoints.Length} usable, {PolicyName})";
}
