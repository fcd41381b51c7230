using System.Diagnostics.Metrics;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Http.Tests.Telemetry;

/// <summary>The opt-in <c>Mesh.Istio</c> meter, observed as Prometheus would scrape it for Istio's dashboards.</summary>
[TestFixture]
public sealed class IstioMetricsTests
{
    private TestBackend _a = null!;
    private ConfigurationRoot _configuration = null!;

    [OneTimeSetUp]
    public async Task StartBackend()
    {
        _a = await TestBackend.StartAsync("a", "v1");
        _configuration = TestConfiguration.FromJson($$"""
            { "Mesh": { "Services": { "backend": { "Endpoints": [ { "Address": "{{_a.Address}}" } ] } } } }
            """);
    }

    [OneTimeTearDown]
    public async Task StopBackend()
    {
        _configuration.Dispose();
        await _a.DisposeAsync();
    }

    [Test]
    public async Task SendAsync_IstioMetricsEnabled_RecordsRequestAndDurationWithIstioLabels()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration, services: s => new MeshBuilder(s).AddIstioMetrics(o =>
        {
            o.SourceWorkload = "frontend";
            o.SourceWorkloadNamespace = "shop";
            o.SourceApp = "frontend";
            o.SourceVersion = "v2";
            o.SourceCluster = "unknown";
        }));
        var factory = mesh.Services.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(factory, IstioMetrics.Name, "istio_requests_total");
        using var duration = new MetricCollector<double>(factory, IstioMetrics.Name, "istio_request_duration_milliseconds");
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/istio").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        var count = requests.GetMeasurementSnapshot().Single();
        var ms = duration.GetMeasurementSnapshot().Single();
        var expected = new Dictionary<string, object?>
        {
            ["reporter"] = "source",
            ["source_workload"] = "frontend",
            ["source_workload_namespace"] = "shop",
            ["source_principal"] = "unknown",
            ["source_app"] = "frontend",
            ["source_version"] = "v2",
            ["source_canonical_service"] = "frontend",
            ["source_canonical_revision"] = "v2",
            ["source_cluster"] = "unknown",
            ["destination_workload"] = "unknown",
            ["destination_workload_namespace"] = "unknown",
            ["destination_principal"] = "unknown",
            ["destination_app"] = "unknown",
            ["destination_version"] = "unknown",
            ["destination_canonical_service"] = "unknown",
            ["destination_canonical_revision"] = "unknown",
            ["destination_service"] = "backend",
            ["destination_service_name"] = "backend",
            ["destination_service_namespace"] = "unknown",
            ["destination_cluster"] = "unknown",
            ["request_protocol"] = "http",
            ["response_code"] = 200,
            ["grpc_response_status"] = string.Empty,
            ["response_flags"] = "-",
            ["connection_security_policy"] = "unknown",
        };
        Assert.Multiple(() =>
        {
            Assert.That(count.Value, Is.EqualTo(1));
            Assert.That(count.Tags, Is.EquivalentTo(expected));
            Assert.That(ms.Tags, Is.EquivalentTo(expected));
            Assert.That(ms.Value, Is.GreaterThan(0).And.LessThan(Timeouts.Default.TotalMilliseconds), "milliseconds");
            Assert.That(duration.Instrument!.Unit, Is.EqualTo("ms"));
        });
    }

    [Test]
    public async Task SendAsync_EndpointWorkloadConfigured_DestinationLabelsAreTheWorkloads()
    {
        // Arrange: the workload given in configuration, as the xDS client fills it from Istio's endpoint metadata.
        using var configuration = TestConfiguration.FromJson($$"""
            { "Mesh": { "Services": { "backend": { "Endpoints": [ { "Address": "{{_a.Address}}",
              "Workload": { "Name": "backend-v1", "Namespace": "shop", "App": "backend", "Version": "v1", "Cluster": "east" } } ] } } } }
            """);
        await using var mesh = MeshClient.Create(configuration, services: s => new MeshBuilder(s).AddIstioMetrics());
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/istio").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["destination_workload"], Is.EqualTo("backend-v1"));
            Assert.That(tags["destination_workload_namespace"], Is.EqualTo("shop"));
            Assert.That(tags["destination_app"], Is.EqualTo("backend"));
            Assert.That(tags["destination_version"], Is.EqualTo("v1"));
            Assert.That(tags["destination_canonical_service"], Is.EqualTo("backend"));
            Assert.That(tags["destination_canonical_revision"], Is.EqualTo("v1"));
            Assert.That(tags["destination_cluster"], Is.EqualTo("east"));
            Assert.That(tags["destination_principal"], Is.EqualTo("unknown"), "plaintext: no peer identity");
        });
    }

    [Test]
    public async Task SendAsync_BodiesOfKnownAndUnknownLength_RecordsTheirSizes()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration, services: s => new MeshBuilder(s).AddIstioMetrics());
        var factory = mesh.Services.GetRequiredService<IMeterFactory>();
        using var requestBytes = new MetricCollector<long>(factory, IstioMetrics.Name, "istio_request_bytes");
        using var responseBytes = new MetricCollector<long>(factory, IstioMetrics.Name, "istio_response_bytes");
        using var client = mesh.CreateClient();

        // Act: a 300-byte body to a 5,000-byte answer with Content-Length; then a GET whose answer is chunked (the backend's
        // id, "a"), read after the mesh has returned the response; then a HEAD, whose Content-Length is no body.
        using (var sized = await client.PostAsync("/bytes/5000", new ByteArrayContent(new byte[300])).WaitAsync(Timeouts.Default))
        {
            sized.EnsureSuccessStatusCode();
        }

        var afterSized = responseBytes.GetMeasurementSnapshot().Count;
        using var chunked = await client.GetAsync("/istio", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeouts.Default);
        var beforeRead = responseBytes.GetMeasurementSnapshot().Count;
        var body = await chunked.Content.ReadAsStringAsync().WaitAsync(Timeouts.Default);
        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/bytes/4096")).WaitAsync(Timeouts.Default))
        {
            head.EnsureSuccessStatusCode();
        }

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(body, Is.EqualTo("a"));
            Assert.That(chunked.Headers.TransferEncodingChunked, Is.True, "the answer should be chunked for this test");
            Assert.That(afterSized, Is.EqualTo(1));
            Assert.That(beforeRead, Is.EqualTo(1), "not recorded before the body is read");
            Assert.That(requestBytes.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 300L, 0L, 0L }));
            Assert.That(responseBytes.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 5000L, 1L, 0L }));
            Assert.That(responseBytes.GetMeasurementSnapshot()[1].Tags["response_code"], Is.EqualTo(200));
            Assert.That(responseBytes.Instrument!.Unit, Is.EqualTo("By"));
        });
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task SendAsync_IstioMetrics_SendsPeerMetadataUnlessTurnedOff(bool send)
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration, services: s => new MeshBuilder(s).AddIstioMetrics(o =>
        {
            o.SourceWorkload = "frontend";
            o.SendPeerMetadata = send;
        }));
        using var client = mesh.CreateClient();

        // Act
        var seen = await client.GetStringAsync("/header/x-envoy-peer-metadata").WaitAsync(Timeouts.Default);

        // Assert
        if (send)
        {
            var metadata = Google.Protobuf.WellKnownTypes.Struct.Parser.ParseFrom(Convert.FromBase64String(seen));
            Assert.That(metadata.Fields["WORKLOAD_NAME"].StringValue, Is.EqualTo("frontend"));
        }
        else
        {
            Assert.That(seen, Is.Empty);
        }
    }

    [Test]
    public async Task SendAsync_IstioMetricsNotAdded_RecordsNothingOnIstioMeter()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration);
        var factory = mesh.Services.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(factory, IstioMetrics.Name, "istio_requests_total");
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/istio").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.Multiple(() =>
        {
            Assert.That(requests.GetMeasurementSnapshot(), Is.Empty);
            Assert.That(mesh.Services.GetService<IstioMetrics>(), Is.Null);
        });
    }
}
