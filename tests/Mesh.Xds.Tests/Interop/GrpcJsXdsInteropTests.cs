using Mesh.Xds.Server;
using Mesh.Xds.Tests.Infrastructure;

namespace Mesh.Xds.Tests.Interop;

/// <summary>
/// Our xDS server engine feeding a real third-party xDS client: <c>@grpc/grpc-js-xds</c> (gRPC's own
/// proxyless implementation for Node.js) resolves <c>xds:///greeter.test:50051</c> through it and calls
/// real gRPC servers. If our resources were not what gRPC expects, it would NACK them and the calls
/// would fail or hang.
/// </summary>
[NonParallelizable]
public class GrpcJsXdsInteropTests
{
    private static readonly ProxylessResources Greeter = new("greeter.test", 50051);
    private ServerTestHost _server = null!;
    private GreeterBackend _a = null!;
    private GreeterBackend _b = null!;

    [OneTimeSetUp]
    public Task InstallAsync() => NodeXdsClient.EnsureInstalledAsync();

    [SetUp]
    public async Task StartAsync()
    {
        _server = await ServerTestHost.StartAsync(o => o.NodeHash = XdsNodeHash.Constant("all"));
        _a = await GreeterBackend.StartAsync("a");
        _b = await GreeterBackend.StartAsync("b");
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task WeightedSplit_20_80_Over1000Calls()
    {
        // Arrange
        _server.Cache.SetSnapshot("all", Greeter.Snapshot("1", Subsets(), Greeter.Split(("a", 20), ("b", 80))));

        // Act
        var result = await NodeXdsClient.CallAsync(Bootstrap(), Greeter.Target, calls: 1000);
        await TestContext.Out.WriteLineAsync($"grpc-js-xds, 20/80 split over 1,000 calls: {result}");

        // Assert: 20 % of 1,000 is 200 with a standard deviation of 12.6; ±50 is four of them (and the ±5 % the case asks).
        Assert.That(result.Failed, Is.Zero, result.ToString());
        Assert.That(result.For("a"), Is.InRange(150, 250), result.ToString());
        Assert.That(result.For("a") + result.For("b"), Is.EqualTo(1000), result.ToString());
        AssertNoNack();
    }

    [Test]
    public async Task HeaderMatchedRoute_TakesItsCluster_OthersTheDefault()
    {
        // Arrange
        _server.Cache.SetSnapshot("all", Greeter.Snapshot("1", Subsets(),
            Greeter.WhenHeader("x-route", "b", "b"),
            Greeter.To("a")));

        // Act
        var matched = await NodeXdsClient.CallAsync(Bootstrap(), Greeter.Target, calls: 100, metadata: new Dictionary<string, string> { ["x-route"] = "b" });
        var other = await NodeXdsClient.CallAsync(Bootstrap(), Greeter.Target, calls: 100, metadata: new Dictionary<string, string> { ["x-route"] = "c" });

        // Assert
        Assert.That(matched.For("b"), Is.EqualTo(100), matched.ToString());
        Assert.That(other.For("a"), Is.EqualTo(100), other.ToString());
        AssertNoNack();
    }

    [Test]
    public async Task ClusterSwitchWhileCallsRun_NoCallFails()
    {
        // Arrange: everything to a, then, while the client calls continuously, everything to b.
        _server.Cache.SetSnapshot("all", Greeter.Snapshot("1", Subsets(), Greeter.To("a")));
        var run = NodeXdsClient.CallAsync(Bootstrap(), Greeter.Target, concurrency: 5, duration: TimeSpan.FromSeconds(8));

        // Act: switch once a has served calls (the client is connected and configured).
        await ServerTestClient.UntilAsync(() => _a.Calls >= 50, "backend a serves the first calls");
        _server.Cache.SetSnapshot("all", Greeter.Snapshot("2", Subsets(), Greeter.To("b")));
        var switchedAt = (A: _a.Calls, B: _b.Calls);
        await ServerTestClient.UntilAsync(() => _b.Calls >= 50, "backend b serves calls after the switch");
        var settled = _a.Calls;
        var result = await run;
        await TestContext.Out.WriteLineAsync($"grpc-js-xds, cluster switch under load: {result}");

        // Assert: no failure across the switch, and after it a gets no more calls.
        Assert.That(result.Failed, Is.Zero, result.ToString());
        Assert.That(switchedAt.B, Is.Zero, "b got calls before the switch");
        Assert.That(_a.Calls, Is.EqualTo(settled), "a still got calls after b took over");
        Assert.That(result.For("b"), Is.GreaterThan(50), result.ToString());
        AssertNoNack();
    }

    private IEnumerable<(string, int[])> Subsets() => [("a", [_a.Port]), ("b", [_b.Port])];

    private string Bootstrap() => NodeXdsClient.Bootstrap(_server.Address.Port);

    private void AssertNoNack()
    {
        var nacks = _server.Logs.GetSnapshot().Where(r => r.Id.Id == 3).Select(r => r.Message).ToList();
        Assert.That(nacks, Is.Empty, "grpc-js-xds rejected (NACKed) a resource");
        Assert.That(_server.Logs.GetSnapshot().Where(r => r.Id.Id == 4), Is.Not.Empty, "grpc-js-xds acknowledged nothing");
    }
}
