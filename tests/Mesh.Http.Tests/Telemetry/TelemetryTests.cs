using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mesh.Http.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Http.Tests.Telemetry;

/// <summary>The <c>Mesh</c> meter and activity source, observed from outside as an OpenTelemetry exporter would.</summary>
[TestFixture]
public sealed class TelemetryTests
{
    private const string Duration = "mesh.client.request.duration";

    private static readonly ActivitySource TestSource = new("Mesh.Http.Tests");

    private TestBackend _a = null!;
    private TestBackend _b = null!;
    private ConfigurationRoot _configuration = null!;

    [OneTimeSetUp]
    public async Task StartBackends()
    {
        _a = await TestBackend.StartAsync("a", "v1");
        _b = await TestBackend.StartAsync("b", "v1");
        _configuration = TestConfiguration.FromJson($$"""
            { "Mesh": { "Services": { "backend": {
                "Endpoints": [
                  { "Address": "{{_a.Address}}", "Labels": { "version": "v1" } },
                  { "Address": "{{_b.Address}}", "Labels": { "version": "v1" } } ],
                "Subsets": { "v1": { "version": "v1" } },
                "Routes": [ { "Name": "primary", "Destinations": [ { "Subset": "v1" } ] } ] } } } }
            """);
    }

    [OneTimeTearDown]
    public async Task StopBackends()
    {
        _configuration.Dispose();
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Test]
    public async Task SendAsync_Request_RecordsDurationWithMeshAndHttpTags()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration);
        using var duration = new MetricCollector<double>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh", Duration);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/metrics").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        var measurement = duration.GetMeasurementSnapshot().Single();
        Assert.Multiple(() =>
        {
            Assert.That(measurement.Value, Is.GreaterThan(0).And.LessThan(Timeouts.Default.TotalSeconds), "seconds");
            Assert.That(measurement.Tags, Is.EquivalentTo(new Dictionary<string, object?>
            {
                ["mesh.service"] = "backend",
                ["mesh.route"] = "primary",
                ["mesh.cluster"] = "backend/v1",
                ["http.request.method"] = "GET",
                ["http.response.status_code"] = 200,
            }));
        });
    }

    [Test]
    public async Task SendAsync_RecordEndpointInMetrics_AddsServerAddressAndPort()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration, http => http.RecordEndpointInMetrics = true);
        using var duration = new MetricCollector<double>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh", Duration);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.PostAsync("/metrics", new StringContent("x")).WaitAsync(Timeouts.Default);

        // Assert
        var backend = Answered(response);
        var tags = duration.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["http.request.method"], Is.EqualTo("POST"));
            Assert.That(tags["server.address"], Is.EqualTo("127.0.0.1"));
            Assert.That(tags["server.port"], Is.EqualTo(backend.Port));
        });
    }

    [Test]
    public async Task SendAsync_ConnectionRefused_RecordsErrorTypeWithoutStatusCode()
    {
        // Arrange
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = new() { Endpoints = { new() { Address = $"http://127.0.0.1:{TestBackend.GetClosedPort()}" } } });
        using var duration = new MetricCollector<double>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh", Duration);
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh", "mesh.client.requests");
        using var client = mesh.CreateClient();

        // Act
        Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/").WaitAsync(Timeouts.Default));

        // Assert
        var tags = duration.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["error.type"], Is.EqualTo(typeof(HttpRequestException).FullName));
            Assert.That(tags, Does.Not.ContainKey("http.response.status_code"));
            Assert.That(tags["mesh.route"], Is.EqualTo("default"));
            Assert.That(requests.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 1L }));
        });
    }

    [Test]
    public async Task SendAsync_Requests_StartOneSpanEachWithTheChosenEndpoint()
    {
        // Arrange
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Mesh" or "Mesh.Http.Tests",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var mesh = MeshClient.Create(_configuration);
        using var client = mesh.CreateClient();

        // Act: under a parent span, so only this test's spans are counted.
        var answeredBy = new List<TestBackend>();
        ActivityTraceId trace;
        using (var parent = TestSource.StartActivity("test"))
        {
            trace = parent!.TraceId;
            for (var i = 0; i < 4; i++)
            {
                using var response = await client.GetAsync($"/traced/{i}").WaitAsync(Timeouts.Default);
                answeredBy.Add(Answered(response));
            }
        }

        // Assert: spans stop before the response reaches the caller, so they are in request order.
        var mine = stopped.Where(a => a.Source.Name == "Mesh" && a.TraceId == trace).ToList();
        var spans = mine.Where(a => a.OperationName == "mesh.request").ToList();
        Assert.That(spans, Has.Count.EqualTo(4));
        Assert.Multiple(() =>
        {
            for (var i = 0; i < spans.Count; i++)
            {
                var span = spans[i];
                var endpoint = EndpointSpan(span, mine);
                Assert.That(span.ParentSpanId, Is.Not.EqualTo(default(ActivitySpanId)), "a child of the caller's span");
                Assert.That(span.DisplayName, Is.EqualTo("GET backend"));
                Assert.That(span.GetTagItem("mesh.service"), Is.EqualTo("backend"));
                Assert.That(span.GetTagItem("mesh.route"), Is.EqualTo("primary"));
                Assert.That(span.GetTagItem("mesh.cluster"), Is.EqualTo("backend/v1"));
                Assert.That(span.GetTagItem("http.response.status_code"), Is.EqualTo(200));
                Assert.That(span.Status, Is.EqualTo(ActivityStatusCode.Unset));
                Assert.That(endpoint.GetTagItem("server.address"), Is.EqualTo("127.0.0.1"));
                Assert.That(endpoint.GetTagItem("server.port"), Is.EqualTo(answeredBy[i].Port), $"request {i} was answered by {answeredBy[i]}");
            }

            Assert.That(answeredBy.Distinct().Count(), Is.EqualTo(2), "round robin used both endpoints");
        });
    }

    [Test]
    public async Task SendAsync_ConnectionRefused_MarksSpanAsError()
    {
        // Arrange
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Mesh" or "Mesh.Http.Tests",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var port = TestBackend.GetClosedPort();
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = new() { Endpoints = { new() { Address = $"http://127.0.0.1:{port}" } } });
        using var client = mesh.CreateClient();

        // Act
        ActivityTraceId trace;
        using (var parent = TestSource.StartActivity("test"))
        {
            trace = parent!.TraceId;
            Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/").WaitAsync(Timeouts.Default));
        }

        // Assert
        var mine = stopped.Where(a => a.Source.Name == "Mesh" && a.TraceId == trace).ToList();
        var span = mine.Single(a => a.OperationName == "mesh.request");
        Assert.Multiple(() =>
        {
            Assert.That(span.Status, Is.EqualTo(ActivityStatusCode.Error));
            Assert.That(span.GetTagItem("http.response.status_code"), Is.Null);
            Assert.That(EndpointSpan(span, mine).GetTagItem("server.port"), Is.EqualTo(port));
        });
    }

    /// <summary>
    /// The span that names the endpoint of a request: the request span itself, or, where the mesh makes a child
    /// span per attempt (retries, hedging), the last attempt, which is the one that answered.
    /// </summary>
    private static Activity EndpointSpan(Activity request, IReadOnlyList<Activity> spans) =>
        request.GetTagItem("server.address") is not null
            ? request
            : spans.Where(a => a.ParentSpanId == request.SpanId).MaxBy(a => a.StartTimeUtc)
                ?? throw new AssertionException($"span {request.DisplayName} has no server.address and no child span that could carry it");

    private TestBackend Answered(HttpResponseMessage response)
    {
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues(TestBackend.IdHeader).Single() == _a.Id ? _a : _b;
    }
}
