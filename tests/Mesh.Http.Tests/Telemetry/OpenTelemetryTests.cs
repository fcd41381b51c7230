using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Mesh.Configuration;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Mesh.Http.Tests.Telemetry;

/// <summary>
/// <c>AddMeshInstrumentation()</c> with the real OpenTelemetry SDK and its in-memory exporter: the exact span tree of
/// retried and hedged requests, the W3C context each attempt carries to its endpoint, and the exported metrics.
/// </summary>
[TestFixture]
public sealed class OpenTelemetryTests
{
    private const string HttpClientSource = "System.Net.Http";

    /// <remarks>
    /// HttpClient writes <c>traceparent</c> from a span of its own (<c>System.Net.Http.HttpRequestOut</c>), which it starts
    /// under <see cref="Activity.Current"/> (here the attempt's span) even when nothing listens to its source, so that the
    /// server's span is a child of the HTTP call. Registered with <c>AddSource("System.Net.Http")</c> (as
    /// OpenTelemetry's HTTP instrumentation does), that span is exported as the attempt's only child; otherwise it is
    /// never exported and the header carries a span id under the request's trace id that no exported span has.
    /// </remarks>
    [TestCase(false)]
    [TestCase(true)]
    public async Task AddMeshInstrumentation_RetriedRequest_ExportsOneRequestSpanWithTwoSiblingAttempts(bool httpClientSpans)
    {
        // Arrange: whichever endpoint gets the first attempt answers 503; the retry goes to the endpoint not yet tried.
        var script = new Script(first: Behavior.Unavailable);
        await using var a = await TracingBackend.StartAsync(script.Next);
        await using var b = await TracingBackend.StartAsync(script.Next);
        var exported = new Exported<Activity>();
        var builder = Sdk.CreateTracerProviderBuilder()
            .SetSampler(new AlwaysOnSampler())
            .AddMeshInstrumentation()
            .AddInMemoryExporter(exported);
        if (httpClientSpans)
        {
            builder.AddSource(HttpClientSource);
        }

        using var tracing = builder.Build();
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = new()
        {
            Endpoints = { new() { Address = a.Address }, new() { Address = b.Address } },
            Routes = { new() { Name = "retried", Destinations = { new() }, Retries = new() { Attempts = 1, RetryOn = "5xx" } } },
        });
        using var client = mesh.CreateClient();

        // Act: under a parent that no listener samples, so this test's spans are told apart by its trace id.
        using var parent = new Activity("test").SetIdFormat(ActivityIdFormat.W3C).Start();
        using var response = await client.GetAsync("/retried").WaitAsync(Timeouts.Default);
        parent.Stop();

        // Assert
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var spans = Spans(exported, parent.TraceId);
        TestContext.Out.WriteLine(Describe(spans));
        var request = spans.Single(s => s.OperationName == "mesh.request");
        var attempts = spans.Where(s => s.OperationName == "mesh.attempt").OrderBy(s => (int)s.GetTagItem("mesh.attempt")!).ToList();
        var httpSpans = spans.Where(s => s.Source.Name == HttpClientSource).ToList();
        var seen = a.Seen.Concat(b.Seen).OrderBy(s => s.Sequence).ToList();
        TestContext.Out.WriteLine(string.Join(Environment.NewLine, seen));
        Assert.That(attempts, Has.Count.EqualTo(2));
        Assert.That(seen, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(spans, Has.Count.EqualTo(httpClientSpans ? 5 : 3), "nothing else is exported");
            Assert.That(request.Source.Name, Is.EqualTo(MeshTelemetry.Name));
            Assert.That(request.Kind, Is.EqualTo(ActivityKind.Internal));
            Assert.That(request.DisplayName, Is.EqualTo("GET backend"));
            Assert.That(request.ParentSpanId, Is.EqualTo(parent.SpanId));
            Assert.That(request.Status, Is.EqualTo(ActivityStatusCode.Unset));
            Assert.That(request.TagObjects, Is.EquivalentTo(new Dictionary<string, object?>
            {
                ["mesh.service"] = "backend",
                ["mesh.route"] = "retried",
                ["mesh.cluster"] = "backend",
                ["http.response.status_code"] = 200,
            }));
            Assert.That(request.Events.Select(e => e.Name), Is.EqualTo(new[] { "mesh.retry" }));
            Assert.That(request.Events.Single().Tags.First(t => t.Key == "mesh.attempt").Value, Is.EqualTo(1), "the retry follows attempt 1");

            Assert.That(attempts.Select(s => s.ParentSpanId), Has.All.EqualTo(request.SpanId), "attempts are siblings under the request span");
            Assert.That(attempts.Select(s => s.Kind), Has.All.EqualTo(ActivityKind.Internal));
            Assert.That(attempts.Select(s => s.DisplayName), Has.All.EqualTo("mesh.attempt"));
            Assert.That(attempts.Select(s => s.Status), Has.All.EqualTo(ActivityStatusCode.Unset));
            Assert.That(attempts.Select(s => s.Events.Count()), Has.All.EqualTo(0));
            Assert.That(attempts.Select(s => s.GetTagItem("mesh.attempt")), Is.EqualTo(new object[] { 0, 1 }));
            Assert.That(attempts.Select(s => s.GetTagItem("http.response.status_code")), Is.EqualTo(new object[] { 503, 200 }));
            Assert.That(attempts.Select(s => s.GetTagItem("server.address")), Has.All.EqualTo("127.0.0.1"));
            Assert.That(attempts[0].GetTagItem("server.port"), Is.Not.EqualTo(attempts[1].GetTagItem("server.port")), "the retry avoids the endpoint already tried");

            for (var i = 0; i < attempts.Count; i++)
            {
                Assert.That(seen[i].Port, Is.EqualTo(attempts[i].GetTagItem("server.port")), $"attempt {i} went to the endpoint on its span");
                var context = ActivityContext.Parse(seen[i].TraceParent!, null);
                Assert.That(context.TraceId, Is.EqualTo(request.TraceId), $"trace of attempt {i}");
                if (httpClientSpans)
                {
                    var http = httpSpans.Single(s => s.ParentSpanId == attempts[i].SpanId);
                    Assert.That(http.Kind, Is.EqualTo(ActivityKind.Client));
                    Assert.That(seen[i].TraceParent, Is.EqualTo($"00-{request.TraceId}-{http.SpanId}-01"), $"traceparent of attempt {i}: its HttpClient span");
                }
                else
                {
                    Assert.That(spans.Select(s => s.SpanId), Does.Not.Contain(context.SpanId), $"attempt {i}: HttpClient's unexported span");
                }
            }

            Assert.That(seen[0].TraceParent, Is.Not.EqualTo(seen[1].TraceParent), "each attempt carries its own context");
            Assert.That(httpSpans, Has.Count.EqualTo(httpClientSpans ? 2 : 0));
        });
    }

    [Test]
    public async Task SendAsync_RetriedRequestWithCallersTraceparent_KeepsTheCallersContextOnEveryAttempt()
    {
        // Arrange: a context the caller wrote itself is the caller's choice, and HttpClient leaves it in place.
        var script = new Script(first: Behavior.Unavailable);
        await using var a = await TracingBackend.StartAsync(script.Next);
        await using var b = await TracingBackend.StartAsync(script.Next);
        using var tracing = Sdk.CreateTracerProviderBuilder().SetSampler(new AlwaysOnSampler()).AddMeshInstrumentation().AddInMemoryExporter(new Exported<Activity>()).Build();
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = new()
        {
            Endpoints = { new() { Address = a.Address }, new() { Address = b.Address } },
            Routes = { new() { Name = "retried", Destinations = { new() }, Retries = new() { Attempts = 1, RetryOn = "5xx" } } },
        });
        using var client = mesh.CreateClient();
        const string Callers = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        using var message = new HttpRequestMessage(HttpMethod.Get, "/retried") { Headers = { { "traceparent", Callers } } };

        // Act
        using var response = await client.SendAsync(message).WaitAsync(Timeouts.Default);

        // Assert
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(a.Seen.Concat(b.Seen).Select(s => s.TraceParent), Is.EqualTo(new[] { Callers, Callers }));
    }

    [Test]
    public async Task AddMeshInstrumentation_HedgedRequest_ExportsHedgedAttemptsAsSiblings()
    {
        // Arrange: one endpoint holds every request until the client gives up, the other answers at once.
        await using var slow = await TracingBackend.StartAsync(static () => Behavior.Hold);
        await using var fast = await TracingBackend.StartAsync(static () => Behavior.Ok);
        var exported = new Exported<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .SetSampler(new AlwaysOnSampler())
            .AddMeshInstrumentation()
            .AddInMemoryExporter(exported)
            .Build();
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = new()
        {
            Endpoints = { new() { Address = slow.Address }, new() { Address = fast.Address } },
            Routes = { new() { Name = "hedged", Destinations = { new() }, Hedging = new() { Delay = TimeSpan.FromMilliseconds(20), MaxAttempts = 2 } } },
        });
        using var client = mesh.CreateClient();

        // Act: round robin sends the first attempt of one of two consecutive requests to the slow endpoint, which is
        // hedged; a request whose first attempt went to the fast endpoint may end without a hedge.
        Activity? hedgedRequest = null;
        for (var i = 0; i < 4 && hedgedRequest is null; i++)
        {
            using var parent = new Activity("test").SetIdFormat(ActivityIdFormat.W3C).Start();
            using var response = await client.GetAsync("/hedged").WaitAsync(Timeouts.Default);
            parent.Stop();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            var request = Spans(exported, parent.TraceId).Single(s => s.OperationName == "mesh.request");
            hedgedRequest = request.Events.Any() ? request : null;
        }

        // Assert: the losing attempt's span stops when its cancellation has run through, which may be after the response.
        Assert.That(hedgedRequest, Is.Not.Null, "a request was hedged");
        var trace = hedgedRequest!.TraceId;
        await Poll.UntilAsync(() => Spans(exported, trace).Count >= 3, "the request span and both attempt spans are exported");
        var spans = Spans(exported, trace);
        TestContext.Out.WriteLine(Describe(spans));
        var attempts = spans.Where(s => s.OperationName == "mesh.attempt").OrderBy(s => (int)s.GetTagItem("mesh.attempt")!).ToList();
        var held = attempts.Single(s => Equals(s.GetTagItem("server.port"), slow.Port));
        var answered = attempts.Single(s => Equals(s.GetTagItem("server.port"), fast.Port));
        var seen = slow.Seen.Concat(fast.Seen).Where(s => ActivityContext.Parse(s.TraceParent!, null).TraceId == trace).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(spans.Select(s => s.OperationName), Is.EquivalentTo(new[] { "mesh.request", "mesh.attempt", "mesh.attempt" }));
            Assert.That(hedgedRequest.DisplayName, Is.EqualTo("GET backend"));
            Assert.That(hedgedRequest.GetTagItem("mesh.route"), Is.EqualTo("hedged"));
            Assert.That(hedgedRequest.GetTagItem("http.response.status_code"), Is.EqualTo(200));
            Assert.That(hedgedRequest.Status, Is.EqualTo(ActivityStatusCode.Unset));
            Assert.That(hedgedRequest.Events.Select(e => e.Name), Is.EqualTo(new[] { "mesh.hedge" }));
            Assert.That(attempts.Select(s => s.ParentSpanId), Has.All.EqualTo(hedgedRequest.SpanId), "hedged attempts are siblings under the request span");
            Assert.That(attempts.Select(s => s.GetTagItem("mesh.attempt")), Is.EqualTo(new object[] { 0, 1 }));
            Assert.That(held.GetTagItem("http.response.status_code"), Is.Null, "the held attempt never got a response");
            Assert.That(held.Status, Is.EqualTo(ActivityStatusCode.Error), "the held attempt was cancelled");
            Assert.That(answered.GetTagItem("http.response.status_code"), Is.EqualTo(200));
            Assert.That(answered.Status, Is.EqualTo(ActivityStatusCode.Unset));
            Assert.That(seen.Select(s => s.Port), Is.EquivalentTo(new[] { slow.Port, fast.Port }), "each endpoint got one attempt of this trace");
            Assert.That(seen.Select(s => s.TraceParent).Distinct().Count(), Is.EqualTo(2), "each attempt carries its own context");
        });
    }

    [Test]
    public async Task AddMeshInstrumentation_MeterProvider_ExportsRequestDurationInSecondsWithDocumentedTags()
    {
        // Arrange
        await using var backend = await TracingBackend.StartAsync(static () => Behavior.Ok);
        var exported = new List<Metric>();
        using var metrics = Sdk.CreateMeterProviderBuilder()
            .AddMeshInstrumentation()
            .AddInMemoryExporter(exported)
            .Build();
        await using var mesh = MeshClient.Create(o => o.Services["backend"] = new()
        {
            Endpoints = { new() { Address = backend.Address } },
            Routes = { new() { Name = "measured", Destinations = { new() } } },
        });
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/measured").WaitAsync(Timeouts.Default);
        Assert.That(metrics.ForceFlush((int)Timeouts.Default.TotalMilliseconds), Is.True, "flushed");

        // Assert
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var duration = exported.Single(m => m.Name == "mesh.client.request.duration");
        var points = new List<MetricPoint>();
        foreach (ref readonly var point in duration.GetMetricPoints())
        {
            points.Add(point);
        }

        var tags = new Dictionary<string, object?>();
        foreach (var tag in points.Single().Tags)
        {
            tags[tag.Key] = tag.Value;
        }

        Assert.Multiple(() =>
        {
            Assert.That(duration.MeterName, Is.EqualTo(MeshTelemetry.Name));
            Assert.That(duration.Unit, Is.EqualTo("s"));
            Assert.That(duration.MetricType, Is.EqualTo(MetricType.Histogram));
            Assert.That(points.Single().GetHistogramCount(), Is.EqualTo(1));
            Assert.That(points.Single().GetHistogramSum(), Is.GreaterThan(0).And.LessThan(Timeouts.Default.TotalSeconds));
            Assert.That(tags, Is.EquivalentTo(new Dictionary<string, object?>
            {
                ["mesh.service"] = "backend",
                ["mesh.route"] = "measured",
                ["mesh.cluster"] = "backend",
                ["http.request.method"] = "GET",
                ["http.response.status_code"] = 200,
            }));
            Assert.That(exported.Select(m => m.Name), Does.Contain("mesh.client.requests"));
        });
    }

    [Test]
    public void AddMeshInstrumentation_OtherMeshSourceAndMeter_AreRegisteredByWildcard()
    {
        // Arrange: a source and a meter named as a transport package names its own (Mesh.Grpc), created here so the
        // wildcard is checked without a reference to that package.
        const string Name = "Mesh.WildcardCheck";
        var spans = new Exported<Activity>();
        var metrics = new List<Metric>();
        using var tracing = Sdk.CreateTracerProviderBuilder().SetSampler(new AlwaysOnSampler()).AddMeshInstrumentation().AddInMemoryExporter(spans).Build();
        using var metering = Sdk.CreateMeterProviderBuilder().AddMeshInstrumentation().AddInMemoryExporter(metrics).Build();
        using var source = new ActivitySource(Name);
        using var meter = new Meter(Name);
        using var unrelated = new ActivitySource("MeshUnrelated");

        // Act
        using (source.StartActivity("wildcard.span"))
        {
        }

        Assert.That(unrelated.HasListeners(), Is.False, "a name that only starts with Mesh is not registered");
        meter.CreateCounter<long>("wildcard.count").Add(1);
        metering.ForceFlush((int)Timeouts.Default.TotalMilliseconds);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(spans.Select(s => s.OperationName), Is.EqualTo(new[] { "wildcard.span" }));
            Assert.That(metrics.Select(m => m.Name), Does.Contain("wildcard.count"));
        });
    }

    private static List<Activity> Spans(Exported<Activity> exported, ActivityTraceId trace) => exported.Where(s => s.TraceId == trace).ToList();

    private static string Describe(IEnumerable<Activity> spans) => string.Join(
        Environment.NewLine,
        spans.OrderBy(s => s.StartTimeUtc).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.OperationName} {s.SpanId} parent {s.ParentSpanId} status {s.Status} tags {string.Join(", ", s.TagObjects.Select(t => $"{t.Key}={t.Value}"))} events {string.Join(", ", s.Events.Select(e => e.Name))}")));

    /// <summary>
    /// The exporter's list: a span may be exported on another thread while a test reads (a cancelled hedge stops
    /// after the response), so every access takes a lock and enumeration reads a copy.
    /// </summary>
    private sealed class Exported<T> : ICollection<T>
    {
        private readonly List<T> _items = [];

        public int Count
        {
            get
            {
                lock (_items)
                {
                    return _items.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public void Add(T item)
        {
            lock (_items)
            {
                _items.Add(item);
            }
        }

        public void Clear()
        {
            lock (_items)
            {
                _items.Clear();
            }
        }

        public bool Contains(T item)
        {
            lock (_items)
            {
                return _items.Contains(item);
            }
        }

        public void CopyTo(T[] array, int arrayIndex)
        {
            lock (_items)
            {
                _items.CopyTo(array, arrayIndex);
            }
        }

        public bool Remove(T item)
        {
            lock (_items)
            {
                return _items.Remove(item);
            }
        }

        public IEnumerator<T> GetEnumerator()
        {
            lock (_items)
            {
                return _items.ToList().GetEnumerator();
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private enum Behavior
    {
        Ok,
        Unavailable,
        Hold,
    }

    /// <summary>What the first request that reaches any backend of a test gets; every later one is answered 200.</summary>
    private sealed class Script(Behavior first)
    {
        private int _requests;

        public Behavior Next() => Interlocked.Increment(ref _requests) == 1 ? first : Behavior.Ok;
    }

    private sealed record SeenRequest(long Sequence, int Port, string? TraceParent);

    /// <summary>A Kestrel backend on 127.0.0.1 that records the <c>traceparent</c> header of each request.</summary>
    private sealed class TracingBackend : IAsyncDisposable
    {
        private static long _sequence;

        private readonly WebApplication _app;
        private readonly ConcurrentQueue<SeenRequest> _seen = new();
        private readonly Func<Behavior> _behavior;

        private TracingBackend(Func<Behavior> behavior)
        {
            _behavior = behavior;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
            builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(5));
            _app = builder.Build();
            _app.Run(HandleAsync);
        }

        public int Port { get; private set; }

        public string Address => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}");

        public IReadOnlyList<SeenRequest> Seen => [.. _seen];

        public static async Task<TracingBackend> StartAsync(Func<Behavior> behavior)
        {
            var backend = new TracingBackend(behavior);
            await backend._app.StartAsync().WaitAsync(Timeouts.Default);
            var addresses = backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
            backend.Port = new Uri(addresses.Single()).Port;
            return backend;
        }

        public async ValueTask DisposeAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _app.StopAsync(cts.Token).WaitAsync(Timeouts.Default);
            await _app.DisposeAsync().AsTask().WaitAsync(Timeouts.Default);
        }

        private async Task HandleAsync(HttpContext context)
        {
            _seen.Enqueue(new SeenRequest(Interlocked.Increment(ref _sequence), Port, context.Request.Headers.TraceParent.ToString()));
            switch (_behavior())
            {
                case Behavior.Unavailable:
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    break;
                case Behavior.Hold:
                    // Until the client cancels the attempt (the hedge answered), or the server stops.
                    await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted).ContinueWith(static _ => { }, TaskScheduler.Default);
                    return;
            }

            await context.Response.WriteAsync("ok", context.RequestAborted);
        }
    }
}
