using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Xds.Tests.EndToEnd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>
/// Hot reload end to end: the seed scenario of <c>samples/manifests</c> in a temporary directory (with the ports of real
/// Kestrel backends) → the control plane's manifest source (file watcher, 75 ms quiet / 1 s max) → its debounce (100 ms)
/// → xDS → our own client, with request loops running while the test rewrites the VirtualService's file.
/// </summary>
[NonParallelizable]
[CancelAfter(60_000)]
public sealed partial class ManifestHotReloadTests
{
    private const int Window = 100;
    private static readonly HashSet<string> Backends = ["v1a", "v1b", "v2"];

    [Test]
    public async Task WeightEdit_EightyTwentyToTwentyEighty_NewSplitWithinOneSecondAndNoFailedRequest()
    {
        // Arrange
        await using var mesh = await ManifestMesh.StartAsync();
        await using var traffic = TrafficLoop.Start(mesh.Client, concurrency: 2);
        await traffic.UntilCountAsync(0, 1000, "1,000 requests on the seed split");

        // Act: 80/20 → 20/80 on disk, while the loops run.
        var written = Stopwatch.GetTimestamp();
        mesh.Directory.Write("routing.yaml", RoutingYaml(20, 80));
        await TestWait.UntilAsync(() => traffic.ShareOfLast("v2", Window) is >= 0.65 and <= 0.95, "the 20/80 split shows in the request loops");
        await traffic.UntilCountAsync(traffic.Count, 1000, "1,000 requests on the new split");
        await traffic.StopAsync();

        // Assert
        var records = traffic.Records;
        var firstAfter = IndexAfter(records, written);
        var matched = FirstWindowMatching(records, firstAfter, 0.65, 0.95);
        var toSplit = Stopwatch.GetElapsedTime(written, records[matched].Timestamp);
        var toClient = mesh.Client.Applied.Where(a => a.Timestamp > written).Select(a => Stopwatch.GetElapsedTime(written, a.Timestamp)).FirstOrDefault(TimeSpan.MaxValue);
        var before = Share(records.Take(firstAfter), "v2");
        var last = Share(records.Skip(records.Count - 1000), "v2");
        var failures = traffic.Failures(Backends);
        TestContext.Out.WriteLine(
            $"write → client config {toClient.TotalMilliseconds:F0} ms; write → {Window}-request window at 20/80 {toSplit.TotalMilliseconds:F0} ms; " +
            $"{records.Count} requests, {failures.Count} failed; v2 share {before:P1} before, {last:P1} over the last 1,000");
        Assert.Multiple(() =>
        {
            Assert.That(before, Is.InRange(0.15, 0.25), "80/20 before the edit");
            Assert.That(toSplit, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(1)), "the new split applies within 1 s of the write");
            Assert.That(last, Is.InRange(0.75, 0.85), "20/80 after the edit");
            Assert.That(failures, Is.Empty, "no request failed during the reload");
        });
    }

    [Test]
    public async Task BrokenEdits_WeightsAddUpTo90AndInvalidYaml_ReportedAndSplitStaysOnLastGoodConfig()
    {
        // Arrange
        await using var mesh = await ManifestMesh.StartAsync();
        await using var traffic = TrafficLoop.Start(mesh.Client, concurrency: 2);
        await traffic.UntilCountAsync(0, 500, "500 requests on the seed split");
        var published = mesh.ControlPlane.Host.Status.Published;

        // Act 1: weights that add up to 90.
        var brokenWritten = Stopwatch.GetTimestamp();
        mesh.Directory.Write("routing.yaml", RoutingYaml(70, 20));
        var weightsReport = await UntilLoggedAsync(mesh.Logs, m => m.Contains("weights add up to 90", StringComparison.Ordinal), "the weight error is reported");
        await traffic.UntilCountAsync(traffic.Count, 1000, "1,000 requests after the weight error");

        // Act 2: a YAML syntax error (a tab where YAML allows only spaces for indentation).
        mesh.Directory.Write("routing.yaml", BrokenYaml("  hosts:\n", "\thosts:\n"));
        var yamlReport = await UntilLoggedAsync(mesh.Logs, m => m.Contains("YAML syntax error", StringComparison.Ordinal), "the YAML error is reported");
        await traffic.UntilCountAsync(traffic.Count, 1000, "1,000 requests after the YAML error");
        using var admin = new HttpClient { BaseAddress = mesh.ControlPlane.AdminAddress, Timeout = TestWait.Timeout };
        using var dump = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/debug/config_dump", UriKind.Relative)).WaitAsync(TestWait.Timeout));

        // Act 3: a good edit still applies, so the file was being watched all along.
        var fixedWritten = Stopwatch.GetTimestamp();
        mesh.Directory.Write("routing.yaml", RoutingYaml(20, 80));
        await TestWait.UntilAsync(() => traffic.ShareOfLast("v2", Window) is >= 0.65 and <= 0.95, "the fixed file's 20/80 split shows in the request loops");
        await traffic.StopAsync();

        // Assert
        var records = traffic.Records;
        var broken = records.Skip(IndexAfter(records, brokenWritten)).Take(IndexAfter(records, fixedWritten) - IndexAfter(records, brokenWritten)).ToList();
        var brokenShare = Share(broken, "v2");
        var applied = mesh.Client.Applied.Count(a => a.Timestamp > brokenWritten && a.Timestamp < fixedWritten);
        var failures = traffic.Failures(Backends);
        var dumpErrors = dump.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
        TestContext.Out.WriteLine($"reported: \"{weightsReport}\" and \"{yamlReport}\"");
        TestContext.Out.WriteLine($"{broken.Count} requests while the file was broken: v2 share {brokenShare:P1}; {applied} client config change(s); {records.Count} requests, {failures.Count} failed");
        TestContext.Out.WriteLine($"/debug/config_dump: published {dump.RootElement.GetProperty("published").GetInt32()}, split weights {string.Join("/", DumpWeights(dump.RootElement))}, errors [{string.Join("; ", dumpErrors)}]");
        Assert.Multiple(() =>
        {
            Assert.That(weightsReport, Does.Contain("routing.yaml").And.Contain("VirtualService demo/backend").And.Contain("spec.http[1].route"), "the report names the file, the object and the field");
            Assert.That(yamlReport, Does.Contain("routing.yaml").And.Match(@"line \d+"), "the report names the file and the line");
            Assert.That(brokenShare, Is.InRange(0.15, 0.25), "the split stays at 80/20 while the file is broken");
            Assert.That(applied, Is.Zero, "the client received no configuration change from the broken edits");
            Assert.That(dump.RootElement.GetProperty("published").GetInt32(), Is.EqualTo(published), "the control plane published nothing for the broken edits");
            Assert.That(DumpWeights(dump.RootElement), Is.EqualTo(new[] { 80, 20 }), "the served split is the last good one");
            Assert.That(dump.RootElement.GetProperty("sourceProblems").EnumerateArray().Select(e => e.GetString()), Has.Some.Contains("routing.yaml, document 1, line 8"), "the dump shows the rejected file with the line of the tab");
            Assert.That(failures, Is.Empty, "no request failed");
        });
    }

    [Test]
    public async Task BrokenEdit_UnclosedFlowSequence_ReportedWithTheFileAndOtherFilesStillApply()
    {
        // Arrange
        await using var mesh = await ManifestMesh.StartAsync();
        var backend = File.ReadAllText(mesh.Directory.FullPath("backend.yaml"));
        var entries = backend.Split("---\n");
        var v1bEntry = entries.Single(e => e.Contains("name: backend-v1-b", StringComparison.Ordinal));
        var v1bPort = int.Parse(System.Text.RegularExpressions.Regex.Match(v1bEntry, @"http: (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(mesh.Client.SubsetPorts("v1"), Does.Contain(v1bPort));

        // Act: routing.yaml gets an unclosed flow sequence; then backend.yaml drops backend-v1-b's WorkloadEntry.
        mesh.Directory.Write("routing.yaml", BrokenYaml("  hosts:\n    - backend\n", "  hosts: [backend\n"));
        var report = await UntilLoggedAsync(mesh.Logs, m => m.Contains("YAML syntax error", StringComparison.Ordinal), "the YAML error is reported with the file");
        mesh.Directory.Write("backend.yaml", string.Join("---\n", entries.Where(e => !e.Contains("name: backend-v1-b", StringComparison.Ordinal))));
        await TestWait.UntilAsync(() => mesh.Client.SubsetPorts("v1").Count == 1, "the edit of the other file reaches the client");

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(report, Does.Contain("routing.yaml"));
            Assert.That(mesh.Client.SubsetPorts("v1"), Does.Not.Contain(v1bPort));
            Assert.That(mesh.Client.Weights(), Is.EqualTo(new Dictionary<string, int> { ["v1"] = 80, ["v2"] = 20 }), "routing.yaml keeps its last good version");
        });
    }

    /// <summary>The index of the first record completed after <paramref name="timestamp"/> (the count when none).</summary>
    private static int IndexAfter(IReadOnlyList<(long Timestamp, string Answer)> records, long timestamp)
    {
        for (var i = 0; i < records.Count; i++)
        {
            if (records[i].Timestamp > timestamp)
            {
                return i;
            }
        }

        return records.Count;
    }

    /// <summary>The first index at or after <paramref name="from"/> whose window of the last <see cref="Window"/> records has a v2 share in range.</summary>
    private static int FirstWindowMatching(IReadOnlyList<(long Timestamp, string Answer)> records, int from, double low, double high)
    {
        for (var i = Math.Max(from, Window - 1); i < records.Count; i++)
        {
            var share = Share(records.Skip(i - Window + 1).Take(Window), "v2");
            if (share >= low && share <= high)
            {
                return i;
            }
        }

        Assert.Fail("no window of the records matches the new split");
        return -1;
    }

    private static double Share(IEnumerable<(long Timestamp, string Answer)> records, string name)
    {
        var list = records as IReadOnlyCollection<(long, string)> ?? records.ToList();
        return list.Count == 0 ? double.NaN : list.Count(r => r.Item2 == name) / (double)list.Count;
    }

    private static async Task<string> UntilLoggedAsync(FakeLogCollector logs, Func<string, bool> match, string what)
    {
        string? found = null;
        try
        {
            await TestWait.UntilAsync(() => (found = logs.GetSnapshot().Select(r => r.Message).FirstOrDefault(m => m.Contains("routing.yaml", StringComparison.Ordinal) && match(m))) is not null, what);
        }
        catch (AssertionException)
        {
            TestContext.Out.WriteLine("logs: " + string.Join(Environment.NewLine, logs.GetSnapshot().Select(r => r.Message + (r.Exception is null ? string.Empty : " " + r.Exception))));
            throw;
        }

        return found!;
    }

    /// <summary>The weights of the weighted route in the served route configuration.</summary>
    private static List<int> DumpWeights(JsonElement dump)
    {
        var weights = new List<int>();
        foreach (var routeConfiguration in dump.GetProperty("resources").GetProperty("type.googleapis.com/envoy.config.route.v3.RouteConfiguration").EnumerateArray())
        {
            foreach (var host in routeConfiguration.GetProperty("virtualHosts").EnumerateArray())
            {
                foreach (var route in host.GetProperty("routes").EnumerateArray())
                {
                    if (route.TryGetProperty("route", out var action) && action.TryGetProperty("weightedClusters", out var weighted))
                    {
                        weights.AddRange(weighted.GetProperty("clusters").EnumerateArray().Select(c => c.GetProperty("weight").GetInt32()));
                    }
                }
            }
        }

        return weights;
    }

    /// <summary>samples/manifests/routing.yaml with the split's weights replaced.</summary>
    private static string RoutingYaml(int v1, int v2)
    {
        var text = File.ReadAllText(Path.Combine(TranslationTestObjects.SampleManifestsDirectory, "routing.yaml")).ReplaceLineEndings("\n");
        Assert.That(SplitWeights().Matches(text), Has.Count.EqualTo(1), "samples/manifests/routing.yaml has the 80/20 split");
        return SplitWeights().Replace(text, m => $"{m.Groups[1].Value}{v1}{m.Groups[2].Value}{v2}");
    }

    /// <summary>The seed routing.yaml with one piece of text replaced (failing if the sample no longer has it).</summary>
    private static string BrokenYaml(string good, string broken)
    {
        var text = RoutingYaml(80, 20);
        Assert.That(text, Does.Contain(good), "samples/manifests/routing.yaml has the text the broken edit replaces");
        return text.Replace(good, broken, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"(subset: v1\n\s+weight: )80(\n\s+- destination:\n\s+host: backend\n\s+subset: v2\n\s+weight: )20")]
    private static partial Regex SplitWeights();

    /// <summary>samples/manifests/backend.yaml with the WorkloadEntries on the given ports.</summary>
    private static string BackendYaml(int v1a, int v1b, int v2)
    {
        var text = File.ReadAllText(Path.Combine(TranslationTestObjects.SampleManifestsDirectory, "backend.yaml")).ReplaceLineEndings("\n");
        foreach (var (sample, port) in new[] { ("http: 5101", v1a), ("http: 5102", v1b), ("http: 5103", v2) })
        {
            Assert.That(text, Does.Contain(sample), "samples/manifests/backend.yaml has the seed ports");
            text = text.Replace(sample, $"http: {port}", StringComparison.Ordinal);
        }

        return text;
    }

    /// <summary>Three backends, the seed manifests in a temporary directory, the control plane watching it and our xDS client.</summary>
    private sealed class ManifestMesh : IAsyncDisposable
    {
        private readonly NamedHttpBackend[] _backends;
        private readonly ILoggerFactory _loggerFactory;

        private ManifestMesh(NamedHttpBackend[] backends, ManifestTestDirectory directory, ILoggerFactory loggerFactory, FakeLogCollector logs)
        {
            _backends = backends;
            Directory = directory;
            _loggerFactory = loggerFactory;
            Logs = logs;
        }

        public ManifestTestDirectory Directory { get; }

        public FakeLogCollector Logs { get; }

        public ControlPlaneApp ControlPlane { get; private set; } = null!;

        public MeshTestClient Client { get; private set; } = null!;

        public static async Task<ManifestMesh> StartAsync()
        {
            var backends = new[]
            {
                await NamedHttpBackend.StartAsync("v1a").WaitAsync(TestWait.Timeout),
                await NamedHttpBackend.StartAsync("v1b").WaitAsync(TestWait.Timeout),
                await NamedHttpBackend.StartAsync("v2").WaitAsync(TestWait.Timeout),
            };
            var directory = new ManifestTestDirectory();
            directory.Write("backend.yaml", BackendYaml(backends[0].Port, backends[1].Port, backends[2].Port));
            directory.Write("routing.yaml", RoutingYaml(80, 20));
            var provider = new FakeLoggerProvider();
            var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning).AddProvider(provider));
            var mesh = new ManifestMesh(backends, directory, loggerFactory, provider.Collector);
            try
            {
                mesh.ControlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions
                {
                    ManifestsDirectory = directory.Path,
                    XdsListen = "127.0.0.1:0",
                    AdminListen = "127.0.0.1:0",
                    LoggerFactory = loggerFactory,
                }).WaitAsync(TestWait.Timeout);
                mesh.Client = await MeshTestClient.StartAsync(mesh.ControlPlane.XdsPort).WaitAsync(TestWait.Timeout);
                await TestWait.UntilAsync(() => mesh.Client.Weights() is { Count: 2 } w && w["v1"] == 80 && w["v2"] == 20, "the seed split reaches the client");
            }
            catch
            {
                await mesh.DisposeAsync();
                throw;
            }

            return mesh;
        }

        public async ValueTask DisposeAsync()
        {
            if (Client is not null)
            {
                await Client.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
            }

            if (ControlPlane is not null)
            {
                await ControlPlane.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
            }

            foreach (var backend in _backends)
            {
                await backend.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
            }

            _loggerFactory.Dispose();
            Directory.Dispose();
        }
    }
}
