using System.Diagnostics.Metrics;
using Grpc.Core;
using Mesh.Configuration;
using Mesh.Grpc.Telemetry;
using Mesh.Grpc.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Grpc.Tests.Telemetry;

public sealed class GrpcTelemetryTests
{
    [Test]
    [CancelAfter(30_000)]
    public async Task RetriedCall_RecordsOneCallThreeAttemptsAndTwoRetries(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["greeter"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = server.Address } } };
        options.Services[MeshGrpcClient.Host] = new ServiceOptions
        {
            Routes = { new RouteOptions { Name = "all", Destinations = { new DestinationOptions { Cluster = "greeter" } }, Retries = new RetryOptions { Attempts = 3, RetryOn = "unavailable" } } },
        };
        await using var mesh = MeshGrpcClient.Create(options);
        var meters = mesh.Services.GetRequiredService<IMeterFactory>();
        using var calls = new MetricCollector<double>(meters, GrpcMeshTelemetry.Name, "grpc.client.call.duration");
        using var attempts = new MetricCollector<long>(meters, GrpcMeshTelemetry.Name, "grpc.client.attempt.started");
        using var attemptDurations = new MetricCollector<double>(meters, GrpcMeshTelemetry.Name, "grpc.client.attempt.duration");
        using var retries = new MetricCollector<long>(meters, "Mesh", "mesh.client.retries");
        var headers = new Metadata { { "rpc-behavior", "succeed-on-attempt-3" }, { "x-request-id", Guid.NewGuid().ToString() } };

        // Act
        await mesh.Client.UnaryCallAsync(new SimpleRequest(), headers, cancellationToken: cancellationToken);

        // Assert
        var call = calls.GetMeasurementSnapshot().Single();
        Assert.Multiple(() =>
        {
            Assert.That(call.Tags["grpc.method"], Is.EqualTo("/mesh.test.TestService/UnaryCall"));
            Assert.That(call.Tags["grpc.target"], Is.EqualTo("greeter.test:50051"));
            Assert.That(call.Tags["grpc.status"], Is.EqualTo("OK"));
            Assert.That(call.Tags["mesh.service"], Is.EqualTo(MeshGrpcClient.Host));
            Assert.That(call.Tags["mesh.route"], Is.EqualTo("all"));
            Assert.That(call.Tags["mesh.cluster"], Is.EqualTo("greeter"));
            Assert.That(attempts.GetMeasurementSnapshot().Sum(m => m.Value), Is.EqualTo(3));
            Assert.That(attemptDurations.GetMeasurementSnapshot().Select(m => m.Tags["grpc.status"]), Is.EqualTo(new[] { "UNAVAILABLE", "UNAVAILABLE", "OK" }));
            Assert.That(retries.GetMeasurementSnapshot().Sum(m => m.Value), Is.EqualTo(2));
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task CallWithoutPolicy_RecordsTheCallAndItsStatus(CancellationToken cancellationToken)
    {
        // Arrange: a route without policy takes the single-attempt path, which records the same instruments.
        await using var server = await TestServer.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["greeter"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = server.Address } } };
        options.Services[MeshGrpcClient.Host] = new ServiceOptions { Routes = { new RouteOptions { Name = "all", Destinations = { new DestinationOptions { Cluster = "greeter" } } } } };
        await using var mesh = MeshGrpcClient.Create(options);
        using var calls = new MetricCollector<double>(mesh.Services.GetRequiredService<IMeterFactory>(), GrpcMeshTelemetry.Name, "grpc.client.call.duration");

        // Act
        var failure = Assert.ThrowsAsync<RpcException>(async () => await mesh.Client.UnaryCallAsync(new SimpleRequest(), new Metadata { { "rpc-behavior", "error-code-5" } }, cancellationToken: cancellationToken));

        // Assert
        Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        Assert.That(calls.GetMeasurementSnapshot().Single().Tags["grpc.status"], Is.EqualTo("NOT_FOUND"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task ServerStreamingCall_RecordsOneCallAndOneAttemptWhenItEnds(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["greeter"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = server.Address } } };
        options.Services[MeshGrpcClient.Host] = new ServiceOptions { Routes = { new RouteOptions { Name = "all", Destinations = { new DestinationOptions { Cluster = "greeter" } } } } };
        await using var mesh = MeshGrpcClient.Create(options);
        var meters = mesh.Services.GetRequiredService<IMeterFactory>();
        using var calls = new MetricCollector<double>(meters, GrpcMeshTelemetry.Name, "grpc.client.call.duration");
        using var attempts = new MetricCollector<double>(meters, GrpcMeshTelemetry.Name, "grpc.client.attempt.duration");

        // Act
        using var call = mesh.Client.StreamingOutputCall(new StreamingRequest { Count = 2 }, cancellationToken: cancellationToken);
        var before = calls.GetMeasurementSnapshot().Count;
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
        }

        // Assert
        var measurement = calls.GetMeasurementSnapshot().Single();
        Assert.Multiple(() =>
        {
            Assert.That(before, Is.Zero, "nothing before the stream ends");
            Assert.That(measurement.Tags["grpc.method"], Is.EqualTo("/mesh.test.TestService/StreamingOutputCall"));
            Assert.That(measurement.Tags["grpc.status"], Is.EqualTo("OK"));
            Assert.That(measurement.Tags["mesh.route"], Is.EqualTo("all"));
            Assert.That(measurement.Tags["mesh.cluster"], Is.EqualTo("greeter"));
            Assert.That(attempts.GetMeasurementSnapshot(), Has.Count.EqualTo(1));
        });
    }
}
