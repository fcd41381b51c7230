using System.Collections.Frozen;
using System.Runtime.CompilerServices;
using System.Text;
using Mesh.Model;

namespace Mesh.Http.Security;

/// <summary>
/// Keeps connections checked for one cluster's TLS settings away from another cluster's requests. SocketsHttpHandler pools
/// connections by scheme, host, port and SNI, and checks a server only when a connection is opened; two clusters that reach
/// the same endpoint with different settings (other expected server names, or TLS and mutual TLS) would otherwise share
/// connections. Such clusters, unless they set <c>Tls:Sni</c> themselves, get an SNI of their own, which separates their
/// pools: Istio's <c>outbound_.&lt;port&gt;_.&lt;subset&gt;_.&lt;host&gt;</c> spelled as a host name
/// (<c>outbound-&lt;port&gt;.&lt;subset&gt;.&lt;host&gt;</c>), because SocketsHttpHandler sends the SNI as the <c>Host</c> header
/// too, where an underscore is not allowed. Worked out once per snapshot.
/// </summary>
internal sealed class ClientTlsSni
{
    private static readonly ConditionalWeakTable<MeshSnapshot, ClientTlsSni> Plans = [];

    private readonly FrozenDictionary<ClusterModel, string> _suffixes;

    private ClientTlsSni(FrozenDictionary<ClusterModel, string> suffixes) => _suffixes = suffixes;

    /// <summary>The end of the cluster's own SNI after <c>outbound-&lt;port&gt;</c>, or <see langword="null"/> when it needs none.</summary>
    public static string? GetSuffix(MeshSnapshot snapshot, ClusterModel cluster)
    {
        if (!Plans.TryGetValue(snapshot, out var plan))
        {
            plan = Plans.GetValue(snapshot, Build);
        }

        return plan._suffixes.GetValueOrDefault(cluster);
    }

    /// <summary>The SNI of a cluster that needs its own, for one endpoint port.</summary>
    public static string Create(int port, string suffix) =>
        string.Concat("outbound-", port.ToString(System.Globalization.CultureInfo.InvariantCulture), suffix);

    private static ClientTlsSni Build(MeshSnapshot snapshot)
    {
        var byEndpoint = new Dictionary<string, List<ClusterModel>>(StringComparer.OrdinalIgnoreCase);
        foreach (var cluster in snapshot.Clusters.Values)
        {
            if (cluster.Tls is null)
            {
                continue;
            }

            foreach (var endpoint in cluster.Endpoints)
            {
                var key = $"{endpoint.Host}:{endpoint.Port}";
                if (!byEndpoint.TryGetValue(key, out var clusters))
                {
                    byEndpoint[key] = clusters = [];
                }

                clusters.Add(cluster);
            }
        }

        var suffixes = new Dictionary<ClusterModel, string>(ReferenceEqualityComparer.Instance);
        foreach (var clusters in byEndpoint.Values)
        {
            var first = clusters[0].Tls!;
            var conflict = false;
            foreach (var cluster in clusters)
            {
                conflict |= !first.Equals(cluster.Tls);
            }

            if (!conflict)
            {
                continue;
            }

            foreach (var cluster in clusters)
            {
                if (cluster.Tls!.Sni is null)
                {
                    suffixes[cluster] = Suffix(cluster.Name);
                }
            }
        }

        return new ClientTlsSni(suffixes.ToFrozenDictionary(ReferenceEqualityComparer.Instance));
    }

    /// <summary><c>.&lt;subset&gt;.&lt;host&gt;</c> from <c>outbound|port|subset|host</c> (xDS) or <c>service/subset</c> names.</summary>
    private static string Suffix(string clusterName)
    {
        string subset, host;
        var parts = clusterName.Split('|');
        if (parts.Length == 4)
        {
            (subset, host) = (parts[2], parts[3]);
        }
        else
        {
            var slash = clusterName.IndexOf('/', StringComparison.Ordinal);
            (subset, host) = slash < 0 ? (string.Empty, clusterName) : (clusterName[(slash + 1)..], clusterName[..slash]);
        }

        return subset.Length == 0 ? string.Concat(".", Sanitize(host)) : string.Concat(".", Sanitize(subset), ".", Sanitize(host));
    }

    private static string Sanitize(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? char.ToLowerInvariant(c) : '-');
        }

        return builder.ToString();
    }
}
