using System.Diagnostics.Metrics;
using Grpc.Core;
using Mesh.Configuration;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.Model;
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
    public async Task UnaryCall_IstioMetricsEnabled_RecordsFramedMessageSizesAndTheEndpointsWorkload(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("a");
        await using var mesh = MeshGrpcClient.Create(Options(null, (server, "greeter-v1")), s => new MeshBuilder(s).AddIstioMetrics());
        var meters = mesh.Services.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_requests_total");
        using var requestBytes = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_request_bytes");
        using var responseBytes = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_response_bytes");

        // Act
        var response = await mesh.Client.UnaryCallAsync(new SimpleRequest { Payload = "hello" }, cancellationToken: cancellationToken);

        // Assert: gRPC frames a message as 5 bytes and its encoding: payload "hello" is 7 bytes; server_id "a" and payload "hello" are 10.
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(response.ServerId, Is.EqualTo("a"));
            Assert.That(requestBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(12));
            Assert.That(responseBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(15));
            Assert.That(tags["destination_workload"], Is.EqualTo("greeter-v1"));
            Assert.That(tags["destination_version"], Is.EqualTo("v1"));
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCallRetried_IstioMetricsEnabled_LabelsTheEndpointThatAnswered(CancellationToken cancellationToken)
    {
        // Arrange: every attempt on a fails UNAVAILABLE; the retry lands on b.
        await using var a = await TestServer.StartAsync("a");
        await using var b = await TestServer.StartAsync("b");
        var retries = new RetryOptions { Attempts = 3, RetryOn = "unavailable" };
        await using var mesh = MeshGrpcClient.Create(Options(retries, (a, "greeter-a"), (b, "greeter-b")), s => new MeshBuilder(s).AddIstioMetrics());
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");
        var headers = new Metadata { { "rpc-behavior", "hostname=a,error-code-14" } };

        // Act: enough calls that some start on a.
        for (var i = 0; i < 6; i++)
        {
            var response = await mesh.Client.UnaryCallAsync(new SimpleRequest(), headers, cancellationToken: cancellationToken);
            Assert.That(response.ServerId, Is.EqualTo("b"));
        }

        // Assert
        Assert.That(requests.GetMeasurementSnapshot().Select(m => m.Tags["destination_workload"]), Is.All.EqualTo("greeter-b"));
        Assert.That(a.Calls, Is.GreaterThan(0), "some calls should have tried a first");
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task ServerStreamingCall_IstioMetricsEnabled_CountsMessagesAndBytesWhenTheStreamEnds(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("a");
        await using var mesh = MeshGrpcClient.Create(Options(null, (server, "greeter-v1")), s => new MeshBuilder(s).AddIstioMetrics());
        var meters = mesh.Services.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_requests_total");
        using var requestMessages = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_request_messages_total");
        using var responseMessages = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_response_messages_total");
        using var requestBytes = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_request_bytes");
        using var responseBytes = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_response_bytes");

        // Act
        using var call = mesh.Client.StreamingOutputCall(new StreamingRequest { Count = 3 }, cancellationToken: cancellationToken);
        var received = 0;
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            received++;
        }

        // Assert: count = 3 is 2 bytes; each answer (server_id "a", payload "0".."2") is 6.
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(received, Is.EqualTo(3));
            Assert.That(tags["grpc_response_status"], Is.EqualTo("0"));
            Assert.That(tags["destination_workload"], Is.EqualTo("greeter-v1"));
            Assert.That(requestMessages.GetMeasurementSnapshot().Single().Value, Is.EqualTo(1));
            Assert.That(responseMessages.GetMeasurementSnapshot().Single().Value, Is.EqualTo(3));
            Assert.That(requestBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(7));
            Assert.That(responseBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(33));
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_IstioMetricsEnabled_SendsIstioPeerMetadataWithoutTouchingTheCallersHeaders(CancellationToken cancellationToken)
    {
        // Arrange
        await using var server = await TestServer.StartAsync("a");
        await using var mesh = MeshGrpcClient.Create(Options(null, (server, "greeter-v1")), s => new MeshBuilder(s).AddIstioMetrics(o =>
        {
            o.SourceWorkload = "frontend";
            o.SourceWorkloadNamespace = "web";
            o.SourceApp = "frontend";
        }));
        var headers = new Metadata { { "x-caller", "1" } };

        // Act
        await mesh.Client.UnaryCallAsync(new SimpleRequest(), headers, cancellationToken: cancellationToken);

        // Assert
        var sent = Google.Protobuf.WellKnownTypes.Struct.Parser.ParseFrom(Convert.FromBase64String(server.LastHeaders!.GetValue("x-envoy-peer-metadata")!));
        Assert.Multiple(() =>
        {
            Assert.That(sent.Fields["WORKLOAD_NAME"].StringValue, Is.EqualTo("frontend"));
            Assert.That(sent.Fields["NAMESPACE"].StringValue, Is.EqualTo("web"));
            Assert.That(sent.Fields["LABELS"].StructValue.Fields["app"].StringValue, Is.EqualTo("frontend"));
            Assert.That(server.LastHeaders.GetValue("x-envoy-peer-metadata-id"), Does.StartWith("sidecar~"));
            Assert.That(server.LastHeaders.GetValue("x-caller"), Is.EqualTo("1"));
            Assert.That(headers, Has.Count.EqualTo(1), "the caller's headers are not changed");
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(30_000)]
    public async Task UnaryCall_ServerAnswersWithIstioPeerMetadata_DestinationLabelsFromIt(bool retried, CancellationToken cancellationToken)
    {
        // Arrange: the configuration names no workload; the server names itself in its answer. With a retry policy
        // the call takes the mesh's resilient path instead of the single attempt.
        await using var server = await TestServer.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["greeter"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = server.Address } } };
        options.Services[MeshGrpcClient.Host] = new ServiceOptions
        {
            Routes = { new RouteOptions { Name = "all", Destinations = { new DestinationOptions { Cluster = "greeter" } }, Retries = retried ? new RetryOptions { Attempts = 2, RetryOn = "unavailable" } : null } },
        };
        await using var mesh = MeshGrpcClient.Create(options, s => new MeshBuilder(s).AddIstioMetrics());
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");
        var metadata = new Google.Protobuf.WellKnownTypes.Struct
        {
            Fields =
            {
                ["WORKLOAD_NAME"] = Google.Protobuf.WellKnownTypes.Value.ForString("greeter-v3"),
                ["NAMESPACE"] = Google.Protobuf.WellKnownTypes.Value.ForString("shop"),
                ["LABELS"] = Google.Protobuf.WellKnownTypes.Value.ForStruct(new Google.Protobuf.WellKnownTypes.Struct { Fields = { ["app"] = Google.Protobuf.WellKnownTypes.Value.ForString("greeter"), ["version"] = Google.Protobuf.WellKnownTypes.Value.ForString("v3") } }),
            },
        };
        var headers = new Metadata { { "rpc-behavior", "answer-peer-metadata=" + Convert.ToBase64String(Google.Protobuf.MessageExtensions.ToByteArray(metadata)) } };

        // Act
        await mesh.Client.UnaryCallAsync(new SimpleRequest(), headers, cancellationToken: cancellationToken);

        // Assert
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["destination_workload"], Is.EqualTo("greeter-v3"));
            Assert.That(tags["destination_workload_namespace"], Is.EqualTo("shop"));
            Assert.That(tags["destination_app"], Is.EqualTo("greeter"));
            Assert.That(tags["destination_version"], Is.EqualTo("v3"));
        });
    }

    private static MeshOptions Options(RetryOptions? retries, params (TestServer Server, string Workload)[] endpoints)
    {
        var options = new MeshOptions();
        var cluster = new ClusterOptions();
        foreach (var (server, workload) in endpoints)
        {
            cluster.Endpoints.Add(new EndpointOptions { Address = server.Address, Workload = new EndpointWorkload { Name = workload, Namespace = "shop", App = "greeter", Version = "v1" } });
        }

        options.Clusters["greeter"] = cluster;
        options.Services[MeshGrpcClient.Host] = new ServiceOptions { Routes = { new RouteOptions { Name = "all", Destinations = { new DestinationOptions { Cluster = "greeter" } }, Retries = retries } } };
        return options;
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
