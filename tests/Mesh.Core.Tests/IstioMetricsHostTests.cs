using System.Diagnostics.Metrics;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Core.Tests;

public sealed class IstioMetricsHostTests
{
    [TestCase("reviews.bookinfo.svc.cluster.local", "reviews", "bookinfo")]
    [TestCase("reviews", "reviews", "unknown")]
    [TestCase("api.example.com", "api.example.com", "unknown")]
    public void Record_DestinationHost_GivesIstiosServiceNameAndNamespace(string host, string name, string ns)
    {
        // Arrange
        using var provider = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new IstioMetrics(provider.GetRequiredService<IMeterFactory>(), new IstioMetricsOptions());
        using var requests = new MetricCollector<long>(metrics.Meter, "istio_requests_total");

        // Act
        metrics.Record(host, "http", 503, null, "UO", TimeSpan.FromMilliseconds(2));

        // Assert
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["destination_service"], Is.EqualTo(host));
            Assert.That(tags["destination_service_name"], Is.EqualTo(name));
            Assert.That(tags["destination_service_namespace"], Is.EqualTo(ns));
            Assert.That(tags["response_code"], Is.EqualTo(503));
            Assert.That(tags["response_flags"], Is.EqualTo("UO"));
        });
    }
}
