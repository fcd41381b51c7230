using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Benchmarks;

/// <summary>
/// The mesh the routing and handler benchmarks run against: one service, <c>backend</c>, with three
/// endpoints in two subsets and five routes of the usual kinds, tried in order.
/// </summary>
internal static class MeshFixture
{
    public const string Service = "backend";

    /// <summary>A typical request: fails the header and prefix routes, matches the regex route (the third of five).</summary>
    public const string TypicalUrl = "http://backend/api/orders/12345?page=2&size=50";

    /// <summary>A request that no conditional route takes: every condition is evaluated before the catch-all.</summary>
    public const string CatchAllUrl = "http://backend/api/customers/7?page=2&size=50";

    /// <summary>Headers a typical client sends; none of them is one the routes look for.</summary>
    public static readonly (string Name, string Value)[] TypicalHeaders =
    [
        ("Accept", "application/json"),
        ("User-Agent", "Mesh.Benchmarks/1.0"),
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("x-request-id", "5f0c9a1e-8d3b-4c27-9a55-2f1b6f0e4d11"),
    ];

    public static void Configure(MeshOptions options)
    {
        var service = new ServiceOptions
        {
            Endpoints =
            {
                new EndpointOptions { Address = "http://10.0.0.1:8080", Labels = { ["version"] = "v1" } },
                new EndpointOptions { Address = "http://10.0.0.2:8080", Labels = { ["version"] = "v1" } },
                new EndpointOptions { Address = "http://10.0.0.3:8080", Labels = { ["version"] = "v2" } },
            },
            Subsets =
            {
                ["v1"] = new() { ["version"] = "v1" },
                ["v2"] = new() { ["version"] = "v2" },
            },
            Routes =
            {
                new RouteOptions
                {
                    Name = "canary",
                    Match = { new RouteMatchOptions { Headers = { ["x-canary"] = new StringMatchOptions { Exact = "true" } } } },
                    Destinations = { new DestinationOptions { Subset = "v2" } },
                },
                new RouteOptions
                {
                    Name = "admin",
                    Match = { new RouteMatchOptions { PathPrefix = "/admin" } },
                    Destinations = { new DestinationOptions { Subset = "v1" } },
                },
                new RouteOptions
                {
                    Name = "order-by-id",
                    Match = { new RouteMatchOptions { PathRegex = "/api/orders/[0-9]+", Method = "GET" } },
                    Destinations = { new DestinationOptions { Subset = "v1", Weight = 90 }, new DestinationOptions { Subset = "v2", Weight = 10 } },
                },
                new RouteOptions
                {
                    Name = "beta",
                    Match = { new RouteMatchOptions { QueryParams = { ["beta"] = new StringMatchOptions { Exact = "1" } } } },
                    Destinations = { new DestinationOptions { Subset = "v2" } },
                },
                new RouteOptions
                {
                    Name = "default",
                    Destinations = { new DestinationOptions() },
                },
            },
        };
        options.Services[Service] = service;
    }

    /// <summary>
    /// The same mesh with the whole resilience pipeline on every route and cluster: route timeout, retries
    /// with a per-try timeout (and the retry budget), outlier detection, and both cluster breakers.
    /// </summary>
    public static void ConfigureFullPipeline(MeshOptions options)
    {
        Configure(options);
        var service = options.Services[Service];
        foreach (var route in service.Routes)
        {
            route.Timeout = TimeSpan.FromSeconds(10);
            route.Retries = new RetryOptions { Attempts = 2, PerTryTimeout = TimeSpan.FromSeconds(3), RetryOn = "5xx,reset,connect-failure" };
        }

        service.OutlierDetection = new OutlierDetectionOptions();
        service.CircuitBreaker = new CircuitBreakerOptions();
        service.SlowCallBreaker = new SlowCallBreakerOptions();
    }

    /// <summary>Builds the snapshot directly, as <see cref="MeshState"/> does, without a service provider.</summary>
    public static MeshSnapshot BuildSnapshot()
    {
        var options = new MeshOptions();
        Configure(options);
        LoadBalancingPolicy[] policies = [new RoundRobinPolicy(), new RandomPolicy(), new WeightedRoundRobinPolicy(), new WeightedRandomPolicy(), new LeastRequestPolicy(), new RingHashPolicy(), new MaglevPolicy()];
        var result = new MeshSnapshotBuilder(policies, Random.Shared).Build(options, "benchmarks", 1, new Dictionary<string, EndpointState>());
        return result.Snapshot ?? throw new InvalidOperationException(string.Join(Environment.NewLine, result.Errors));
    }
}
