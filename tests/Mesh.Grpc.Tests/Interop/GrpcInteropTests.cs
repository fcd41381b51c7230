using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Mesh.Configuration;
using Mesh.Grpc.Tests.Infrastructure;

namespace Mesh.Grpc.Tests.Interop;

/// <summary>
/// gRPC's xDS interop test cases (grpc/grpc <c>doc/xds-test-descriptions.md</c>) against real gRPC servers, each with
/// its pass criterion. The mesh configuration of every case is written once as <see cref="MeshOptions"/> (named
/// clusters, routes to them); a subclass delivers it to the client: as static configuration, or through an xDS server.
/// </summary>
/// <remarks>
/// Every configuration has the shape an xDS server can send: named <see cref="MeshOptions.Clusters"/> with their
/// endpoints and per-cluster settings (load balancing, connection pool, outlier detection), and the routes of
/// <see cref="MeshGrpcClient.Host"/> (match, timeout, retries, fault) whose destinations name those clusters.
/// </remarks>
public abstract class GrpcInteropTests
{
    private const string UnaryPath = "/mesh.test.TestService/UnaryCall";
    private const string EmptyPath = "/mesh.test.TestService/EmptyCall";
    private const string StreamingPath = "/mesh.test.TestService/StreamingOutputCall";

    /// <summary>The bound of one call that is expected to end by itself; it only keeps a broken client from hanging a test.</summary>
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(10);

    /// <summary>How long a test waits for something eventually true (all backends connected, an ejection, a reconnection).</summary>
    private static readonly TimeSpan WaitBound = TimeSpan.FromSeconds(15);

    private enum Rpc
    {
        Unary,
        Empty,
    }

    /// <summary>Starts a client of <see cref="MeshGrpcClient.Address"/> whose mesh has <paramref name="options"/> in force.</summary>
    private protected abstract Task<MeshGrpcClient> StartClientAsync(MeshOptions options);

    /// <summary>Replaces the configuration of a started client and returns once the client has it in force.</summary>
    private protected abstract Task ApplyAsync(MeshGrpcClient client, MeshOptions options);

    // ping_pong: every backend gets calls, none fail.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCalls_ThreeBackendsInOneCluster_EveryBackendAnswersAndNoneFail(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("a", "b", "c");
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers.All);
        Routes(options).Add(RouteTo("main"));
        await using var client = await StartClientAsync(options);

        // Act
        var results = await RunAsync(100, 4, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken));

        // Assert
        var byServer = CountByServer(results);
        TestContext.Out.WriteLine($"ping_pong: {Describe(byServer)}; failures {results.Count(r => !r.Ok)}");
        Assert.Multiple(() =>
        {
            Assert.That(results.Where(r => !r.Ok), Is.Empty, "failed calls");
            Assert.That(byServer.Keys, Is.EquivalentTo(new[] { "a", "b", "c" }), "servers that answered");
        });
    }

    // round_robin: each of N backends gets 100/N ± 1 of 100 calls.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCalls_RoundRobinOverFourBackends_EachGetsAQuarterWithinOne(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("a", "b", "c", "d");
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers.All, c => c.LoadBalancer = new LoadBalancerOptions { Policy = "RoundRobin" });
        Routes(options).Add(RouteTo("main"));
        await using var client = await StartClientAsync(options);

        // The interop driver also waits until every backend has answered: round robin covers the backends it can reach.
        await WaitUntilAllAnswerAsync(client, servers, cancellationToken);
        servers.ResetCounters();

        // Act: one call after the other, so the order of picks is the order of arrival.
        var results = await RunAsync(100, 1, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken));

        // Assert
        var byServer = CountByServer(results);
        TestContext.Out.WriteLine($"round_robin over 100 calls: {Describe(byServer)}");
        Assert.Multiple(() =>
        {
            Assert.That(results.Where(r => !r.Ok), Is.Empty, "failed calls");
            foreach (var server in servers.All)
            {
                Assert.That(byServer.GetValueOrDefault(server.Id), Is.InRange(24, 26), $"calls answered by {server.Id}");
            }
        });
    }

    // traffic_splitting: a route splitting 20/80 between two clusters, each share within ±5 % of the calls.
    [Test]
    [CancelAfter(60_000)]
    public async Task UnaryCalls_RouteSplits20To80BetweenClusters_SharesWithinFivePercent(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("a", "b");
        var options = new MeshOptions();
        options.Clusters["cluster-20"] = Cluster(servers["a"]);
        options.Clusters["cluster-80"] = Cluster(servers["b"]);
        Routes(options).Add(new RouteOptions
        {
            Destinations = { new DestinationOptions { Cluster = "cluster-20", Weight = 20 }, new DestinationOptions { Cluster = "cluster-80", Weight = 80 } },
        });
        await using var client = await StartClientAsync(options);
        await WaitUntilAllAnswerAsync(client, servers, cancellationToken);

        // Act
        const int Calls = 1_000;
        var results = await RunAsync(Calls, 8, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken));

        // Assert
        var byServer = CountByServer(results);
        var share20 = (double)byServer.GetValueOrDefault("a") / Calls;
        var share80 = (double)byServer.GetValueOrDefault("b") / Calls;
        TestContext.Out.WriteLine($"traffic_splitting over {Calls} calls: cluster-20 {share20:P1}, cluster-80 {share80:P1}");
        Assert.Multiple(() =>
        {
            Assert.That(results.Where(r => !r.Ok), Is.Empty, "failed calls");
            Assert.That(share20, Is.EqualTo(0.20).Within(0.05), "share of cluster-20");
            Assert.That(share80, Is.EqualTo(0.80).Within(0.05), "share of cluster-80");
        });
    }

    // path_matching: an exact path and a path prefix each route to their cluster; other methods take the default route.
    [Test]
    [CancelAfter(30_000)]
    public async Task Calls_RoutesMatchExactPathAndPathPrefix_EachMethodReachesItsCluster(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("default", "exact", "prefix");
        var options = new MeshOptions();
        options.Clusters["default"] = Cluster(servers["default"]);
        options.Clusters["exact"] = Cluster(servers["exact"]);
        options.Clusters["prefix"] = Cluster(servers["prefix"]);
        var routes = Routes(options);
        routes.Add(RouteTo("exact", new RouteMatchOptions { Path = EmptyPath }));
        routes.Add(RouteTo("prefix", new RouteMatchOptions { PathPrefix = "/mesh.test.TestService/Streaming" }));
        routes.Add(RouteTo("default"));
        await using var client = await StartClientAsync(options);

        // Act
        var empty = await RunAsync(10, 1, _ => CallAsync(client, Rpc.Empty, cancellationToken: cancellationToken));
        var unary = await RunAsync(10, 1, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken));
        var streamed = await StreamAsync(client, 3, cancellationToken);

        // Assert
        TestContext.Out.WriteLine($"path_matching: EmptyCall {Describe(CountByServer(empty))}; UnaryCall {Describe(CountByServer(unary))}; StreamingOutputCall {string.Join(",", streamed)}");
        Assert.Multiple(() =>
        {
            Assert.That(empty.Select(r => r.ServerId), Has.All.EqualTo("exact"), $"{EmptyPath} (exact path)");
            Assert.That(streamed, Is.EqualTo(new[] { "prefix", "prefix", "prefix" }), $"{StreamingPath} (path prefix)");
            Assert.That(unary.Select(r => r.ServerId), Has.All.EqualTo("default"), $"{UnaryPath} (no match: default route)");
        });
    }

    // header_matching: exact, prefix, suffix, present and regex header matches each route to their cluster; others take the default route.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCalls_RoutesMatchHeaders_EachMatchKindReachesItsClusterAndTheRestTheDefault(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("default", "exact", "prefix", "suffix", "present", "regex");
        var options = new MeshOptions();
        foreach (var server in servers.All)
        {
            options.Clusters[server.Id] = Cluster(server);
        }

        var routes = Routes(options);
        routes.Add(RouteTo("exact", HeaderMatch("xds-exact", new StringMatchOptions { Exact = "exact-value" })));
        routes.Add(RouteTo("prefix", HeaderMatch("xds-prefix", new StringMatchOptions { Prefix = "pre-" })));
        routes.Add(RouteTo("suffix", HeaderMatch("xds-suffix", new StringMatchOptions { Suffix = "-suf" })));
        routes.Add(RouteTo("present", HeaderMatch("xds-present", new StringMatchOptions { Present = true })));
        routes.Add(RouteTo("regex", HeaderMatch("xds-regex", new StringMatchOptions { Regex = "[0-9]+-id" })));
        routes.Add(RouteTo("default"));
        await using var client = await StartClientAsync(options);
        (string Header, string Value, string Expected)[] cases =
        [
            ("xds-exact", "exact-value", "exact"),
            ("xds-exact", "exact-value-not", "default"),
            ("xds-prefix", "pre-anything", "prefix"),
            ("xds-prefix", "not-pre-", "default"),
            ("xds-suffix", "anything-suf", "suffix"),
            ("xds-suffix", "-suf-not", "default"),
            ("xds-present", string.Empty, "present"),
            ("xds-present", "any", "present"),
            ("xds-regex", "123-id", "regex"),
            ("xds-regex", "12a-id", "default"),
            ("xds-other", "exact-value", "default"),
        ];

        // Act
        var answered = new List<(string Case, string?[] Servers)>();
        foreach (var (header, value, _) in cases)
        {
            var results = await RunAsync(5, 1, _ => CallAsync(client, Rpc.Unary, new Metadata { { header, value } }, cancellationToken: cancellationToken));
            answered.Add(($"{header}: '{value}'", results.Select(r => r.ServerId).ToArray()));
        }

        // Assert
        TestContext.Out.WriteLine("header_matching: " + string.Join("; ", answered.Select(a => $"{a.Case} -> {string.Join(",", a.Servers.Distinct())}")));
        Assert.Multiple(() =>
        {
            for (var i = 0; i < cases.Length; i++)
            {
                Assert.That(answered[i].Servers, Has.All.EqualTo(cases[i].Expected), answered[i].Case);
            }
        });
    }

    // circuit_breaking: two clusters with different max_requests; in-flight calls at each server never exceed its
    // cluster's limit (the server holds each call with sleep), and the overflow fails fast with UNAVAILABLE.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCalls_MoreInFlightThanMaxRequests_ServerNeverSeesMoreAndOverflowFailsFastWithUnavailable(CancellationToken cancellationToken)
    {
        // Arrange
        const int UnaryLimit = 2;
        const int EmptyLimit = 4;
        const int Burst = 10;
        var hold = TimeSpan.FromSeconds(2);
        await using var servers = await Servers.StartAsync("unary", "empty");

        // Only max_requests, as a gRPC control plane sends it: gRPC calls never queue (gRFC A32), whatever the pending limit.
        var options = new MeshOptions();
        options.Clusters["unary"] = Cluster(servers["unary"], c => c.ConnectionPool = new ConnectionPoolOptions { MaxRequests = UnaryLimit });
        options.Clusters["empty"] = Cluster(servers["empty"], c => c.ConnectionPool = new ConnectionPoolOptions { MaxRequests = EmptyLimit });
        var routes = Routes(options);

        // Retries on UNAVAILABLE show that an overflow is not retried into the server.
        routes.Add(RouteTo("empty", new RouteMatchOptions { Path = EmptyPath }, r => r.Retries = new RetryOptions { Attempts = 3, RetryOn = "unavailable" }));
        routes.Add(RouteTo("unary", configure: r => r.Retries = new RetryOptions { Attempts = 3, RetryOn = "unavailable" }));
        await using var client = await StartClientAsync(options);
        await WaitUntilAllAnswerAsync(client, servers, cancellationToken, Rpc.Unary, Rpc.Empty);
        servers.ResetCounters();
        var sleep = new Metadata { { "rpc-behavior", $"sleep-{hold.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}" } };

        // Act
        var unaryCalls = Enumerable.Range(0, Burst).Select(_ => CallAsync(client, Rpc.Unary, sleep, cancellationToken: cancellationToken)).ToArray();
        var emptyCalls = Enumerable.Range(0, Burst).Select(_ => CallAsync(client, Rpc.Empty, sleep, cancellationToken: cancellationToken)).ToArray();
        var unary = await Task.WhenAll(unaryCalls);
        var empty = await Task.WhenAll(emptyCalls);
        var attempts = servers["unary"].Calls + servers["empty"].Calls;
        var after = await CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken);

        // Assert
        var unaryFailures = unary.Where(r => !r.Ok).ToArray();
        var emptyFailures = empty.Where(r => !r.Ok).ToArray();
        var slowestFailure = unaryFailures.Concat(emptyFailures).Select(r => r.Elapsed).DefaultIfEmpty().Max();
        TestContext.Out.WriteLine($"circuit_breaking: unary max in flight {servers["unary"].MaxInFlight} (limit {UnaryLimit}), {unaryFailures.Length} overflowed; "
            + $"empty max in flight {servers["empty"].MaxInFlight} (limit {EmptyLimit}), {emptyFailures.Length} overflowed; slowest overflow {slowestFailure.TotalMilliseconds:F0} ms");
        Assert.Multiple(() =>
        {
            Assert.That(servers["unary"].MaxInFlight, Is.EqualTo(UnaryLimit), "calls in flight at the unary cluster's server");
            Assert.That(servers["empty"].MaxInFlight, Is.EqualTo(EmptyLimit), "calls in flight at the empty cluster's server");
            Assert.That(unary.Count(r => r.Ok), Is.EqualTo(UnaryLimit), "admitted unary calls complete");
            Assert.That(empty.Count(r => r.Ok), Is.EqualTo(EmptyLimit), "admitted empty calls complete");
            Assert.That(unaryFailures.Concat(emptyFailures).Select(r => r.Status), Has.All.EqualTo(StatusCode.Unavailable), "status of the overflow");
            Assert.That(slowestFailure, Is.LessThan(hold / 2), "the overflow fails fast, not after the held calls");
            Assert.That(attempts, Is.EqualTo(UnaryLimit + EmptyLimit), "no overflowed call was retried into a server");
            Assert.That(after.Ok, Is.True, $"a call after the held ones end: {after}");
        });
    }

    // timeout: a route's timeout shorter than the handler gives DEADLINE_EXCEEDED, while a route with a longer timeout
    // succeeds. Scaled down from the interop case (3 s against a 4 s handler) to 300 ms against 1.5 s to keep the suite fast.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCalls_RouteTimeoutShorterThanHandler_DeadlineExceededWhileOtherRouteSucceeds(CancellationToken cancellationToken)
    {
        // Arrange
        var routeTimeout = TimeSpan.FromMilliseconds(300);
        var handler = TimeSpan.FromMilliseconds(1_500);
        await using var servers = await Servers.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers["a"]);
        var routes = Routes(options);
        routes.Add(RouteTo("main", new RouteMatchOptions { Path = UnaryPath }, r => r.Timeout = routeTimeout));
        routes.Add(RouteTo("main", configure: r => r.Timeout = TimeSpan.FromSeconds(5)));
        await using var client = await StartClientAsync(options);
        await WaitUntilAllAnswerAsync(client, servers, cancellationToken);
        var sleep = new Metadata { { "rpc-behavior", $"sleep-{handler.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}" } };

        // Act
        var timedOut = CallAsync(client, Rpc.Unary, sleep, cancellationToken: cancellationToken);
        var succeeded = CallAsync(client, Rpc.Empty, sleep, cancellationToken: cancellationToken);
        var results = await Task.WhenAll(timedOut, succeeded);

        // Assert
        TestContext.Out.WriteLine($"timeout: UnaryCall {results[0]}; EmptyCall {results[1]}");
        Assert.Multiple(() =>
        {
            Assert.That(results[0].Status, Is.EqualTo(StatusCode.DeadlineExceeded), "UnaryCall (300 ms route timeout)");
            Assert.That(results[0].Elapsed, Is.LessThan(handler), "the timed-out call ends at the route's timeout, not with the handler");
            Assert.That(results[1].Status, Is.EqualTo(StatusCode.OK), "EmptyCall (5 s route timeout)");
            Assert.That(results[1].Elapsed, Is.GreaterThanOrEqualTo(handler - TimeSpan.FromMilliseconds(50)), "EmptyCall waited for the handler");
        });
    }

    // fault_injection: an abort of 100 % gives the configured status without reaching the server; 50 % aborts half the calls.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCalls_FaultAbortHundredAndFiftyPercent_ConfiguredStatusAndHalfAborted(CancellationToken cancellationToken)
    {
        // Arrange
        const int Calls = 600;
        await using var servers = await Servers.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers["a"]);
        var routes = Routes(options);
        routes.Add(RouteTo("main", new RouteMatchOptions { Path = UnaryPath }, r => r.Fault = new FaultOptions { Abort = new FaultAbortOptions { GrpcStatus = (int)StatusCode.Unauthenticated, Percentage = 100 } }));
        routes.Add(RouteTo("main", new RouteMatchOptions { Path = EmptyPath }, r => r.Fault = new FaultOptions { Abort = new FaultAbortOptions { GrpcStatus = (int)StatusCode.ResourceExhausted, Percentage = 50 } }));
        await using var client = await StartClientAsync(options);

        // Act
        var all = await RunAsync(20, 1, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken));
        var callsAfterAll = servers["a"].Calls;
        var half = await RunAsync(Calls, 8, _ => CallAsync(client, Rpc.Empty, cancellationToken: cancellationToken));

        // Assert
        var aborted = half.Count(r => r.Status == StatusCode.ResourceExhausted);
        var abortedShare = (double)aborted / Calls;
        TestContext.Out.WriteLine($"fault_injection: 100 %: {all.Count(r => r.Status == StatusCode.Unauthenticated)} of {all.Length} UNAUTHENTICATED; "
            + $"50 %: {aborted} of {Calls} aborted ({abortedShare:P1}), {half.Count(r => r.Ok)} succeeded");
        Assert.Multiple(() =>
        {
            Assert.That(all.Select(r => r.Status), Has.All.EqualTo(StatusCode.Unauthenticated), "abort 100 %");
            Assert.That(callsAfterAll, Is.Zero, "an aborted call never reaches the server");
            Assert.That(abortedShare, Is.EqualTo(0.5).Within(0.1), "share aborted by a 50 % abort");
            Assert.That(half.Count(r => r.Ok) + aborted, Is.EqualTo(Calls), "every other call succeeds");
        });
    }

    // fault_injection (delay): a call whose injected delay is longer than its deadline ends with DEADLINE_EXCEEDED at
    // its deadline, as the interop case's delay with a short RPC deadline does.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_FaultDelayLongerThanCallDeadline_DeadlineExceededAtTheDeadline(CancellationToken cancellationToken)
    {
        // Arrange
        var delay = TimeSpan.FromSeconds(3);
        var deadline = TimeSpan.FromMilliseconds(300);
        await using var servers = await Servers.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers["a"]);
        Routes(options).Add(RouteTo("main", configure: r => r.Fault = new FaultOptions { Delay = new FaultDelayOptions { FixedDelay = delay, Percentage = 100 } }));
        await using var client = await StartClientAsync(options);

        // Act
        var result = await CallAsync(client, Rpc.Unary, deadline: deadline, cancellationToken: cancellationToken);

        // Assert
        TestContext.Out.WriteLine($"fault_injection delay {delay.TotalMilliseconds} ms, deadline {deadline.TotalMilliseconds} ms: {result}");
        Assert.Multiple(() =>
        {
            Assert.That(result.Status, Is.EqualTo(StatusCode.DeadlineExceeded));
            Assert.That(result.Elapsed, Is.LessThan(delay / 2), "the call ends at its deadline, not after the injected delay");
        });
    }

    // retry: the server fails with UNAVAILABLE until the 5th attempt of a call: 3 retries (4 attempts) fail, 4 retries (5 attempts) succeed.
    [Test]
    [CancelAfter(30_000)]
    public async Task UnaryCall_ServerSucceedsOnFifthAttempt_ThreeRetriesFailAndFourRetriesSucceed(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("a");
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers["a"]);
        var routes = Routes(options);
        routes.Add(RouteTo("main", new RouteMatchOptions { Path = EmptyPath }, r => r.Retries = new RetryOptions { Attempts = 3, RetryOn = "unavailable,cancelled,deadline-exceeded,internal,resource-exhausted" }));
        routes.Add(RouteTo("main", new RouteMatchOptions { Path = UnaryPath }, r => r.Retries = new RetryOptions { Attempts = 4, RetryOn = "unavailable,cancelled,deadline-exceeded,internal,resource-exhausted" }));
        await using var client = await StartClientAsync(options);
        await WaitUntilAllAnswerAsync(client, servers, cancellationToken, Rpc.Unary, Rpc.Empty);
        static Metadata SucceedOnFifth() => new() { { "rpc-behavior", "succeed-on-attempt-5" }, { "x-request-id", Guid.NewGuid().ToString() } };

        // Act
        servers.ResetCounters();
        var threeRetries = await CallAsync(client, Rpc.Empty, SucceedOnFifth(), cancellationToken: cancellationToken);
        var attemptsWithThree = servers["a"].Calls;
        servers.ResetCounters();
        var fourRetries = await CallAsync(client, Rpc.Unary, SucceedOnFifth(), cancellationToken: cancellationToken);
        var attemptsWithFour = servers["a"].Calls;

        // Assert
        TestContext.Out.WriteLine($"retry: 3 retries -> {threeRetries} after {attemptsWithThree} attempts; 4 retries -> {fourRetries} after {attemptsWithFour} attempts");
        Assert.Multiple(() =>
        {
            Assert.That(threeRetries.Status, Is.EqualTo(StatusCode.Unavailable), "3 retries");
            Assert.That(attemptsWithThree, Is.EqualTo(4), "attempts with 3 retries");
            Assert.That(fourRetries.Status, Is.EqualTo(StatusCode.OK), "4 retries");
            Assert.That(attemptsWithFour, Is.EqualTo(5), "attempts with 4 retries");
        });
    }

    // outlier_detection: a failing replica stops getting calls, and gets them again once it is healthy.
    [Test]
    [CancelAfter(40_000)]
    public async Task UnaryCalls_ReplicaFailsThenHeals_EjectedWhileFailingAndTakesCallsAgainWhenHealthy(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("a", "b", "c");
        var failing = servers["c"];
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers.All, c => c.OutlierDetection = new OutlierDetectionOptions
        {
            Consecutive5xxErrors = 3,
            Interval = TimeSpan.FromMilliseconds(100),
            BaseEjectionTime = TimeSpan.FromSeconds(1),
            MaxEjectionTime = TimeSpan.FromSeconds(1),
            MaxEjectionPercent = 34,
        });
        Routes(options).Add(RouteTo("main"));
        await using var client = await StartClientAsync(options);
        await WaitUntilAllAnswerAsync(client, servers, cancellationToken);

        // Act: the replica fails until it is out of the rotation.
        failing.FailWith = StatusCode.Unavailable;
        var ejectedWindow = await PollWindowsAsync(client, servers, w => w.GetValueOrDefault("c") == 0 && w.Values.Sum() == 30, "the failing replica gets none of 30 calls", cancellationToken);
        failing.FailWith = null;
        var returnedWindow = await PollWindowsAsync(client, servers, w => w.GetValueOrDefault("c") >= 5 && w.Values.Sum() == 30, "the healed replica takes calls again", cancellationToken);

        // Assert
        TestContext.Out.WriteLine($"outlier_detection: while failing {Describe(ejectedWindow)}; healed {Describe(returnedWindow)}");
        Assert.Multiple(() =>
        {
            Assert.That(ejectedWindow.GetValueOrDefault("c"), Is.Zero, "calls to the ejected replica");
            Assert.That(returnedWindow.GetValueOrDefault("c"), Is.GreaterThanOrEqualTo(5), "calls to the healed replica");
        });
    }

    // change_backend_service: a route switched to another cluster while calls run on two loops: no call fails, and the calls move.
    [Test]
    [CancelAfter(40_000)]
    public async Task UnaryCalls_RouteSwitchedToAnotherClusterWhileCallsRun_NoCallFailsAndCallsMove(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("old", "new");
        var before = new MeshOptions();
        before.Clusters["old"] = Cluster(servers["old"]);
        before.Clusters["new"] = Cluster(servers["new"]);
        Routes(before).Add(RouteTo("old"));
        var after = new MeshOptions();
        after.Clusters["old"] = Cluster(servers["old"]);
        after.Clusters["new"] = Cluster(servers["new"]);
        Routes(after).Add(RouteTo("new"));
        await using var client = await StartClientAsync(before);
        var results = new ConcurrentQueue<(CallResult Result, bool StartedAfterSwitch)>();
        var switched = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        async Task LoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                var afterSwitch = Volatile.Read(ref switched) == 1;
                results.Enqueue((await CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken), afterSwitch));
            }
        }

        // Act
        var loops = new[] { Task.Run(LoopAsync, cancellationToken), Task.Run(LoopAsync, cancellationToken) };
        await PollAsync(() => servers["old"].Calls >= 50, "the old cluster answers the loops' calls", cancellationToken);
        await ApplyAsync(client, after).WaitAsync(WaitBound, cancellationToken);
        Volatile.Write(ref switched, 1);
        var newAtSwitch = servers["new"].Calls;
        await PollAsync(() => servers["new"].Calls >= newAtSwitch + 50, "the new cluster answers the loops' calls", cancellationToken);
        await stop.CancelAsync();
        await Task.WhenAll(loops).WaitAsync(WaitBound, cancellationToken);

        // Assert
        var all = results.ToArray();
        var afterSwitch = all.Where(r => r.StartedAfterSwitch).Select(r => r.Result).ToArray();
        TestContext.Out.WriteLine($"change_backend_service: {all.Length} calls, {all.Count(r => !r.Result.Ok)} failed; before the switch {Describe(CountByServer(all.Where(r => !r.StartedAfterSwitch).Select(r => r.Result)))}; "
            + $"started after it {Describe(CountByServer(afterSwitch))}");
        Assert.Multiple(() =>
        {
            Assert.That(all.Where(r => !r.Result.Ok).Select(r => r.Result), Is.Empty, "failed calls");
            Assert.That(afterSwitch.Select(r => r.ServerId), Has.All.EqualTo("new"), "calls started after the switch");
            Assert.That(afterSwitch, Has.Length.GreaterThanOrEqualTo(50));
        });
    }

    // backends_restart: every server stopped: calls fail; restarted on the same ports: calls succeed again with the same distribution.
    [Test]
    [CancelAfter(50_000)]
    public async Task UnaryCalls_AllBackendsStopAndRestartOnTheirPorts_FailWhileDownThenSucceedWithTheSameDistribution(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("a", "b", "c");
        var options = new MeshOptions();
        options.Clusters["main"] = Cluster(servers.All);
        Routes(options).Add(RouteTo("main"));
        await using var client = await StartClientAsync(options);
        await WaitUntilAllAnswerAsync(client, servers, cancellationToken);
        var beforeStop = CountByServer(await RunAsync(30, 1, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken)));

        // Act
        foreach (var server in servers.All)
        {
            await server.StopAsync().WaitAsync(WaitBound, cancellationToken);
        }

        var whileDown = await RunAsync(10, 1, _ => CallAsync(client, Rpc.Unary, deadline: TimeSpan.FromSeconds(1), cancellationToken: cancellationToken));
        foreach (var server in servers.All)
        {
            await server.RestartAsync().WaitAsync(WaitBound, cancellationToken);
        }

        await WaitUntilAllAnswerAsync(client, servers, cancellationToken);
        var afterRestart = CountByServer(await RunAsync(30, 1, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken)));

        // Assert
        TestContext.Out.WriteLine($"backends_restart: before {Describe(beforeStop)}; while down {string.Join(",", whileDown.Select(r => r.Status))}; after {Describe(afterRestart)}");
        Assert.Multiple(() =>
        {
            Assert.That(whileDown.Select(r => r.Status), Has.None.EqualTo(StatusCode.OK), "calls while every server is down");
            foreach (var server in servers.All)
            {
                Assert.That(beforeStop.GetValueOrDefault(server.Id), Is.InRange(9, 11), $"calls to {server.Id} before the stop");
                Assert.That(afterRestart.GetValueOrDefault(server.Id), Is.InRange(9, 11), $"calls to {server.Id} after the restart");
            }

            Assert.That(afterRestart.Values.Sum(), Is.EqualTo(30), "calls after the restart succeed");
        });
    }

    // A server-streaming call is routed by its path to its cluster and completes with every message.
    [Test]
    [CancelAfter(30_000)]
    public async Task StreamingOutputCall_RouteByPathToItsCluster_ReachesThatClusterAndCompletes(CancellationToken cancellationToken)
    {
        // Arrange
        await using var servers = await Servers.StartAsync("unary", "streaming");
        var options = new MeshOptions();
        options.Clusters["unary"] = Cluster(servers["unary"]);
        options.Clusters["streaming"] = Cluster(servers["streaming"]);
        var routes = Routes(options);
        routes.Add(RouteTo("streaming", new RouteMatchOptions { Path = StreamingPath }, r => r.Timeout = TimeSpan.FromSeconds(10)));
        routes.Add(RouteTo("unary"));
        await using var client = await StartClientAsync(options);

        // Act
        var first = await StreamAsync(client, 5, cancellationToken);
        var second = await StreamAsync(client, 5, cancellationToken);

        // Assert
        TestContext.Out.WriteLine($"streaming: {string.Join(",", first)} / {string.Join(",", second)}");
        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(Enumerable.Repeat("streaming", 5)), "messages of the first stream");
            Assert.That(second, Is.EqualTo(Enumerable.Repeat("streaming", 5)), "messages of the second stream");
            Assert.That(servers["unary"].Calls, Is.Zero, "the default route's cluster");
        });
    }

    private static ClusterOptions Cluster(TestServer server, Action<ClusterOptions>? configure = null) => Cluster([server], configure);

    private static ClusterOptions Cluster(IEnumerable<TestServer> servers, Action<ClusterOptions>? configure = null)
    {
        var cluster = new ClusterOptions();
        foreach (var server in servers)
        {
            cluster.Endpoints.Add(new EndpointOptions { Address = server.Address });
        }

        configure?.Invoke(cluster);
        return cluster;
    }

    private static List<RouteOptions> Routes(MeshOptions options)
    {
        if (!options.Services.TryGetValue(MeshGrpcClient.Host, out var service))
        {
            options.Services[MeshGrpcClient.Host] = service = new ServiceOptions();
        }

        return service.Routes;
    }

    private static RouteOptions RouteTo(string cluster, RouteMatchOptions? match = null, Action<RouteOptions>? configure = null)
    {
        var route = new RouteOptions { Destinations = { new DestinationOptions { Cluster = cluster } } };
        if (match is not null)
        {
            route.Match.Add(match);
        }

        configure?.Invoke(route);
        return route;
    }

    private static RouteMatchOptions HeaderMatch(string header, StringMatchOptions condition) => new() { Headers = { [header] = condition } };

    /// <summary>One unary call, bounded by its deadline (<see cref="CallBound"/> unless given) and by <see cref="CallBound"/> again.</summary>
    private static async Task<CallResult> CallAsync(MeshGrpcClient client, Rpc rpc, Metadata? headers = null, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var callDeadline = DateTime.UtcNow + (deadline ?? CallBound);
        try
        {
            using var call = rpc == Rpc.Unary
                ? client.Client.UnaryCallAsync(new SimpleRequest(), headers, callDeadline, cancellationToken)
                : client.Client.EmptyCallAsync(new SimpleRequest(), headers, callDeadline, cancellationToken);
            var reply = await call.ResponseAsync.WaitAsync(CallBound + TimeSpan.FromSeconds(5), cancellationToken);
            return new CallResult(reply.ServerId, StatusCode.OK, Stopwatch.GetElapsedTime(started), null);
        }
        catch (RpcException ex)
        {
            return new CallResult(null, ex.StatusCode, Stopwatch.GetElapsedTime(started), ex.Status.Detail);
        }
    }

    /// <summary>A server-streaming call of <paramref name="count"/> messages: the id of the server of each message.</summary>
    private static async Task<string[]> StreamAsync(MeshGrpcClient client, int count, CancellationToken cancellationToken)
    {
        using var call = client.Client.StreamingOutputCall(new StreamingRequest { Count = count }, deadline: DateTime.UtcNow + CallBound, cancellationToken: cancellationToken);
        var servers = new List<string>();
        while (await call.ResponseStream.MoveNext(cancellationToken).WaitAsync(CallBound, cancellationToken))
        {
            servers.Add(call.ResponseStream.Current.ServerId);
        }

        Assert.That(call.GetStatus().StatusCode, Is.EqualTo(StatusCode.OK), "the stream's status");
        return [.. servers];
    }

    /// <summary><paramref name="count"/> calls, at most <paramref name="concurrency"/> at once.</summary>
    private static async Task<CallResult[]> RunAsync(int count, int concurrency, Func<int, Task<CallResult>> call)
    {
        var results = new CallResult[count];
        var next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                results[i] = await call(i);
            }
        });
        await Task.WhenAll(workers);
        return results;
    }

    /// <summary>Calls until every server has answered: each subchannel is connected (READY), so picks cover all of them.</summary>
    private static async Task WaitUntilAllAnswerAsync(MeshGrpcClient client, Servers servers, CancellationToken cancellationToken, params Rpc[] rpcs)
    {
        if (rpcs.Length == 0)
        {
            rpcs = [Rpc.Unary];
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        await PollAsync(
            async () =>
            {
                foreach (var rpc in rpcs)
                {
                    if ((await CallAsync(client, rpc, deadline: TimeSpan.FromSeconds(2), cancellationToken: cancellationToken)).ServerId is { } id)
                    {
                        seen.Add(id);
                    }
                }

                return servers.All.All(s => seen.Contains(s.Id));
            },
            $"every server ({string.Join(", ", servers.All.Select(s => s.Id))}) answers",
            cancellationToken);
    }

    /// <summary>Runs windows of 30 sequential calls until one satisfies <paramref name="condition"/> (counts of successful calls by server); returns it.</summary>
    private static async Task<Dictionary<string, int>> PollWindowsAsync(MeshGrpcClient client, Servers servers, Func<Dictionary<string, int>, bool> condition, string what, CancellationToken cancellationToken)
    {
        Dictionary<string, int>? window = null;
        await PollAsync(
            async () =>
            {
                window = CountByServer(await RunAsync(30, 1, _ => CallAsync(client, Rpc.Unary, cancellationToken: cancellationToken)));
                return condition(window);
            },
            what,
            cancellationToken);
        return window!;
    }

    private static Task PollAsync(Func<bool> condition, string what, CancellationToken cancellationToken) =>
        PollAsync(() => Task.FromResult(condition()), what, cancellationToken);

    /// <summary>Waits until <paramref name="condition"/> holds, checking every 20 ms, failing the test after <see cref="WaitBound"/>.</summary>
    private static async Task PollAsync(Func<Task<bool>> condition, string what, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(WaitBound.TotalSeconds * Stopwatch.Frequency);
        while (!await condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                Assert.Fail($"Timed out after {WaitBound.TotalSeconds} s waiting until {what}.");
            }

            await Task.Delay(20, cancellationToken);
        }
    }

    private static Dictionary<string, int> CountByServer(IEnumerable<CallResult> results) =>
        results.Where(r => r.ServerId is not null).GroupBy(r => r.ServerId!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    private static string Describe(Dictionary<string, int> counts) =>
        string.Join(", ", counts.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value.ToString(CultureInfo.InvariantCulture)}"));

    private sealed record CallResult(string? ServerId, StatusCode Status, TimeSpan Elapsed, string? Detail)
    {
        public bool Ok => Status == StatusCode.OK;

        public override string ToString() => $"{(Ok ? ServerId : Status.ToString())} after {Elapsed.TotalMilliseconds:F0} ms{(Detail is null ? string.Empty : $" ({Detail})")}";
    }

    /// <summary>The test's servers by id, stopped together at the end.</summary>
    private sealed class Servers : IAsyncDisposable
    {
        private readonly TestServer[] _servers;

        private Servers(TestServer[] servers) => _servers = servers;

        public IReadOnlyList<TestServer> All => _servers;

        public TestServer this[string id] => _servers.Single(s => s.Id == id);

        public static async Task<Servers> StartAsync(params string[] ids)
        {
            var servers = await Task.WhenAll(ids.Select(TestServer.StartAsync)).WaitAsync(WaitBound);
            return new Servers(servers);
        }

        public void ResetCounters()
        {
            foreach (var server in _servers)
            {
                server.ResetCounters();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Task.WhenAll(_servers.Select(s => s.DisposeAsync().AsTask())).WaitAsync(WaitBound);
        }
    }
}

/// <summary>The interop cases with the configuration from static options (the embedded default).</summary>
public sealed class StaticConfigInteropTests : GrpcInteropTests
{
    private protected override Task<MeshGrpcClient> StartClientAsync(MeshOptions options) => Task.FromResult(MeshGrpcClient.Create(options));

    private protected override Task ApplyAsync(MeshGrpcClient client, MeshOptions options)
    {
        client.Apply(options);
        return Task.CompletedTask;
    }
}
