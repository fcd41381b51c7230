using Mesh.Identity;
using Mesh.Model;
using Microsoft.Extensions.Logging;

namespace Mesh.Http.Security;

/// <summary>
/// The TLS connections a primary handler opened, with the settings each was checked with. SocketsHttpHandler checks a
/// server only when a connection opens; when a new snapshot changes a cluster's TLS settings (or drops the cluster), the
/// connections made for the old settings close, so no later request rides on a connection the new settings would refuse.
/// </summary>
internal sealed class ClientTlsConnectionTracker
{
    private readonly List<(WeakReference<Stream> Stream, ClientTlsConnection Connection)> _connections = [];

    /// <summary>
    /// Subscribes <paramref name="tracker"/> to new snapshots without keeping it alive: handlers come and go with
    /// HttpClientFactory's rotation, and the subscription ends at the first snapshot after its handler is gone.
    /// </summary>
    public static void Follow(MeshState state, ClientTlsConnectionTracker tracker, ILogger logger)
    {
        var weak = new WeakReference<ClientTlsConnectionTracker>(tracker);
        Action<MeshSnapshot>? onChanged = null;
        onChanged = snapshot =>
        {
            if (weak.TryGetTarget(out var target))
            {
                target.CloseStale(snapshot, logger);
            }
            else
            {
                state.SnapshotChanged -= onChanged;
            }
        };
        state.SnapshotChanged += onChanged;
    }

    public void Add(Stream stream, ClientTlsConnection connection)
    {
        lock (_connections)
        {
            _connections.RemoveAll(static c => !c.Stream.TryGetTarget(out _));
            _connections.Add((new WeakReference<Stream>(stream), connection));
        }
    }

    private void CloseStale(MeshSnapshot snapshot, ILogger logger)
    {
        List<(Stream Stream, ClientTlsConnection Connection)> closing = [];
        lock (_connections)
        {
            for (var i = _connections.Count - 1; i >= 0; i--)
            {
                var (reference, connection) = _connections[i];
                if (!reference.TryGetTarget(out var stream))
                {
                    _connections.RemoveAt(i);
                }
                else if (!snapshot.TryGetCluster(connection.Cluster, out var cluster) || !Equals(cluster.Tls, connection.Policy))
                {
                    _connections.RemoveAt(i);
                    closing.Add((stream, connection));
                }
            }
        }

        foreach (var (stream, connection) in closing)
        {
            ClientTlsHandlerSetup.Log.ConnectionClosed(logger, connection.Cluster, snapshot.Version, connection.Endpoint);
            stream.Dispose();
        }
    }
}
