using System.Collections.Frozen;

namespace Mesh.Model;

/// <summary>One endpoint of a cluster, immutable. <see cref="State"/> is its runtime state, shared across snapshots.</summary>
public sealed class EndpointModel
{
    internal EndpointModel(Uri address, FrozenDictionary<string, string> labels, int weight, string? locality, EndpointHealth health, EndpointState state, EndpointWorkload? workload = null)
    {
        Address = address;
        Labels = labels;
        Weight = weight;
        Locality = locality;
        Health = health;
        State = state;
        Workload = workload;
        Key = address.GetLeftPart(UriPartial.Authority);
        Host = address.IdnHost;
        Port = address.Port;
    }

    /// <summary>The endpoint's base address, e.g. <c>http://127.0.0.1:5001/</c>.</summary>
    public Uri Address { get; }

    /// <summary>Scheme, host and port without a trailing slash (<c>http://127.0.0.1:5001</c>); identifies the endpoint.</summary>
    public string Key { get; }

    /// <summary>The host part of <see cref="Address"/>.</summary>
    public string Host { get; }

    /// <summary>The port of <see cref="Address"/>.</summary>
    public int Port { get; }

    /// <summary>The endpoint's labels.</summary>
    public FrozenDictionary<string, string> Labels { get; }

    /// <summary>Relative weight, at least 1.</summary>
    public int Weight { get; }

    /// <summary>Locality (<c>region/zone/subzone</c>), if known.</summary>
    public string? Locality { get; }

    /// <summary>Health as reported by the source.</summary>
    public EndpointHealth Health { get; }

    /// <summary>Whether the endpoint takes traffic (healthy or unknown).</summary>
    public bool IsUsable => Health is EndpointHealth.Healthy or EndpointHealth.Unknown;

    /// <summary>The workload that serves the endpoint, if its source said (Istio's <c>istio.workload</c> metadata, or configuration).</summary>
    public EndpointWorkload? Workload { get; }

    /// <summary>Runtime state: in-flight requests and latency, surviving config updates.</summary>
    public EndpointState State { get; }

    /// <inheritdoc />
    public override string ToString() => Key;
}
