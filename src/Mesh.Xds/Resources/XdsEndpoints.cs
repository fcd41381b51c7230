using System.Collections.Immutable;
using Mesh.Model;

namespace Mesh.Xds.Resources;

/// <summary>
/// A validated <c>ClusterLoadAssignment</c>: priorities from 0 without gaps, each with its weighted localities.
/// Endpoints that are neither HEALTHY nor UNKNOWN are left out (gRFC A27), and so are localities without a weight.
/// </summary>
/// <param name="Name">The resource name (<c>cluster_name</c>).</param>
/// <param name="Priorities">Index = priority; 0 is the most preferred.</param>
internal sealed record XdsEndpoints(string Name, ImmutableArray<XdsPriority> Priorities)
{
    /// <summary>The number of endpoints over all priorities.</summary>
    public int Count
    {
        get
        {
            var count = 0;
            foreach (var priority in Priorities)
            {
                foreach (var locality in priority.Localities)
                {
                    count += locality.Endpoints.Length;
                }
            }

            return count;
        }
    }
}

/// <summary>The localities of one priority.</summary>
internal sealed record XdsPriority(ImmutableArray<XdsLocality> Localities)
{
    /// <summary>Whether any locality of the priority has an endpoint.</summary>
    public bool HasEndpoints
    {
        get
        {
            foreach (var locality in Localities)
            {
                if (!locality.Endpoints.IsEmpty)
                {
                    return true;
                }
            }

            return false;
        }
    }
}

/// <summary>A locality and its endpoints.</summary>
/// <param name="Region">The region.</param>
/// <param name="Zone">The zone.</param>
/// <param name="SubZone">The sub-zone.</param>
/// <param name="Weight">The locality's <c>load_balancing_weight</c>, at least 1.</param>
/// <param name="Endpoints">The endpoints that take traffic.</param>
internal sealed record XdsLocality(string Region, string Zone, string SubZone, uint Weight, ImmutableArray<XdsEndpoint> Endpoints)
{
    /// <summary>The locality in the mesh's notation, <c>region/zone/sub_zone</c> without trailing empty parts.</summary>
    public string Name => (Region, Zone, SubZone) switch
    {
        (_, "", "") => Region,
        (_, _, "") => $"{Region}/{Zone}",
        _ => $"{Region}/{Zone}/{SubZone}",
    };
}

/// <summary>One endpoint.</summary>
/// <param name="Host">An IP address (IPv6 without brackets), or a host name for LOGICAL_DNS clusters.</param>
/// <param name="Port">The port, 1 to 65535.</param>
/// <param name="Weight">The endpoint's <c>load_balancing_weight</c>, at least 1 (1 when unset).</param>
/// <param name="Health">Healthy or Unknown.</param>
internal sealed record XdsEndpoint(string Host, int Port, uint Weight, EndpointHealth Health)
{
    /// <summary>Istio's workload metadata of the endpoint, or <see langword="null"/>.</summary>
    public EndpointWorkload? Workload { get; init; }

    /// <summary>The endpoint as an absolute URI of the mesh's model, e.g. <c>http://10.0.0.1:8080</c> or <c>http://[fd00::1]:8080</c>.</summary>
    public string Address => Host.Contains(':', StringComparison.Ordinal) ? $"http://[{Host}]:{Port}" : $"http://{Host}:{Port}";
}
