using System.Diagnostics.Metrics;
using Grpc.Core;
using Mesh.Configuration;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Grpc.Tests.Telemetry;

public sealed class GrpcIstioMetricsTests
{
    [Test]
    [CancelAfter(30_000)]
    public async Task FailedCall_IstioMetricsEnabled_RecordsGrpcProtocolAndStatus(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["greeter"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = server.Address } } };
        options.Services[MeshGrpcClient.Host] = new ServiceOptions { Routes = { new RouteOptions { Name = "all", Destinations = { new DestinationOptions { Cluster = "greeter" } } } } };
        await using var mesh = MeshGrpcClient.Create(options, s => new MeshBuilder(s).AddIstioMetrics());
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");

        // Act
        Assert.ThrowsAsync<RpcException>(async () => await mesh.Client.UnaryCallAsync(new SimpleRequest(), new Metadata { { "rpc-behavior", "error-code-5" } }, cancellationToken: cancellationToken));

        // Assert
        var measurement = requests.GetMeasurementSnapshot().Single();
        Assert.Multiple(() =>
        {
            Assert.That(measurement.Value, Is.EqualTo(1));
            Assert.That(measurement.Tags["request_protocol"], Is.EqualTo("grpc"));
            Assert.That(measurement.Tags["grpc_response_status"], Is.EqualTo("5"));
            Assert.That(measurement.Tags["response_code"], Is.EqualTo(200));
            Assert.That(measurement.Tags["destination_service"], Is.EqualTo(MeshGrpcClient.Host));
            Assert.That(measurement.Tags["reporter"], Is.EqualTo("source"));
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task Call_IstioMetricsNotAdded_RecordsNothingOnIstioMeter(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["greeter"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = server.Address } } };
        options.Services[MeshGrpcClient.Host] = new ServiceOptions { Routes = { new RouteOptions { Name = "all", Destinations = { new DestinationOptions { Cluster = "greeter" } } } } };
        await using var mesh = MeshGrpcClient.Create(options);
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");

        // Act
        await mesh.Client.UnaryCallAsync(new SimpleRequest(), cancellationToken: cancellationToken);

        // Assert
        Assert.That(requests.GetMeasurementSnapshot(), Is.Empty);
    }
}
