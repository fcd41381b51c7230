using System.Diagnostics;
using System.Globalization;
using Mesh.Model;
using Mesh.Propagation.Serving;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Propagation.Clients;

/// <summary>
/// N mesh clients in this process, each wired as an application wires one (<c>AddMesh().AddXds(...)</c> in its own
/// service provider: its own <c>XdsClient</c> and ADS stream, <c>XdsConfigSource</c> and <c>MeshState</c>), each with
/// its own node id, all following the one target. A client has published a change when its <c>MeshState</c> raised
/// <c>SnapshotChanged</c> with a snapshot in which no cluster still holds the old address and one holds the new one.
/// (The routes use only the subsets, so a client follows the v1 and v2 clusters, not the all-endpoints one.)
/// </summary>
internal sealed class ClientFleet : IAsyncDisposable
{
    private const string ClusterPrefix = "outbound|8080|";

    private readonly List<Client> _clients = [];
    private Expectation? _expected;
    private int _done;
    private TaskCompletionSource _allDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _publications;

    public int Count => _clients.Count;

    /// <summary>Snapshots published by all clients since the fleet started (initial ones included).</summary>
    public long Publications => Interlocked.Read(ref _publications);

    /// <summary>Starts <paramref name="count"/> clients, <paramref name="batch"/> at a time, each batch until every client has its first complete configuration.</summary>
    public static async Task<ClientFleet> StartAsync(int xdsPort, int count, int endpoints, int batch, TextWriter log, CancellationToken cancellationToken)
    {
        var fleet = new ClientFleet();
        var clock = Stopwatch.StartNew();
        try
        {
            for (var first = 0; first < count; first += batch)
            {
                var started = new List<Client>();
                for (var i = first; i < Math.Min(count, first + batch); i++)
                {
                    var client = fleet.Create(xdsPort, i);
                    fleet._clients.Add(client);
                    started.Add(client);
                }

                var deadline = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 60);
                while (!started.All(c => HasConfiguration(c.State.Current, endpoints)))
                {
                    if (Stopwatch.GetTimestamp() > deadline)
                    {
                        throw new TimeoutException($"{started.Count(c => !HasConfiguration(c.State.Current, endpoints))} of clients {first}..{first + started.Count - 1} have no complete configuration after 60 s; the first has {Describe(started[0].State.Current)}");
                    }

                    await Task.Delay(20, cancellationToken);
                }

                if (count > batch)
                {
                    await log.WriteLineAsync($"  clients connected: {fleet._clients.Count}/{count} ({clock.Elapsed.TotalSeconds:F1} s)");
                }
            }

            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>Announces the next change; call before the store write.</summary>
    public Task Expect(string oldHost, string newHost)
    {
        Interlocked.Exchange(ref _done, 0);
        _allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var client in _clients)
        {
            client.DoneTimestamp = 0;
            client.Publications = 0;
        }

        Volatile.Write(ref _expected, new Expectation(oldHost, newHost));
        return _allDone.Task;
    }

    /// <summary>Per client: the timestamp of the publication that completed the change (0 = not yet), and how many snapshots it published meanwhile.</summary>
    public IReadOnlyList<(string NodeId, long Done, int Publications)> Results()
    {
        Volatile.Write(ref _expected, null);
        return [.. _clients.Select(static c => (c.NodeId, c.DoneTimestamp, c.Publications))];
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.Provider.DisposeAsync();
        }

        _clients.Clear();
    }

    private static string Describe(MeshSnapshot snapshot) =>
        $"{snapshot}: {string.Join(", ", snapshot.Clusters.Values.Select(static c => $"{c.Name} ({c.Endpoints.Length})"))}";

    private static bool HasConfiguration(MeshSnapshot snapshot, int endpoints) =>
        snapshot.TryGetService(Workload.Host, out var service) && service.Routes.Length > 0
        && snapshot.Clusters.Values.Where(static c => c.Name.StartsWith(ClusterPrefix, StringComparison.Ordinal)).Sum(static c => c.Endpoints.Length) == endpoints;

    private Client Create(int xdsPort, int index)
    {
        var nodeId = string.Create(CultureInfo.InvariantCulture, $"bench-{index:D4}");
        var services = new ServiceCollection();

        // Logging registered but without providers, as in an application that logs elsewhere; the null factory
        // takes the place of AddLogging's, so no client pays for filter evaluation.
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddLogging();
        services.AddMesh().AddXds(o =>
        {
            o.Targets.Add(Workload.Target);
            o.Bootstrap = $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{xdsPort}}", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": "{{nodeId}}", "cluster": "propagation-benchmark" } }""";
        });
        var provider = services.BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var client = new Client(nodeId, provider, state);
        state.SnapshotChanged += snapshot => OnSnapshot(client, snapshot);
        return client;
    }

    private void OnSnapshot(Client client, MeshSnapshot snapshot)
    {
        // The timestamp first: the check below is the benchmark's work, not the client's.
        var now = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _publications);
        if (Volatile.Read(ref _expected) is not { } expected || client.DoneTimestamp != 0)
        {
            return;
        }

        client.Publications++;
        if (!Holds(snapshot, expected))
        {
            return;
        }

        client.DoneTimestamp = now;
        if (Interlocked.Increment(ref _done) == _clients.Count)
        {
            _allDone.TrySetResult();
        }
    }

    private static bool Holds(MeshSnapshot snapshot, Expectation expected)
    {
        var hasNew = false;
        foreach (var cluster in snapshot.Clusters.Values)
        {
            foreach (var endpoint in cluster.Endpoints)
            {
                if (endpoint.Host == expected.OldHost)
                {
                    return false;
                }

                hasNew |= endpoint.Host == expected.NewHost;
            }
        }

        return hasNew;
    }

    private sealed record Expectation(string OldHost, string NewHost);

    private sealed class Client(string nodeId, ServiceProvider provider, MeshState state)
    {
        public string NodeId { get; } = nodeId;

        public ServiceProvider Provider { get; } = provider;

        public MeshState State { get; } = state;

        // Written by the client's own callback thread (one at a time), read after the round.
        public long DoneTimestamp;

        public int Publications;
    }
}
