using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using Grpc.Core;
using Mesh.Configuration;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Routing;
using Mesh.Xds.Server;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Grpc.Tests.Interop;

/// <summary>
/// The interop cases with the configuration delivered by xDS: each case's <see cref="MeshOptions"/> become Envoy
/// resources (<see cref="MeshOptionsToXds"/>) served by the mesh's xDS server engine on Kestrel, over a real ADS
/// stream, to a client registered with <c>AddMesh().AddXds(...)</c> that follows <c>greeter.test:50051</c>.
/// </summary>
/// <remarks>
/// A configuration counts as in force once the client's published snapshot equals, route by route and cluster by
/// cluster, the snapshot the same options give when applied directly (in the form the xDS round trip gives them,
/// see <see cref="MeshOptionsToXds.Normalize"/>). A case whose options xDS cannot express is ignored, with the reason.
/// </remarks>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class XdsConfigInteropTests : GrpcInteropTests
{
    private const string Target = "greeter.test:50051";
    private const string SnapshotKey = "interop";

    /// <summary>Bounds the wait for a configuration to reach the client: generous on a loaded machine, never reached when things work.</summary>
    private static readonly TimeSpan ConfigTimeout = TimeSpan.FromSeconds(15);

    private static readonly FieldInfo MatchesField = typeof(RouteModel).GetField("_matches", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("RouteModel has no _matches field to compare routes by");

    private readonly ConditionalWeakTable<MeshGrpcClient, Delivery> _deliveries = [];
    private readonly ConcurrentQueue<ServerTestHost> _servers = new();

    /// <summary>Set by a test to serve the route configuration inline in the listener instead of over RDS.</summary>
    private bool InlineRoutes { get; set; }

    [TearDown]
    public async Task StopServersAsync()
    {
        // After the test's clients are gone, so that no ADS stream holds the server's shutdown.
        while (_servers.TryDequeue(out var server))
        {
            await server.DisposeAsync();
        }
    }

    private protected override async Task<MeshGrpcClient> StartClientAsync(MeshOptions options)
    {
        var expected = Expect(options);
        var server = await ServerTestHost.StartAsync(o => o.NodeHash = XdsNodeHash.Constant(SnapshotKey));
        _servers.Enqueue(server);
        var delivery = new Delivery(server);
        server.Cache.SetSnapshot(SnapshotKey, delivery.Next(options, InlineRoutes));
        var bootstrap = $$"""
            { "xds_servers": [ { "server_uri": "127.0.0.1:{{server.Address.Port.ToString(CultureInfo.InvariantCulture)}}", "channel_creds": [ { "type": "insecure" } ] } ],
              "node": { "id": "grpc-interop-client", "cluster": "greeter-client" } }
            """;
        var client = MeshGrpcClient.Create(s => s.AddMesh().AddXds(o =>
        {
            o.Targets.Add(Target);
            o.Bootstrap = bootstrap;
        }));
        try
        {
            _deliveries.Add(client, delivery);
            await WaitUntilInForceAsync(client, delivery, expected);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    private protected override async Task ApplyAsync(MeshGrpcClient client, MeshOptions options)
    {
        if (!_deliveries.TryGetValue(client, out var delivery))
        {
            throw new InvalidOperationException("The client was not started by this fixture's StartClientAsync.");
        }

        var expected = Expect(options);
        delivery.Server.Cache.SetSnapshot(SnapshotKey, delivery.Next(options, InlineRoutes));
        await WaitUntilInForceAsync(client, delivery, expected);
    }

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(60_000)]
    public async Task Apply_RoutesWeightsAndEndpointsChange_TheNextCallsFollowTheNewConfiguration(bool inlineRoutes, CancellationToken cancellationToken)
    {
        // Arrange: x-canary "1" goes to "two" (b), the rest to "one" (a).
        InlineRoutes = inlineRoutes;
        await using var a = await TestServer.StartAsync("a");
        await using var b = await TestServer.StartAsync("b");
        await using var c = await TestServer.StartAsync("c");
        var canary = new RouteOptions
        {
            Name = "canary",
            Match = { new RouteMatchOptions { Headers = { ["x-canary"] = new StringMatchOptions { Exact = "1" } } } },
            Destinations = { new DestinationOptions { Cluster = "two" } },
        };
        var rest = new RouteOptions { Name = "default", Destinations = { new DestinationOptions { Cluster = "one" } } };
        await using var mesh = await StartClientAsync(Routed(Cluster(a), Cluster(b), Cluster(c), canary, rest));
        Assert.That(await AnswersAsync(mesh, null, cancellationToken), Is.All.EqualTo("a"));
        Assert.That(await AnswersAsync(mesh, "1", cancellationToken), Is.All.EqualTo("b"));

        // Act 1: x-canary starting with "yes" goes to "three" (c); the rest splits 0/100 between "one" and "two" (b).
        canary = new RouteOptions
        {
            Name = "canary",
            Match = { new RouteMatchOptions { Headers = { ["x-canary"] = new StringMatchOptions { Prefix = "yes" } } } },
            Destinations = { new DestinationOptions { Cluster = "three" } },
        };
        rest = new RouteOptions
        {
            Name = "default",
            Destinations = { new DestinationOptions { Cluster = "one", Weight = 0 }, new DestinationOptions { Cluster = "two", Weight = 100 } },
        };
        await ApplyAsync(mesh, Routed(Cluster(a), Cluster(b), Cluster(c), canary, rest));

        // Assert 1: the first calls after ApplyAsync already follow the new routes.
        Assert.That(await AnswersAsync(mesh, null, cancellationToken), Is.All.EqualTo("b"));
        Assert.That(await AnswersAsync(mesh, "yes-please", cancellationToken), Is.All.EqualTo("c"));

        // Act 2: only the endpoints of "three" change (EDS), from c to a.
        await ApplyAsync(mesh, Routed(Cluster(a), Cluster(b), Cluster(a), canary, rest));

        // Assert 2
        Assert.That(await AnswersAsync(mesh, "yes-please", cancellationToken), Is.All.EqualTo("a"));
    }

    [Test]
    public async Task Converter_EveryConvertibleSetting_ClientGetsTheSameRoutesAndClustersAndFollowsAClusterOnlyChange()
    {
        // Arrange: no backend is called; StartClientAsync and ApplyAsync compare what the client publishes with what
        // the options give when applied directly (routes, matches, policies, endpoints, cluster settings).
        var options = EveryConvertibleSetting(maxRequests: 64);

        // Act + Assert: the client's snapshot equals the expected one, or StartClientAsync fails naming the difference.
        await using var mesh = await StartClientAsync(options);

        // Act + Assert: a change of a cluster's thresholds only (CDS) is in force when ApplyAsync returns.
        await ApplyAsync(mesh, EveryConvertibleSetting(maxRequests: 65));
        Assert.That(mesh.State.Current.TryGetCluster("legacy", out var legacy), Is.True);
        Assert.That(legacy!.State.Settings.MaxRequests, Is.EqualTo(65));
    }

    private static ClusterOptions Cluster(params TestServer[] servers)
    {
        var cluster = new ClusterOptions();
        foreach (var server in servers)
        {
            cluster.Endpoints.Add(new EndpointOptions { Address = server.Address });
        }

        return cluster;
    }

    /// <summary>A mesh using every setting the converter turns into xDS, with endpoints nothing listens on.</summary>
    private static MeshOptions EveryConvertibleSetting(int maxRequests)
    {
        var options = new MeshOptions();
        var service = new ServiceOptions
        {
            Hosts = { "greeter.internal" },
            Endpoints =
            {
                new EndpointOptions { Address = "http://127.0.0.1:1", Labels = { ["version"] = "v1" } },
                new EndpointOptions { Address = "http://127.0.0.1:2", Labels = { ["version"] = "v1" }, Health = EndpointHealth.Unknown },
                new EndpointOptions { Address = "http://127.0.0.1:3", Labels = { ["version"] = "v2" } },
                new EndpointOptions { Address = "http://127.0.0.1:4", Labels = { ["version"] = "v2" }, Health = EndpointHealth.Unhealthy },
            },
            Subsets = { ["v1"] = new() { ["version"] = "v1" }, ["v2"] = new() { ["version"] = "v2" } },
            LoadBalancer = new LoadBalancerOptions { Policy = "RingHash", ConsistentHash = new ConsistentHashOptions { HttpHeaderName = "x-user", MinimumRingSize = 512 } },
            OutlierDetection = new OutlierDetectionOptions
            {
                Consecutive5xxErrors = 3,
                ConsecutiveGatewayErrors = 2,
                Interval = TimeSpan.FromMilliseconds(200),
                BaseEjectionTime = TimeSpan.FromSeconds(1),
                MaxEjectionPercent = 50,
                PanicThresholdPercent = 0,
                SuccessRateStdevFactor = 1.5,
                EnforcingFailurePercentage = 100,
                FailurePercentageThreshold = 60,
            },
        };
        service.Routes.Add(new RouteOptions
        {
            Name = "subsets",
            Match =
            {
                new RouteMatchOptions
                {
                    PathPrefix = "/mesh.test.TestService/",
                    Method = "POST",
                    Headers =
                    {
                        ["x-a"] = new StringMatchOptions { Exact = "A", IgnoreCase = true },
                        ["x-b"] = new StringMatchOptions { Regex = "b[0-9]+" },
                        ["x-c"] = new StringMatchOptions { Present = true },
                    },
                },
                new RouteMatchOptions
                {
                    Path = "/mesh.test.TestService/EmptyCall",
                    Headers = { ["x-d"] = new StringMatchOptions { Absent = true }, ["x-f"] = new StringMatchOptions { Prefix = "f", IgnoreCase = true } },
                    QueryParams = { ["q"] = new StringMatchOptions { Exact = "1" } },
                },
            },
            Destinations = { new DestinationOptions { Subset = "v1", Weight = 30 }, new DestinationOptions { Subset = "v2", Weight = 70 } },
            Timeout = TimeSpan.FromSeconds(5),
            Retries = new RetryOptions
            {
                Attempts = 2,
                RetryOn = "unavailable,cancelled,retriable-status-codes",
                RetriableStatusCodes = { 503 },
                PerTryTimeout = TimeSpan.FromSeconds(1),
                BackoffBaseInterval = TimeSpan.FromMilliseconds(10),
                BackoffMaxInterval = TimeSpan.FromMilliseconds(100),
            },
        });
        service.Routes.Add(new RouteOptions
        {
            Name = "faulty",
            Match = { new RouteMatchOptions { PathRegex = "/mesh\\.test\\..*/Streaming.*", Headers = { ["x-e"] = new StringMatchOptions { Suffix = "z" } } } },
            Destinations = { new DestinationOptions { Cluster = "legacy" } },
            Retries = new RetryOptions { Attempts = 1, RetryOn = "5xx", BackoffBaseInterval = TimeSpan.FromMilliseconds(20) },
            Fault = new FaultOptions
            {
                Delay = new FaultDelayOptions { FixedDelay = TimeSpan.FromMilliseconds(50), Percentage = 12.5 },
                Abort = new FaultAbortOptions { HttpStatus = 429, Percentage = 33.3333 },
            },
        });
        service.Routes.Add(new RouteOptions
        {
            Name = "plain-and-weighted",
            Match = { new RouteMatchOptions { Headers = { ["x-g"] = new StringMatchOptions { Absent = true } } } },
            Destinations = { new DestinationOptions { Cluster = "plain" }, new DestinationOptions { Cluster = "weighted" } },
        });
        service.Routes.Add(new RouteOptions { Destinations = { new DestinationOptions() } });
        options.Services[MeshGrpcClient.Host] = service;
        var legacy = new ClusterOptions
        {
            LoadBalancer = new LoadBalancerOptions { Policy = "LeastRequest" },
            ConnectionPool = new ConnectionPoolOptions { MaxRequests = maxRequests, MaxPendingRequests = 0, MaxRetries = 5, RetryBudgetPercent = 0, MinRetryConcurrency = 1 },
        };
        legacy.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:5", Weight = 1, Locality = "r1/z1" });
        legacy.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:6", Weight = 3, Locality = "r1/z1" });
        legacy.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:7", Weight = 2, Locality = "r1/z2/s" });
        options.Clusters["legacy"] = legacy;
        var plain = new ClusterOptions();
        plain.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:8", Weight = 1 });
        plain.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:9", Weight = 5 });
        options.Clusters["plain"] = plain;
        var weighted = new ClusterOptions { LoadBalancer = new LoadBalancerOptions { Policy = "WeightedRandom" } };
        weighted.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:10", Weight = 2 });
        weighted.Endpoints.Add(new EndpointOptions { Address = "http://127.0.0.1:11", Weight = 2 });
        options.Clusters["weighted"] = weighted;
        options.Clusters["unused"] = new ClusterOptions();
        return options;
    }

    /// <summary>Clusters "one", "two" and "three", and the routes of the service.</summary>
    private static MeshOptions Routed(ClusterOptions one, ClusterOptions two, ClusterOptions three, params RouteOptions[] routes)
    {
        var options = new MeshOptions();
        options.Clusters["one"] = one;
        options.Clusters["two"] = two;
        options.Clusters["three"] = three;
        var service = new ServiceOptions();
        service.Routes.AddRange(routes);
        options.Services[MeshGrpcClient.Host] = service;
        return options;
    }

    /// <summary>The servers that answer ten calls, with the x-canary header when <paramref name="canary"/> is set.</summary>
    private static async Task<List<string>> AnswersAsync(MeshGrpcClient mesh, string? canary, CancellationToken cancellationToken)
    {
        var answers = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var headers = canary is null ? null : new Metadata { { "x-canary", canary } };
            var reply = await mesh.Client.UnaryCallAsync(new SimpleRequest(), headers, cancellationToken: cancellationToken);
            answers.Add(reply.ServerId);
        }

        return answers;
    }

    /// <summary>The signature of the snapshot the options give once through xDS; fails the test when the mesh rejects them.</summary>
    private static string Expect(MeshOptions options)
    {
        MeshOptions normalized;
        try
        {
            normalized = MeshOptionsToXds.Normalize(options, Target);
        }
        catch (NotSupportedException e)
        {
            Assert.Ignore($"The case's configuration cannot be expressed in xDS: {e.Message}");
            throw;
        }

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh();
        using var provider = services.BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var result = state.Apply(normalized, "expected");
        Assert.That(result.Errors, Is.Empty, "the test's configuration, in the form the xDS round trip gives it, must be valid");
        return Signature(result.Snapshot!);
    }

    /// <summary>Waits until the client's snapshot has the expected signature; fails at once when the client rejects (NACKs) a resource.</summary>
    private static async Task WaitUntilInForceAsync(MeshGrpcClient client, Delivery delivery, string expected)
    {
        // Not disposed: a publish racing with the unsubscription may still release it (it holds no wait handle).
        var changed = new SemaphoreSlim(0);
        void OnChanged(MeshSnapshot snapshot) => changed.Release();
        client.State.SnapshotChanged += OnChanged;
        try
        {
            var deadline = DateTime.UtcNow + ConfigTimeout;
            while (true)
            {
                if (Signature(client.State.Current) == expected)
                {
                    return;
                }

                if (delivery.Rejection() is { } nack)
                {
                    Assert.Fail($"The xDS client rejected version {delivery.Version} of the configuration: {nack}");
                }

                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    Assert.Fail($"""
                        The client did not publish the configuration of version {delivery.Version} within {ConfigTimeout.TotalSeconds} s.
                        Expected:
                        {expected}
                        Client's snapshot v{client.State.Current.Version} ({client.State.Current.Source}):
                        {Signature(client.State.Current)}
                        """);
                }

                // Woken by a published snapshot; the short bound only re-checks the server for rejections.
                await changed.WaitAsync(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
            }
        }
        finally
        {
            client.State.SnapshotChanged -= OnChanged;
        }
    }

    /// <summary>
    /// What the client does with requests to the target: its host names; each route's matches, weighted destinations,
    /// timeout, retries and fault; each destination cluster's usable endpoints with their relative weights, its
    /// load-balancing policy and hash key, connection-pool thresholds and outlier detection.
    /// </summary>
    private static string Signature(MeshSnapshot snapshot)
    {
        if (!snapshot.TryGetService(MeshGrpcClient.Host, out var service))
        {
            return "(no service)";
        }

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"hosts {string.Join(", ", service.Hosts.Order(StringComparer.OrdinalIgnoreCase))}");
        var clusters = new SortedDictionary<string, ClusterModel>(StringComparer.Ordinal);
        foreach (var route in service.Routes)
        {
            var destinations = Reduce(route.Destinations.Select(d => d.Weight).ToList());
            text.Append(CultureInfo.InvariantCulture, $"route {route.Name} [{Matches(route)}] ->");
            for (var i = 0; i < route.Destinations.Length; i++)
            {
                var cluster = route.Destinations[i].Cluster;
                clusters[cluster.Name] = cluster;
                text.Append(CultureInfo.InvariantCulture, $" {cluster.Name}*{destinations[i]}");
            }

            var policy = route.Policy;
            text.Append(CultureInfo.InvariantCulture, $"; timeout {policy.Timeout?.ToString() ?? "-"}");
            text.Append(CultureInfo.InvariantCulture, $"; retry {(policy.Retry is { } r ? $"{r.Retries} on {r.RetryOn} [{string.Join(",", r.RetriableStatusCodes.Order())}], per try {r.PerTryTimeout?.ToString() ?? "-"}, backoff {r.BackoffBaseInterval}..{r.BackoffMaxInterval}" : "-")}");
            if (policy.Fault is { } f)
            {
                text.Append(CultureInfo.InvariantCulture, $"; fault delay {(f.HasDelay ? $"{f.Delay}@{Math.Round(f.DelayPercentage, 4)}" : "-")} abort {(f.HasAbort ? $"{f.AbortGrpcStatusOrMapped}@{Math.Round(f.AbortPercentage, 4)}" : "-")}");
            }

            text.AppendLine();
        }

        foreach (var (name, cluster) in clusters)
        {
            var usable = cluster.Endpoints.Where(e => e.IsUsable).OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
            var weights = Reduce(usable.Select(e => e.Weight).ToList());

            // A weighted variant over equal weights is its plain policy, which ignores weights.
            var policy = cluster.PolicyName;
            if (policy is LoadBalancingDefaults.WeightedRoundRobin or LoadBalancingDefaults.WeightedRandom && weights.All(w => w == weights[0]))
            {
                policy = policy.Replace("Weighted", string.Empty, StringComparison.Ordinal);
            }

            var weighted = policy is not (LoadBalancingDefaults.RoundRobin or LoadBalancingDefaults.Random);
            text.AppendLine(CultureInfo.InvariantCulture, $"cluster {name}: {string.Join(", ", usable.Select((e, i) => weighted ? $"{e.Key}*{weights[i]}" : e.Key))}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  {policy}{(cluster.HashPolicy is { } hash ? $" on {hash}" : string.Empty)}; {cluster.State.Settings}; {cluster.Detector?.Settings.ToString() ?? "no outlier detection"}");
        }

        return text.ToString();
    }

    private static string Matches(RouteModel route)
    {
        var matches = (ImmutableArray<RouteMatch>)MatchesField.GetValue(route)!;
        return string.Join(" | ", matches.Select(m =>
        {
            var parts = new List<string>();
            if (m.PathMatcher is { } path)
            {
                parts.Add($"path {path}");
            }

            if (m.Method is { } method)
            {
                parts.Add($"method {method}");
            }

            parts.AddRange(m.Headers.Select(h => $"header {h.Name.ToLowerInvariant()} {h.Matcher}").Order(StringComparer.Ordinal));
            parts.AddRange(m.QueryParameters.Select(q => $"query {q.Name} {q.Matcher}").Order(StringComparer.Ordinal));
            return string.Join(" & ", parts);
        }));
    }

    /// <summary>Weights divided by their greatest common divisor: the shares, whatever the scale.</summary>
    private static List<long> Reduce(List<int> weights)
    {
        long gcd = 0;
        foreach (var weight in weights)
        {
            gcd = Gcd(gcd, weight);
        }

        return [.. weights.Select(w => gcd == 0 ? w : w / gcd)];

        static long Gcd(long x, long y) => y == 0 ? x : Gcd(y, x % y);
    }

    /// <summary>The xDS server of one client and the versions it served.</summary>
    private sealed class Delivery(ServerTestHost server)
    {
        private int _version;

        public ServerTestHost Server { get; } = server;

        public string Version => Volatile.Read(ref _version).ToString(CultureInfo.InvariantCulture);

        public XdsResourceSnapshot Next(MeshOptions options, bool inlineRoutes)
        {
            var version = Interlocked.Increment(ref _version).ToString(CultureInfo.InvariantCulture);
            return MeshOptionsToXds.ToSnapshot(options, Target, version, inlineRoutes);
        }

        /// <summary>The client's rejection of the last response of a type, with its error, if any.</summary>
        public string? Rejection()
        {
            foreach (var client in Server.Cache.Clients)
            {
                foreach (var type in client.Types)
                {
                    if (type.IsRejected)
                    {
                        return $"{type.TypeUrl} version {type.LastNack!.Version}: {type.LastNack.ErrorMessage}";
                    }
                }
            }

            return null;
        }
    }
}
