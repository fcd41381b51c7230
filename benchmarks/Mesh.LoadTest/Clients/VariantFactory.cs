using System.Net;
using Mesh.Configuration;
using Mesh.LoadTest.Serving;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.LoadTest.Clients;

/// <summary>
/// Builds every variant's client the same way: a container of its own, <c>AddHttpClient</c> with a
/// <see cref="SocketsHttpHandler"/> as primary handler (same settings for all) and an infinite handler lifetime
/// (the factory would otherwise swap handlers, and so connection pools, every two minutes). The mesh variants add
/// <c>services.AddMesh(...)</c> and <c>.AddMesh()</c>; nothing else differs.
/// </summary>
internal static class VariantFactory
{
    public const string Path = "/hello";

    /// <summary>The logical host the mesh variants address.</summary>
    public const string Service = "backend";

    public static Variant Create(VariantKind kind, HttpProtocol protocol, ServerPorts ports, NginxHost? nginx, MeshMetricsListener metrics)
    {
        var backends = ports.Backends(protocol);
        return kind switch
        {
            VariantKind.Plain => CreatePlain(kind, protocol, $"http://127.0.0.1:{backends[0]}"),
            VariantKind.Mesh => CreateMesh(kind, protocol, backends, full: false, metrics),
            VariantKind.MeshFull => CreateMesh(kind, protocol, backends, full: true, metrics),
            VariantKind.Nginx => CreatePlain(kind, protocol, $"http://127.0.0.1:{(nginx ?? throw new InvalidOperationException("nginx is not running")).Port(protocol)}"),
            VariantKind.Yarp => CreatePlain(kind, protocol, $"http://127.0.0.1:{ports.Yarp(protocol)}"),
            _ => CreatePlain(kind, protocol, [.. backends.Select(p => $"http://127.0.0.1:{p}")]),
        };
    }

    private static Variant CreatePlain(VariantKind kind, HttpProtocol protocol, params string[] origins)
    {
        var services = new ServiceCollection();
        AddClient(services, kind, protocol);
        var provider = services.BuildServiceProvider();
        return new Variant(kind, protocol, CreateClient(provider, kind, protocol), [.. origins.Select(o => new Uri(o + Path))], provider);
    }

    private static Variant CreateMesh(VariantKind kind, HttpProtocol protocol, int[] backends, bool full, MeshMetricsListener metrics)
    {
        var services = new ServiceCollection();
        services.AddMesh(o => o.Services[Service] = CreateService(backends, full));
        AddClient(services, kind, protocol).AddMesh();
        var provider = services.BuildServiceProvider();
        var client = CreateClient(provider, kind, protocol);
        if (full)
        {
            // Only this container's meter: the routing-only variant must run with nobody listening, as in an app without metrics.
            metrics.Listen(provider.GetRequiredService<MeshTelemetry>().Meter);
        }

        return new Variant(kind, protocol, client, [new Uri($"http://{Service}{Path}")], provider);
    }

    /// <summary>
    /// The mesh service: the three backends, round robin, and one route (a path-prefix match, so routing really runs).
    /// The full variant adds every resilience feature that costs on the success path: a route timeout, retries with a
    /// per-try timeout, outlier detection and the error-rate circuit breaker (connection-pool limits are always on).
    /// </summary>
    internal static ServiceOptions CreateService(int[] backends, bool full)
    {
        var service = new ServiceOptions { LoadBalancer = new LoadBalancerOptions { Policy = "RoundRobin" } };
        foreach (var port in backends)
        {
            service.Endpoints.Add(new EndpointOptions { Address = $"http://127.0.0.1:{port}" });
        }

        var route = new RouteOptions { Name = "hello", Match = { new RouteMatchOptions { PathPrefix = Path } }, Destinations = { new DestinationOptions() } };
        if (full)
        {
            route.Timeout = TimeSpan.FromSeconds(10);
            route.Retries = new RetryOptions { Attempts = 2, PerTryTimeout = TimeSpan.FromSeconds(5), RetryOn = "5xx,reset,connect-failure" };
            service.OutlierDetection = new OutlierDetectionOptions();
            service.CircuitBreaker = new CircuitBreakerOptions();
        }

        service.Routes.Add(route);
        return service;
    }

    private static IHttpClientBuilder AddClient(IServiceCollection services, VariantKind kind, HttpProtocol protocol) =>
        services.AddHttpClient(Name(kind, protocol), c =>
            {
                c.DefaultRequestVersion = protocol.Version();
                c.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
                c.Timeout = TimeSpan.FromSeconds(30);
            })
            .ConfigurePrimaryHttpMessageHandler(static () => new SocketsHttpHandler
            {
                // Enough connections that the pool never limits a closed loop of 32 (HTTP/1.1 needs one per request in flight).
                MaxConnectionsPerServer = 256,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
                PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
                ConnectTimeout = TimeSpan.FromSeconds(5),
                UseProxy = false,
                UseCookies = false,
                AllowAutoRedirect = false,
                AutomaticDecompression = DecompressionMethods.None,
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);

    private static HttpClient CreateClient(IServiceProvider provider, VariantKind kind, HttpProtocol protocol) =>
        provider.GetRequiredService<IHttpClientFactory>().CreateClient(Name(kind, protocol));

    private static string Name(VariantKind kind, HttpProtocol protocol) => $"{kind.Key()}-{protocol.Key()}";
}
