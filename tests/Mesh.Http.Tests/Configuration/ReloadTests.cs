using System.Diagnostics.Metrics;
using System.Globalization;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.Http.Tests.Configuration;

/// <summary>Configuration reloads while requests run: a change never fails a request, and a bad one changes nothing.</summary>
[TestFixture]
public sealed class ReloadTests
{
    private const int Concurrency = 8;

    private TestBackend _a = null!;
    private TestBackend _b = null!;
    private TestBackend _c = null!;

    [OneTimeSetUp]
    public async Task StartBackends()
    {
        _a = await TestBackend.StartAsync("a");
        _b = await TestBackend.StartAsync("b");
        _c = await TestBackend.StartAsync("c");
    }

    [OneTimeTearDown]
    public async Task StopBackends()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _c.DisposeAsync();
    }

    [SetUp]
    public void ResetBackends()
    {
        _a.Reset();
        _b.Reset();
        _c.Reset();
    }

    [Test]
    public async Task Reload_EndpointRemovedUnderLoad_NoRequestFailsAndNoneStartedAfterPublishReachesIt()
    {
        // Arrange
        using var configuration = TestConfiguration.Reloadable(Config(_a, _b, _c), out var provider);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();
        var before = mesh.State.Current.Version;
        var published = new List<long>();
        mesh.State.SnapshotChanged += s => { lock (published) { published.Add(s.Version); } };
        await using var load = LoadGenerator.Start(client, mesh.State, Concurrency);
        await Poll.UntilAsync(() => load.Completed >= 600 && _c.RequestCount >= 150, "traffic reaches all three endpoints");

        // Act: drop c while 8 loops keep sending.
        provider.Replace(Config(_a, _b));
        await Poll.UntilAsync(() => mesh.State.Current.Version > before, "the reloaded snapshot is published");
        var version = mesh.State.Current.Version;
        await Poll.UntilAsync(() => load.CompletedSince(version) >= 1200, "1,200 requests started after the publish complete");
        await load.StopAsync();

        // Assert: the loops read the version before sending, and the handler reads the snapshot after that,
        // so a request tagged with the new version can only have been routed by the new snapshot. Requests
        // tagged earlier may still reach c: they were in flight when the swap happened, which is allowed.
        static IEnumerable<SeenRequest> Since(TestBackend backend, long version) =>
            backend.Requests.Where(r => long.Parse(r.Tag!, CultureInfo.InvariantCulture) >= version);
        Assert.Multiple(() =>
        {
            Assert.That(load.Failures, Is.Empty, "no request failed during the whole run");
            Assert.That(version, Is.EqualTo(before + 1));
            Assert.That(published, Is.EqualTo(new[] { version }), "SnapshotChanged reported the one publish");
            Assert.That(mesh.State.Current.Clusters["backend"].Endpoints.Select(e => e.Port), Is.EquivalentTo(new[] { _a.Port, _b.Port }));
            Assert.That(Since(_c, version), Is.Empty, "requests started after the publish never reach the removed endpoint");
            Assert.That(Since(_a, version).Count(), Is.GreaterThan(500), "a keeps serving");
            Assert.That(Since(_b, version).Count(), Is.GreaterThan(500), "b keeps serving");
            Assert.That(_c.Requests.Where(r => r.Tag is not null).Select(r => r.Tag), Has.All.EqualTo(before.ToString(CultureInfo.InvariantCulture)));
        });
    }

    [Test]
    public async Task Reload_Invalid_KeepsServingOldEndpointsWithoutFailures()
    {
        // Arrange
        using var configuration = TestConfiguration.Reloadable(Config(_a, _b, _c), out var provider);
        await using var mesh = MeshClient.Create(configuration);
        using var updates = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh", "mesh.config.updates");
        using var client = mesh.CreateClient();
        var before = mesh.State.Current;
        await using var load = LoadGenerator.Start(client, mesh.State, Concurrency);
        await Poll.UntilAsync(() => load.Completed >= 300, "traffic flows");

        // Act: a reload that drops c but has two mistakes in it.
        provider.Replace($$"""
            { "Mesh": { "Services": { "backend": {
                "Endpoints": [ { "Address": "{{_a.Address}}" }, { "Address": "not a uri" } ],
                "Routes": [ { "Destinations": [ { "Weight": -3 } ] } ] } } } }
            """);
        await Poll.UntilAsync(() => updates.GetMeasurementSnapshot().Any(m => Equals(m.Tags["mesh.config.result"], "rejected")), "the reload is rejected");
        var mark = TestBackend.CurrentSequence;
        var completed = load.Completed;
        await Poll.UntilAsync(() => load.Completed >= completed + 600, "600 more requests complete");
        await load.StopAsync();

        // Assert
        var errors = mesh.Logs.GetSnapshot().Where(r => r.Level == LogLevel.Error).Select(r => r.Message).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(load.Failures, Is.Empty, "no request failed during the whole run");
            Assert.That(mesh.State.Current, Is.SameAs(before), "the last good snapshot stays in force");
            foreach (var backend in new[] { _a, _b, _c })
            {
                Assert.That(backend.Requests.Count(r => r.Sequence > mark), Is.GreaterThan(100), $"{backend} still serves after the rejected reload");
            }

            Assert.That(errors, Has.Count.EqualTo(1), "the rejection is logged once");
            Assert.That(errors.FirstOrDefault(), Does.Contain("Mesh:Services:backend:Endpoints[1]:Address").And.Contain("Weight = -3"), "every error, with its path");
        });
    }

    [Test]
    public async Task Reload_RepeatedlyUnderLoad_NoRequestFailsAndTheLastSnapshotWins()
    {
        // Arrange
        using var configuration = TestConfiguration.Reloadable(Config(_a, _b, _c), out var provider);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();
        await using var load = LoadGenerator.Start(client, mesh.State, Concurrency);
        await Poll.UntilAsync(() => load.Completed >= 200, "traffic flows");

        // Act: 30 reloads, each removing a different endpoint, with requests running between them.
        TestBackend[][] shapes = [[_a, _b], [_b, _c], [_a, _c], [_a, _b, _c]];
        for (var i = 0; i < 30; i++)
        {
            var completed = load.Completed;
            provider.Replace(Config(shapes[i % shapes.Length]));
            await Poll.UntilAsync(() => load.Completed >= completed + 20, $"requests complete after reload {i + 1}");
        }

        provider.Replace(Config(_a, _b));
        var version = mesh.State.Current.Version;
        await Poll.UntilAsync(() => load.CompletedSince(version) >= 600, "600 requests started after the last publish complete");
        await load.StopAsync();

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(load.Failures, Is.Empty, "no request failed during the whole run");
            Assert.That(version, Is.EqualTo(32), "one snapshot per reload, after the first");
            Assert.That(_c.Requests.Count(r => long.Parse(r.Tag!, CultureInfo.InvariantCulture) >= version), Is.Zero);
        });
    }

    [Test]
    public async Task Reload_EndpointKept_KeepsItsRuntimeState()
    {
        // Arrange
        using var configuration = TestConfiguration.Reloadable(Config(_a, _b, _c), out var provider);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();
        for (var i = 0; i < 6; i++)
        {
            using var response = await client.GetAsync("/").WaitAsync(Timeouts.Default);
            response.EnsureSuccessStatusCode();
        }

        var before = mesh.State.Current.Version;
        var stateOfA = Endpoint(mesh.State.Current, _a).State;

        // Act
        provider.Replace(Config(_a, _b));
        await Poll.UntilAsync(() => mesh.State.Current.Version > before, "the reloaded snapshot is published");

        // Assert: in-flight counts and latency averages carry over for endpoints that remain.
        var after = Endpoint(mesh.State.Current, _a).State;
        Assert.Multiple(() =>
        {
            Assert.That(after, Is.SameAs(stateOfA));
            Assert.That(after.LatencyEwmaMilliseconds, Is.GreaterThan(0));
            Assert.That(after.InFlight, Is.Zero);
        });
    }

    private static EndpointModel Endpoint(MeshSnapshot snapshot, TestBackend backend) =>
        snapshot.Clusters["backend"].Endpoints.Single(e => e.Port == backend.Port);

    private static string Config(params TestBackend[] backends) => $$"""
        { "Mesh": { "Services": { "backend": {
            "Endpoints": [ {{string.Join(", ", backends.Select(b => $$"""{ "Address": "{{b.Address}}" }"""))}} ] } } } }
        """;
}
