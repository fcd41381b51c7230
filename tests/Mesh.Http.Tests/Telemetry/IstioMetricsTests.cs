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
            ["source_cluster"] = "unknown",
            ["destination_workload"] = "unknown",
            ["destination_workload_namespace"] = "unknown",
            ["destination_principal"] = "unknown",
            ["destination_app"] = "unknown",
            ["destination_version"] = "unknown",
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
