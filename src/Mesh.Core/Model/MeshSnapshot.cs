using System.Collections.Frozen;

namespace Mesh.Model;

/// <summary>
/// The whole mesh at one instant: services by host, and clusters by name. Immutable and validated;
/// a new one replaces it atomically on every config change, so a request sees one consistent view.
/// </summary>
public sealed class MeshSnapshot
{
    private readonly FrozenDictionary<string, ServiceModel> _servicesByHost;
    private readonly FrozenDictionary<string, ServiceModel>.AlternateLookup<ReadOnlySpan<char>> _hostLookup;

    internal MeshSnapshot(long version, string source, IReadOnlyDictionary<string, ServiceModel> servicesByHost, IReadOnlyDictionary<string, ClusterModel> clusters)
    {
        Version = version;
        Source = source;
        _servicesByHost = servicesByHost.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _hostLookup = _servicesByHost.GetAlternateLookup<ReadOnlySpan<char>>();
        Clusters = clusters.ToFrozenDictionary(StringComparer.Ordinal);
        Services = _servicesByHost.Values.Distinct().OrderBy(s => s.Name, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The empty mesh, before any configuration arrives.</summary>
    public static MeshSnapshot Empty { get; } = new(0, "none", new Dictionary<string, ServiceModel>(), new Dictionary<string, ClusterModel>());

    /// <summary>Increases by one with every published snapshot.</summary>
    public long Version { get; }

    /// <summary>Where the configuration came from, e.g. <c>configuration section 'Mesh'</c>.</summary>
    public string Source { get; }

    /// <summary>Every service, ordered by name.</summary>
    public IReadOnlyList<ServiceModel> Services { get; }

    /// <summary>Every cluster by name.</summary>
    public FrozenDictionary<string, ClusterModel> Clusters { get; }

    /// <summary>Finds the service for a host name (case-insensitive), without allocating.</summary>
    public bool TryGetService(ReadOnlySpan<char> host, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ServiceModel? service) =>
        _hostLookup.TryGetValue(host, out service);

    /// <summary>Finds a cluster by name.</summary>
    public bool TryGetCluster(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClusterModel? cluster) =>
        Clusters.TryGetValue(name, out cluster);

    /// <inheritdoc />
    public override string ToString() => $"v{Version} from {Source}: {Services.Count} service(s), {Clusters.Count} cluster(s)";
}
