using System.Diagnostics.Metrics;
using System.Net;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Mesh.Http;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Mesh.Benchmarks.Http;

/// <summary>
/// What the mesh adds to one request: an <see cref="HttpMessageInvoker"/> over <see cref="MeshHttpHandler"/>
/// and a no-op transport, against the same invoker over the no-op transport alone. Every operation builds
/// the request as <c>HttpClient.GetAsync(string)</c> does (a new <see cref="Uri"/> and message, plus four
/// headers) in all variants, so the difference to the baseline is the mesh's cost: host lookup, route,
/// cluster and endpoint pick, the rewrite to the endpoint's address, the Host header, and the endpoint's
/// bookkeeping. The request takes the third of five routes (<see cref="MeshFixture"/>).
/// </summary>
/// <remarks>
/// <c>SyncTransport</c>: the transport returns a cached completed task, so the handler never suspends.
/// <c>AsyncTransport</c>: the transport yields first, as a real socket does; the handler's async state
/// machine is then boxed on the heap, which the synchronous variants cannot show.
/// </remarks>
[MemoryDiagnoser]
[BenchmarkCategory("Handler")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class MeshHttpHandlerBenchmarks
{
    private const string Sync = "SyncTransport";
    private const string Async = "AsyncTransport";
    private const string Streamed = "StreamedBody";

    private ServiceProvider? _services;
    private MeterListener? _listener;
    private TracerProvider? _tracing;
    private HttpMessageInvoker _invoker = null!;

    [GlobalSetup(Target = nameof(NoOpHandler))]
    public void SetupNoOp() => _invoker = new HttpMessageInvoker(new CompletedTransport());

    [GlobalSetup(Target = nameof(Mesh_MetricsOff))]
    public void SetupMesh() => _invoker = CreateMeshInvoker(new MeshHttpOptions(), new CompletedTransport());

    [GlobalSetup(Target = nameof(Mesh_MetricsOn))]
    public void SetupMeshWithMetrics()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new CompletedTransport());
        ListenToMeshMetrics();
    }

    [GlobalSetup(Target = nameof(Mesh_IstioMetricsOn))]
    public void SetupMeshWithIstioMetrics()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new CompletedTransport(), istio: true);
        ListenToMeshMetrics();
    }

    [GlobalSetup(Target = nameof(Mesh_MetricsOn_StreamedBody))]
    public void SetupMeshWithMetricsStreamedBody()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new StreamedBodyTransport());
        ListenToMeshMetrics();
    }

    [GlobalSetup(Target = nameof(Mesh_IstioMetricsOn_StreamedBody))]
    public void SetupMeshWithIstioMetricsStreamedBody()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new StreamedBodyTransport(), istio: true);
        ListenToMeshMetrics();
    }

    [GlobalSetup(Target = nameof(Mesh_TelemetryOn_SampledOut))]
    public void SetupMeshWithTelemetrySampledOut()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new CompletedTransport());
        ListenToMeshMetrics();
        _tracing = Sdk.CreateTracerProviderBuilder().AddMeshInstrumentation().SetSampler(new AlwaysOffSampler()).Build();
    }

    [GlobalSetup(Target = nameof(Mesh_TelemetryOn_Sampled))]
    public void SetupMeshWithTelemetrySampled()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new CompletedTransport());
        ListenToMeshMetrics();
        _tracing = Sdk.CreateTracerProviderBuilder().AddMeshInstrumentation().SetSampler(new AlwaysOnSampler()).Build();
    }

    [GlobalSetup(Target = nameof(Mesh_FullPipeline))]
    public void SetupFullPipeline()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new CompletedTransport(), MeshFixture.ConfigureFullPipeline);
        ListenToMeshMetrics();
    }

    [GlobalSetup(Target = nameof(Mesh_FullPipeline_Async))]
    public void SetupFullPipelineAsync()
    {
        _invoker = CreateMeshInvoker(new MeshHttpOptions(), new YieldingTransport(), MeshFixture.ConfigureFullPipeline);
        ListenToMeshMetrics();
    }

    private void ListenToMeshMetrics()
    {
        // Enables the request instruments (and Istio's, when registered), as an OpenTelemetry exporter subscribed to "Mesh.*" would.
        _listener = new MeterListener
        {
            InstrumentPublished = static (instrument, listener) =>
            {
                if (instrument.Meter.Name is MeshTelemetry.Name or IstioMetrics.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
        _listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
        _listener.Start();
    }

    [GlobalSetup(Target = nameof(Mesh_PreserveHostOff))]
    public void SetupMeshWithoutHost() => _invoker = CreateMeshInvoker(new MeshHttpOptions { PreserveHost = false }, new CompletedTransport());

    [GlobalSetup(Target = nameof(NoOpHandler_Async))]
    public void SetupNoOpAsync() => _invoker = new HttpMessageInvoker(new YieldingTransport());

    [GlobalSetup(Target = nameof(Mesh_MetricsOff_Async))]
    public void SetupMeshAsync() => _invoker = CreateMeshInvoker(new MeshHttpOptions(), new YieldingTransport());

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener?.Dispose();
        _tracing?.Dispose();
        _invoker.Dispose();
        _services?.Dispose();
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> NoOpHandler() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    [Benchmark]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> Mesh_MetricsOff() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    [Benchmark]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> Mesh_MetricsOn() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    /// <summary>Metrics on, with Istio's standard metrics (<c>AddIstioMetrics</c>) recorded too; the answer's body length is known.</summary>
    [Benchmark]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> Mesh_IstioMetricsOn() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    /// <summary>Metrics on; each answer is a new response whose body has no known length (the baseline of the next).</summary>
    [Benchmark]
    [BenchmarkCategory(Streamed)]
    public async Task Mesh_MetricsOn_StreamedBody() => await ReadAndDisposeAsync().ConfigureAwait(false);

    /// <summary>As <see cref="Mesh_MetricsOn_StreamedBody"/> with Istio's metrics: the body is counted as it is read, for <c>istio_response_bytes</c>.</summary>
    [Benchmark]
    [BenchmarkCategory(Streamed)]
    public async Task Mesh_IstioMetricsOn_StreamedBody() => await ReadAndDisposeAsync().ConfigureAwait(false);

    /// <summary>Metrics on (as <see cref="Mesh_MetricsOn"/>) and OpenTelemetry tracing of the mesh's sources with every trace sampled out (<c>AlwaysOffSampler</c>, no exporter).</summary>
    [Benchmark]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> Mesh_TelemetryOn_SampledOut() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    /// <summary>The same with every trace sampled in (<c>AlwaysOnSampler</c>, no exporter): what recording the spans costs.</summary>
    [Benchmark]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> Mesh_TelemetryOn_Sampled() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    /// <summary>Without <see cref="MeshHttpOptions.PreserveHost"/>: the part of the cost that is the Host header.</summary>
    [Benchmark]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> Mesh_PreserveHostOff() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    /// <summary>Route timeout, retries with per-try timeout and budget, outlier detection, both breakers, metrics on: the happy path of the whole pipeline.</summary>
    [Benchmark]
    [BenchmarkCategory(Sync)]
    public Task<HttpResponseMessage> Mesh_FullPipeline() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    [Benchmark(Baseline = true)]
    [BenchmarkCategory(Async)]
    public Task<HttpResponseMessage> NoOpHandler_Async() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    [Benchmark]
    [BenchmarkCategory(Async)]
    public Task<HttpResponseMessage> Mesh_MetricsOff_Async() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    [Benchmark]
    [BenchmarkCategory(Async)]
    public Task<HttpResponseMessage> Mesh_FullPipeline_Async() => _invoker.SendAsync(CreateRequest(), CancellationToken.None);

    private static HttpRequestMessage CreateRequest()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(MeshFixture.TypicalUrl));
        foreach (var (name, value) in MeshFixture.TypicalHeaders)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    private async Task ReadAndDisposeAsync()
    {
        using var response = await _invoker.SendAsync(CreateRequest(), CancellationToken.None).ConfigureAwait(false);
        using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
        while (body.Read(_readBuffer) > 0)
        {
        }
    }

    private readonly byte[] _readBuffer = new byte[256];

    private HttpMessageInvoker CreateMeshInvoker(MeshHttpOptions options, HttpMessageHandler transport, Action<Mesh.Configuration.MeshOptions>? configure = null, bool istio = false)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var mesh = services.AddMesh(configure ?? MeshFixture.Configure);
        if (istio)
        {
            mesh.AddIstioMetrics();
        }

        _services = services.BuildServiceProvider();
        var handler = new MeshHttpHandler(
            _services.GetRequiredService<MeshState>(),
            _services.GetRequiredService<MeshTelemetry>(),
            options,
            TimeProvider.System,
            istio: _services.GetService<IstioMetrics>())
        {
            InnerHandler = transport,
        };
        return new HttpMessageInvoker(handler);
    }

    /// <summary>Answers 200 at once with a cached task, so that only the layers above it are measured.</summary>
    private sealed class CompletedTransport : HttpMessageHandler
    {
        private readonly Task<HttpResponseMessage> _response = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => _response;
    }

    /// <summary>Answers 200 at once with a new response whose 100-byte body has no known length (as a chunked answer).</summary>
    private sealed class StreamedBodyTransport : HttpMessageHandler
    {
        private static readonly byte[] Body = new byte[100];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new UnknownLengthStream(Body)) });

        private sealed class UnknownLengthStream(byte[] body) : MemoryStream(body, writable: false)
        {
            public override bool CanSeek => false;
        }
    }

    /// <summary>Answers 200 after yielding to the thread pool, so that the handlers above it complete asynchronously.</summary>
    private sealed class YieldingTransport : HttpMessageHandler
    {
        private readonly HttpResponseMessage _response = new(HttpStatusCode.OK);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await Task.Yield();
            return _response;
        }
    }
}
