using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Configuration;
using Mesh.Grpc.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Grpc.Tests.Balancer;

/// <summary>
/// A channel made with <c>GrpcChannel.ForAddress("xds:///...")</c> and the application's service provider, without the
/// client factory: the resolver and the mesh load balancer route and balance its calls; the mesh call invoker adds the
/// route's resilience.
/// </summary>
public sealed class PlainChannelTests
{
    [Test]
    [CancelAfter(30_000)]
    public async Task ForAddress_RoutesByHeaderAndBalancesOverReadyEndpoints(CancellationToken cancellationToken)
    {
        // Arrange: two clusters; calls with x-canary: yes go to "canary", the rest round-robin over "stable".
        await using var a = await TestServer.StartAsync("a");
        await using var b = await TestServer.StartAsync("b");
        await using var canary = await TestServer.StartAsync("canary");
        await using var services = Services(a, b, canary);
        using var channel = GrpcChannel.ForAddress(MeshGrpcClient.Address, new GrpcChannelOptions { ServiceProvider = services, Credentials = ChannelCredentials.Insecure });
        var client = new TestService.TestServiceClient(channel);

        // Act
        var stable = new Dictionary<string, int>();
        for (var i = 0; i < 20; i++)
        {
            var reply = await client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);
            stable[reply.ServerId] = stable.GetValueOrDefault(reply.ServerId) + 1;
        }

        var canaryReply = await client.UnaryCallAsync(new SimpleRequest(), new Metadata { { "x-canary", "yes" } }, cancellationToken: cancellationToken);

        // Assert
        Assert.That(stable.Keys, Is.EquivalentTo(new[] { "a", "b" }), string.Join(", ", stable));
        Assert.That(canaryReply.ServerId, Is.EqualTo("canary"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task ForAddress_OneEndpointDown_CallsGoOnlyToTheReadyOne(CancellationToken cancellationToken)
    {
        // Arrange: as gRPC's balancers, picks go to READY subchannels only; a stopped server gets none and fails none.
        await using var a = await TestServer.StartAsync("a");
        await using var b = await TestServer.StartAsync("b");
        await using var canary = await TestServer.StartAsync("canary");
        await b.StopAsync();
        await using var services = Services(a, b, canary);
        using var channel = GrpcChannel.ForAddress(MeshGrpcClient.Address, new GrpcChannelOptions { ServiceProvider = services, Credentials = ChannelCredentials.Insecure });
        var client = new TestService.TestServiceClient(channel);

        // Act
        var answers = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            answers.Add((await client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken)).ServerId);
        }

        // Assert
        Assert.That(answers, Is.All.EqualTo("a"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task CreateMeshCallInvoker_RouteRetriesUnavailable_CallSucceedsOnTheThirdAttempt(CancellationToken cancellationToken)
    {
        // Arrange
        await using var a = await TestServer.StartAsync("a");
        await using var b = await TestServer.StartAsync("b");
        await using var canary = await TestServer.StartAsync("canary");
        await using var services = Services(a, b, canary, retries: new RetryOptions { Attempts = 3, RetryOn = "unavailable" });
        using var channel = GrpcChannel.ForAddress(MeshGrpcClient.Address, new GrpcChannelOptions { ServiceProvider = services, Credentials = ChannelCredentials.Insecure });
        var client = new TestService.TestServiceClient(channel.CreateMeshCallInvoker(services, MeshGrpcClient.Address));
        var headers = new Metadata { { "rpc-behavior", "succeed-on-attempt-3" }, { "x-request-id", Guid.NewGuid().ToString() } };

        // Act
        var reply = await client.UnaryCallAsync(new SimpleRequest(), headers, cancellationToken: cancellationToken);

        // Assert
        Assert.That(reply.ServerId, Is.AnyOf("a", "b"));
        Assert.That(a.Calls + b.Calls, Is.EqualTo(3));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task ForAddress_TargetNotInTheMesh_FailsWithTheReason(CancellationToken cancellationToken)
    {
        // Arrange
        await using var a = await TestServer.StartAsync("a");
        await using var b = await TestServer.StartAsync("b");
        await using var canary = await TestServer.StartAsync("canary");
        await using var services = Services(a, b, canary);
        using var channel = GrpcChannel.ForAddress("xds:///unknown.test:50051", new GrpcChannelOptions { ServiceProvider = services, Credentials = ChannelCredentials.Insecure });
        var client = new TestService.TestServiceClient(channel);

        // Act
        var failure = Assert.ThrowsAsync<RpcException>(async () => await client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken));

        // Assert
        Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(failure.Status.Detail, Does.Contain("'unknown.test:50051' is not a mesh service").And.Contain("greeter.test"));
    }

    private static ServiceProvider Services(TestServer a, TestServer b, TestServer canary, RetryOptions? retries = null)
    {
        var services = new ServiceCollection();
        services.AddMesh(o =>
        {
            o.Clusters["stable"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = a.Address }, new EndpointOptions { Address = b.Address } } };
            o.Clusters["canary"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = canary.Address } } };
            var service = new ServiceOptions();
            var canaryRoute = new RouteOptions { Destinations = { new DestinationOptions { Cluster = "canary" } } };
            canaryRoute.Match.Add(new RouteMatchOptions { Headers = { ["x-canary"] = new StringMatchOptions { Exact = "yes" } } });
            service.Routes.Add(canaryRoute);
            service.Routes.Add(new RouteOptions { Destinations = { new DestinationOptions { Cluster = "stable" } }, Retries = retries });
            o.Services[MeshGrpcClient.Host] = service;
        }).AddGrpc();
        return services.BuildServiceProvider();
    }
}
