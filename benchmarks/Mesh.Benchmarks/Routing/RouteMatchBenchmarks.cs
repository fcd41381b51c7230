using BenchmarkDotNet.Attributes;
using Mesh.Http;
using Mesh.Model;

namespace Mesh.Benchmarks.Routing;

/// <summary>
/// <see cref="ServiceModel.SelectRoute"/> over the five routes of <see cref="MeshFixture"/> (header exact,
/// path prefix, method + path regex, query exact, catch-all), for a request that the regex route takes
/// and one that falls through to the catch-all. Each runs through a plain struct and through
/// <see cref="HttpRequestView"/> over a reused <see cref="HttpRequestMessage"/> (so its <see cref="Uri"/>
/// has already cached its path and query, as after the handler's host lookup).
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory("Route")]
public class RouteMatchBenchmarks
{
    private ServiceModel _service = null!;
    private BenchmarkRequest _typical;
    private BenchmarkRequest _catchAll;
    private HttpRequestMessage _typicalMessage = null!;
    private HttpRequestMessage _catchAllMessage = null!;

    [GlobalSetup]
    public void Setup()
    {
        if (!MeshFixture.BuildSnapshot().TryGetService(MeshFixture.Service, out var service))
        {
            throw new InvalidOperationException("the fixture has no service 'backend'");
        }

        _service = service;
        _typical = new BenchmarkRequest("GET", new Uri(MeshFixture.TypicalUrl), MeshFixture.TypicalHeaders);
        _catchAll = new BenchmarkRequest("GET", new Uri(MeshFixture.CatchAllUrl), MeshFixture.TypicalHeaders);
        _typicalMessage = CreateMessage(MeshFixture.TypicalUrl);
        _catchAllMessage = CreateMessage(MeshFixture.CatchAllUrl);

        // Fail fast if the fixture does not route as the benchmark names say.
        Expect(Struct_Typical(), "order-by-id");
        Expect(Struct_CatchAll(), "default");
        Expect(HttpRequestView_Typical(), "order-by-id");
        Expect(HttpRequestView_CatchAll(), "default");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _typicalMessage.Dispose();
        _catchAllMessage.Dispose();
    }

    [Benchmark]
    public RouteModel? Struct_Typical() => _service.SelectRoute(ref _typical);

    [Benchmark]
    public RouteModel? Struct_CatchAll() => _service.SelectRoute(ref _catchAll);

    [Benchmark]
    public RouteModel? HttpRequestView_Typical()
    {
        var view = new HttpRequestView(_typicalMessage);
        return _service.SelectRoute(ref view);
    }

    [Benchmark]
    public RouteModel? HttpRequestView_CatchAll()
    {
        var view = new HttpRequestView(_catchAllMessage);
        return _service.SelectRoute(ref view);
    }

    private static HttpRequestMessage CreateMessage(string url)
    {
        var message = new HttpRequestMessage(HttpMethod.Get, new Uri(url));
        foreach (var (name, value) in MeshFixture.TypicalHeaders)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        return message;
    }

    private static void Expect(RouteModel? route, string name)
    {
        if (route?.Name != name)
        {
            throw new InvalidOperationException($"expected route '{name}', got '{route?.Name ?? "(none)"}'");
        }
    }
}
