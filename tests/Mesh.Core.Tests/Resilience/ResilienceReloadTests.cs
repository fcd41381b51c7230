using Mesh.Configuration;
using Mesh.Resilience;

namespace Mesh.Core.Tests.Resilience;

/// <summary>Runtime resilience state across configuration reloads through <see cref="MeshState"/>.</summary>
public class ResilienceReloadTests
{
    [Test]
    public async Task Apply_UnchangedResilienceSettings_KeepsClusterStateAndItsOpenBreaker()
    {
        using var harness = new ExecutorHarness(Options());
        var before = harness.Cluster.State;
        await OpenBreakerAsync(harness);

        // A reload that changes something else (a route timeout) but not the cluster's settings.
        var result = harness.State.Apply(Options(r => r.Timeout = TimeSpan.FromSeconds(30)), "test");

        Assert.That(result.Errors, Is.Empty);
        Assert.That(harness.State.Current.Version, Is.EqualTo(2));
        Assert.That(harness.Cluster.State, Is.SameAs(before));
        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen), "the breaker is still open");
    }

    [Test]
    public async Task Apply_ChangedBreakerSettings_CreatesNewClusterStateWithAClosedBreaker()
    {
        using var harness = new ExecutorHarness(Options());
        var before = harness.Cluster.State;
        await OpenBreakerAsync(harness);

        var result = harness.State.Apply(Options(configure: s => s.CircuitBreaker!.MinimumThroughput = 10), "test");

        Assert.That(result.Errors, Is.Empty);
        Assert.That(harness.Cluster.State, Is.Not.SameAs(before));
        Assert.That(harness.Cluster.State.Settings.ErrorRate!.MinimumThroughput, Is.EqualTo(10));
        harness.Transport.Respond = static _ => ValueTask.FromResult(200);
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));
    }

    [Test]
    public void Apply_ChangedConnectionPool_CreatesNewClusterState()
    {
        using var harness = new ExecutorHarness(Options());
        var before = harness.Cluster.State;

        harness.State.Apply(Options(configure: s => s.ConnectionPool = new() { MaxRequests = 7 }), "test");

        Assert.That(harness.Cluster.State, Is.Not.SameAs(before));
        Assert.That(harness.Cluster.State.Settings.MaxRequests, Is.EqualTo(7));
    }

    [Test]
    public void Apply_EqualButNewOptionObjects_KeepClusterState()
    {
        using var harness = new ExecutorHarness(Options(configure: s => s.ConnectionPool = new() { MaxRequests = 7 }));
        var before = harness.Cluster.State;

        harness.State.Apply(Options(configure: s => s.ConnectionPool = new() { MaxRequests = 7 }), "test");

        Assert.That(harness.Cluster.State, Is.SameAs(before), "settings are compared by value");
    }

    [Test]
    public async Task Apply_UnchangedRateLimit_KeepsTheSpentTokens()
    {
        using var harness = new ExecutorHarness(Options(r => r.RateLimit = new() { TokensPerPeriod = 1, Period = TimeSpan.FromSeconds(1) }));
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200));

        harness.State.Apply(Options(r => r.RateLimit = new() { TokensPerPeriod = 1, Period = TimeSpan.FromSeconds(1) }), "test");

        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.RateLimited));
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await harness.SendAndWaitAsync(), Is.EqualTo(200), "the kept limiter's refill timer still runs");
    }

    [Test]
    public void Apply_InvalidReload_KeepsTheSnapshotAndClusterState()
    {
        using var harness = new ExecutorHarness(Options());
        var snapshot = harness.State.Current;
        var state = harness.Cluster.State;

        var result = harness.State.Apply(Options(configure: s => s.ConnectionPool = new() { MaxRequests = 0 }), "test");

        Assert.That(result.Snapshot, Is.Null);
        Assert.That(result.Errors, Is.EqualTo(new[] { "Mesh:Services:backend:ConnectionPool:MaxRequests = 0: must be >= 1 (Envoy's default is 1024)" }));
        Assert.That(harness.State.Current, Is.SameAs(snapshot));
        Assert.That(harness.Cluster.State, Is.SameAs(state));
    }

    [Test]
    public void Apply_InvalidReload_StopsTheDetectorItCreated()
    {
        // The mesh in force counts outcomes (outlier detection that never ejects); a rejected configuration that
        // would eject on failure percentage every second must leave no detector behind to do so.
        using var harness = new ExecutorHarness(Options(configure: s => s.OutlierDetection = new() { Consecutive5xxErrors = 0, Interval = TimeSpan.FromSeconds(10) }));
        var endpoint = harness.Endpoints[0];

        var rejected = harness.State.Apply(Options(configure: s => { s.OutlierDetection = EjectOnFailurePercentage(); s.ConnectionPool = new() { MaxRequests = 0 }; }), "test");
        ReportFailures(harness, endpoint);
        harness.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.That(rejected.Snapshot, Is.Null);
        Assert.That(endpoint.State.IsEjected, Is.False);

        // The same configuration without the error does eject: the check above can fail.
        harness.State.Apply(Options(configure: s => s.OutlierDetection = EjectOnFailurePercentage()), "test");
        ReportFailures(harness, harness.Endpoints[0]);
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(harness.Endpoints[0].State.IsEjected, Is.True);
    }

    [Test]
    public void Apply_InvalidReloadWithoutOutlierDetection_KeepsEjections()
    {
        using var harness = new ExecutorHarness(Options(configure: s => s.OutlierDetection = new() { Consecutive5xxErrors = 1 }));
        var endpoint = harness.Endpoints[0];
        harness.Cluster.Detector!.Report(endpoint, AttemptOutcome.FromStatus(503));
        Assert.That(endpoint.State.IsEjected, Is.True);

        var rejected = harness.State.Apply(Options(configure: s => { s.OutlierDetection = null; s.ConnectionPool = new() { MaxRequests = 0 }; }), "test");

        Assert.That(rejected.Snapshot, Is.Null);
        Assert.That(endpoint.State.IsEjected, Is.True, "a rejected configuration changes nothing");
        Assert.That(harness.Cluster.Endpoints[0].State.IsEjected, Is.True);
    }

    [Test]
    public void Apply_AcceptedReloadWithoutOutlierDetection_ReturnsEjectedEndpoints()
    {
        using var harness = new ExecutorHarness(Options(configure: s => s.OutlierDetection = new() { Consecutive5xxErrors = 1 }));
        var endpoint = harness.Endpoints[0];
        harness.Cluster.Detector!.Report(endpoint, AttemptOutcome.FromStatus(503));

        var accepted = harness.State.Apply(Options(configure: s => s.OutlierDetection = null), "test");

        Assert.That(accepted.Errors, Is.Empty);
        Assert.That(harness.Endpoints[0].State, Is.SameAs(endpoint.State));
        Assert.That(endpoint.State.IsEjected, Is.False);
    }

    [Test]
    public void Apply_ReloadWithOutlierDetection_KeepsEjectionAndReturnsItOnTime()
    {
        using var harness = new ExecutorHarness(Options(configure: s => s.OutlierDetection = Detection()));
        var endpoint = harness.Endpoints[0];
        harness.Cluster.Detector!.Report(endpoint, AttemptOutcome.FromStatus(503));
        harness.Time.Advance(TimeSpan.FromSeconds(4));
        var oldDetector = harness.Cluster.Detector;

        harness.State.Apply(Options(r => r.Timeout = TimeSpan.FromSeconds(1), s => s.OutlierDetection = Detection()), "test");

        Assert.That(harness.Cluster.Detector, Is.Not.SameAs(oldDetector));
        Assert.That(endpoint.State.IsEjected, Is.True, "the ejection lives in the endpoint state");
        harness.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.That(endpoint.State.IsEjected, Is.True, "9 s after the ejection");
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(endpoint.State.IsEjected, Is.False, "returned by the new detector's sweep 10 s after the ejection");

        static OutlierDetectionOptions Detection() => new() { Consecutive5xxErrors = 1, Interval = TimeSpan.FromSeconds(1), BaseEjectionTime = TimeSpan.FromSeconds(10) };
    }

    private static OutlierDetectionOptions EjectOnFailurePercentage() => new()
    {
        Consecutive5xxErrors = 0,
        Interval = TimeSpan.FromSeconds(1),
        EnforcingFailurePercentage = 100,
        FailurePercentageMinimumHosts = 1,
        FailurePercentageRequestVolume = 1,
        MaxEjectionPercent = 100,
    };

    private static void ReportFailures(ExecutorHarness harness, Mesh.Model.EndpointModel endpoint)
    {
        for (var i = 0; i < 10; i++)
        {
            harness.Cluster.Detector!.Report(endpoint, AttemptOutcome.FromStatus(500));
        }
    }

    private static MeshOptions Options(Action<RouteOptions>? route = null, Action<ServiceOptions>? configure = null) =>
        ExecutorHarness.Options(3, s =>
        {
            s.CircuitBreaker = new() { FailureRatio = 0.5, MinimumThroughput = 2, SamplingDuration = TimeSpan.FromSeconds(10), BreakDuration = TimeSpan.FromSeconds(5) };
            configure?.Invoke(s);
        }, route ?? (static _ => { }));

    private static async Task OpenBreakerAsync(ExecutorHarness harness)
    {
        harness.Transport.Respond = static _ => ValueTask.FromResult(500);
        await harness.SendAndWaitAsync();
        await harness.SendAndWaitAsync();
        Assert.That(Assert.ThrowsAsync<MeshException>(() => harness.SendAndWaitAsync()).Reason, Is.EqualTo(MeshFailureReason.CircuitOpen));
    }
}
