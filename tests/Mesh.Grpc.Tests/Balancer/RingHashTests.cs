using Grpc.Core;
using Mesh.Configuration;
using Mesh.Grpc.Tests.Infrastructure;

namespace Mesh.Grpc.Tests.Balancer;

/// <summary>Ring hash over gRPC metadata (gRFC A42's header hash policy): a key sticks to one backend, keys spread.</summary>
public sealed class RingHashTests
{
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCalls_RingHashOnMetadata_SameKeySameBackendAndKeysSpread(CancellationToken cancellationToken)
    {
        // Arrange
        var servers = new List<TestServer>();
        for (var i = 0; i < 4; i++)
        {
            servers.Add(await TestServer.StartAsync($"s{i}"));
        }

        try
        {
            var cluster = new ClusterOptions { LoadBalancer = new LoadBalancerOptions { Policy = "RingHash", ConsistentHash = new ConsistentHashOptions { HttpHeaderName = "x-user" } } };
            foreach (var server in servers)
            {
                cluster.Endpoints.Add(new EndpointOptions { Address = server.Address });
            }

            var options = new MeshOptions();
            options.Clusters["users"] = cluster;
            options.Services[MeshGrpcClient.Host] = new ServiceOptions { Routes = { new RouteOptions { Destinations = { new DestinationOptions { Cluster = "users" } } } } };
            await using var mesh = MeshGrpcClient.Create(options);

            // Act: 40 users, 5 calls each.
            var backendsByUser = new Dictionary<string, HashSet<string>>();
            for (var user = 0; user < 40; user++)
            {
                var key = $"user-{user}";
                backendsByUser[key] = [];
                for (var call = 0; call < 5; call++)
                {
                    var reply = await mesh.Client.UnaryCallAsync(new SimpleRequest(), new Metadata { { "x-user", key } }, cancellationToken: cancellationToken);
                    backendsByUser[key].Add(reply.ServerId);
                }
            }

            // Assert
            Assert.That(backendsByUser.Values.Select(b => b.Count), Is.All.EqualTo(1), "every user's calls go to one backend");
            Assert.That(backendsByUser.Values.SelectMany(b => b).Distinct().Count(), Is.GreaterThanOrEqualTo(3), "40 users spread over the backends");
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }
}
