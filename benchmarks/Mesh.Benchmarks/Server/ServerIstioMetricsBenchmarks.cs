using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Mesh.AspNetCore.Telemetry;
using Mesh.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Benchmarks.Server;

/// <summary>
/// The server-side cost of Istio's metrics (<c>UseMeshIstioMetrics()</c>) per request: the middleware around a handler
/// that reads a 100-byte body and writes 100 bytes, against the same handler without it; an exporter's listener
/// enabled on the <c>Mesh.Istio</c> meter.
/// </summary>
[MemoryDiagnoser]
public class ServerIstioMetricsBenchmarks
{
    private static readonly byte[] Body = new byte[100];
    private readonly byte[] _buffer = new byte[256];
    private ServiceProvider _services = null!;
    private MeterListener _listener = null!;
    private RequestDelegate _plain = null!;
    private RequestDelegate _measured = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddMesh().AddIstioMetrics(o => o.SourceWorkload = "backend-v1");
        _services = services.BuildServiceProvider();
        _listener = new MeterListener
        {
            InstrumentPublished = static (instrument, listener) =>
            {
                if (instrument.Meter.Name == IstioMetrics.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
        _listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
        _listener.Start();
        _plain = Handle;
        _measured = new MeshIstioMetricsMiddleware(Handle, _services.GetRequiredService<IstioMetrics>()).InvokeAsync;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener.Dispose();
        _services.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task Handler() => _plain(CreateContext());

    [Benchmark]
    public Task Handler_IstioMetrics() => _measured(CreateContext());

    private static DefaultHttpContext CreateContext()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Host = new HostString("backend.shop.svc.cluster.local");
        context.Request.Body = new MemoryStream(Body, writable: false);
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(Stream.Null));
        return context;
    }

    private async Task Handle(HttpContext context)
    {
        while (await context.Request.Body.ReadAsync(_buffer).ConfigureAwait(false) > 0)
        {
        }

        await context.Response.Body.WriteAsync(Body).ConfigureAwait(false);
    }
}
