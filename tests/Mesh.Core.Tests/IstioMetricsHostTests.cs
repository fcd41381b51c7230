using System.Collections.Frozen;
using System.Diagnostics.Metrics;
using Mesh.Model;
using Mesh.Telemetry;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Core.Tests;

public sealed class IstioMetricsHostTests
{
    private ServiceProvider _provider = null!;

    [SetUp]
    public void CreateProvider() => _provider = new ServiceCollection().AddMetrics().BuildServiceProvider();

    [TearDown]
    public void DisposeProvider() => _provider.Dispose();

    [TestCase("reviews.bookinfo.svc.cluster.local", "reviews", "bookinfo")]
    [TestCase("reviews", "reviews", "unknown")]
    [TestCase("api.example.com", "api.example.com", "unknown")]
    public void Record_DestinationHost_GivesIstiosServiceNameAndNamespace(string host, string name, string ns)
    {
        // Arrange
        var metrics = Create(new IstioMetricsOptions());
        using var requests = new MetricCollector<long>(metrics.Meter, "istio_requests_total");

        // Act
        metrics.Record(host, "http", null, 503, null, "UO", TimeSpan.FromMilliseconds(2), IstioSizes.None);

        // Assert
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["destination_service"], Is.EqualTo(host));
            Assert.That(tags["destination_service_name"], Is.EqualTo(name));
            Assert.That(tags["destination_service_namespace"], Is.EqualTo(ns));
            Assert.That(tags["destination_workload_namespace"], Is.EqualTo(ns));
            Assert.That(tags["destination_workload"], Is.EqualTo("unknown"));
            Assert.That(tags["destination_canonical_service"], Is.EqualTo("unknown"));
            Assert.That(tags["response_code"], Is.EqualTo(503));
            Assert.That(tags["response_flags"], Is.EqualTo("UO"));
        });
    }

    [Test]
    public void Record_EndpointWithWorkloadAndVerifiedPeer_DestinationLabelsAreTheEndpoints()
    {
        // Arrange
        var metrics = Create(new IstioMetricsOptions { DestinationCluster = "fallback" });
        using var requests = new MetricCollector<long>(metrics.Meter, "istio_requests_total");
        var v1 = Endpoint("10.0.0.1", new EndpointWorkload { Name = "reviews-v1", Namespace = "bookinfo", App = "reviews", Version = "v1", Cluster = "east" });
        var v2 = Endpoint("10.0.0.2", new EndpointWorkload { Name = "reviews-v2", Namespace = "bookinfo", App = "reviews", Version = "v2" });
        v1.State.OnPeerVerified("spiffe://cluster.local/ns/bookinfo/sa/reviews");

        // Act
        metrics.Record("reviews.bookinfo.svc.cluster.local", "http", v1, 200, null, "-", TimeSpan.FromMilliseconds(1), IstioSizes.None);
        metrics.Record("reviews.bookinfo.svc.cluster.local", "http", v2, 200, null, "-", TimeSpan.FromMilliseconds(1), IstioSizes.None);

        // Assert
        var (first, second) = (requests.GetMeasurementSnapshot()[0].Tags, requests.GetMeasurementSnapshot()[1].Tags);
        Assert.Multiple(() =>
        {
            Assert.That(first["destination_workload"], Is.EqualTo("reviews-v1"));
            Assert.That(first["destination_workload_namespace"], Is.EqualTo("bookinfo"));
            Assert.That(first["destination_app"], Is.EqualTo("reviews"));
            Assert.That(first["destination_version"], Is.EqualTo("v1"));
            Assert.That(first["destination_canonical_service"], Is.EqualTo("reviews"));
            Assert.That(first["destination_canonical_revision"], Is.EqualTo("v1"));
            Assert.That(first["destination_cluster"], Is.EqualTo("east"));
            Assert.That(first["destination_principal"], Is.EqualTo("spiffe://cluster.local/ns/bookinfo/sa/reviews"));
            Assert.That(second["destination_workload"], Is.EqualTo("reviews-v2"));
            Assert.That(second["destination_version"], Is.EqualTo("v2"));
            Assert.That(second["destination_cluster"], Is.EqualTo("fallback"), "a workload without a cluster takes the configured one");
            Assert.That(second["destination_principal"], Is.EqualTo("unknown"), "no verified handshake with v2");
        });
    }

    [Test]
    public void Record_WorkloadIdentity_SourcePrincipalIsItsSpiffeIdOnceItArrives()
    {
        // Arrange
        var identity = new TestIdentityProvider();
        var metrics = Create(new IstioMetricsOptions(), identity);
        using var requests = new MetricCollector<long>(metrics.Meter, "istio_requests_total");
        var pki = TestPki.Create();

        // Act
        metrics.Record("backend", "http", null, 200, null, "-", TimeSpan.Zero, IstioSizes.None);
        identity.Set(pki.IssueIdentity("shop", "frontend"));
        metrics.Record("backend", "http", null, 200, null, "-", TimeSpan.Zero, IstioSizes.None);

        // Assert
        var snapshot = requests.GetMeasurementSnapshot();
        Assert.That(snapshot.Select(m => m.Tags["source_principal"]), Is.EqualTo(new[] { "unknown", "spiffe://cluster.local/ns/shop/sa/frontend" }));
    }

    [TestCase("frontend", "v3", "frontend", "v3")]
    [TestCase("unknown", "unknown", "frontend-deploy", "latest")]
    public void Record_SourceOptions_CanonicalServiceDefaultsToAppElseWorkloadAndRevisionToVersionElseLatest(string app, string version, string canonicalService, string canonicalRevision)
    {
        // Arrange
        var metrics = Create(new IstioMetricsOptions { SourceWorkload = "frontend-deploy", SourceApp = app, SourceVersion = version });
        using var requests = new MetricCollector<long>(metrics.Meter, "istio_requests_total");

        // Act
        metrics.Record("backend", "http", null, 200, null, "-", TimeSpan.Zero, IstioSizes.None);

        // Assert
        var tags = requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["source_canonical_service"], Is.EqualTo(canonicalService));
            Assert.That(tags["source_canonical_revision"], Is.EqualTo(canonicalRevision));
        });
    }

    [Test]
    public void Record_SizesAndMessages_RecordedWithTheRequestsLabels()
    {
        // Arrange
        var metrics = Create(new IstioMetricsOptions());
        using var requestBytes = new MetricCollector<long>(metrics.Meter, "istio_request_bytes");
        using var responseBytes = new MetricCollector<long>(metrics.Meter, "istio_response_bytes");
        using var requestMessages = new MetricCollector<long>(metrics.Meter, "istio_request_messages_total");
        using var responseMessages = new MetricCollector<long>(metrics.Meter, "istio_response_messages_total");

        // Act
        metrics.Record("backend", "grpc", null, 200, "0", "-", TimeSpan.Zero, new IstioSizes(120, 4005, 3, 1));
        metrics.Record("backend", "http", null, 200, null, "-", TimeSpan.Zero, new IstioSizes(-1, 0));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(requestBytes.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 120L }), "an unknown size is not recorded");
            Assert.That(responseBytes.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 4005L, 0L }));
            Assert.That(requestMessages.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 3L }));
            Assert.That(responseMessages.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 1L }));
            Assert.That(requestBytes.GetMeasurementSnapshot().Single().Tags["request_protocol"], Is.EqualTo("grpc"));
        });
    }

    [Test]
    public void Record_ResponseStillStreaming_SizeRecordedOnceWhenCompleted()
    {
        // Arrange
        var metrics = Create(new IstioMetricsOptions());
        using var responseBytes = new MetricCollector<long>(metrics.Meter, "istio_response_bytes");
        using var requests = new MetricCollector<long>(metrics.Meter, "istio_requests_total");

        // Act
        var pending = metrics.Record("backend", "http", null, 200, null, "-", TimeSpan.Zero, new IstioSizes(0, -1), responsePending: true);
        var before = responseBytes.GetMeasurementSnapshot().Count;
        metrics.Record("other", "http", null, 404, null, "-", TimeSpan.Zero, IstioSizes.None);
        pending!.Complete(70_000);
        pending.Complete(1);

        // Assert
        var measurement = responseBytes.GetMeasurementSnapshot().Single();
        Assert.Multiple(() =>
        {
            Assert.That(before, Is.Zero);
            Assert.That(requests.GetMeasurementSnapshot(), Has.Count.EqualTo(2));
            Assert.That(measurement.Value, Is.EqualTo(70_000));
            Assert.That(measurement.Tags["destination_service"], Is.EqualTo("backend"), "the labels of its own request, not of a later one on the thread");
            Assert.That(measurement.Tags["response_code"], Is.EqualTo(200));
        });
    }

    private static EndpointModel Endpoint(string ip, EndpointWorkload workload) =>
        new(new Uri($"http://{ip}:9080/"), FrozenDictionary<string, string>.Empty, 1, null, EndpointHealth.Healthy, new EndpointState(), workload);

    private IstioMetrics Create(IstioMetricsOptions options, Mesh.Identity.IWorkloadIdentityProvider? identity = null) =>
        new(_provider.GetRequiredService<IMeterFactory>(), options, identity);
}
