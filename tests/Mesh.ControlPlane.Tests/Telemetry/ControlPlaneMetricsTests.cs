using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Envoy.Config.Core.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Net.Client;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.EndToEnd;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Xds.Server;

namespace Mesh.ControlPlane.Tests.Telemetry;

/// <summary>
/// The admin server's Prometheus endpoint: the control plane on the sample manifests with our xDS client connected,
/// scraped at <c>/metrics</c>; every line must parse as the Prometheus text exposition format.
/// </summary>
[NonParallelizable]
[CancelAfter(60_000)]
public sealed partial class ControlPlaneMetricsTests
{
    private static readonly string[] ResourceTypes =
    [
        XdsResourceSnapshot.ListenerTypeUrl,
        XdsResourceSnapshot.RouteConfigurationTypeUrl,
        XdsResourceSnapshot.ClusterTypeUrl,
        XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl,
    ];

    [Test]
    public async Task Scrape_OneConnectedClient_PrometheusTextWithClientsPushesAndRebuilds()
    {
        // Arrange
        using var directory = WriteSampleManifests();
        await using var controlPlane = await StartControlPlaneAsync(directory);
        await using var client = await MeshTestClient.StartAsync(controlPlane.XdsPort).WaitAsync(TestWait.Timeout);
        using var admin = new HttpClient { BaseAddress = controlPlane.AdminAddress, Timeout = TestWait.Timeout };

        // Act
        using var response = await admin.GetAsync(new Uri("/metrics", UriKind.Relative)).WaitAsync(TestWait.Timeout);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TestWait.Timeout);

        // Assert
        TestContext.Out.WriteLine(text);
        var samples = PrometheusText.Parse(text);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain"));
            Assert.That(response.Content.Headers.ContentType?.Parameters.Select(p => $"{p.Name}={p.Value}"), Does.Contain("version=0.0.4"));
            Assert.That(samples.Value("mesh_control_plane_xds_clients"), Is.EqualTo(1), "one client is connected");
            Assert.That(samples.Value("mesh_control_plane_sources_synced"), Is.EqualTo(1), "the manifest source has synced");
            Assert.That(samples.Value("mesh_control_plane_rebuilds_total", ("mesh_result", "published")), Is.GreaterThanOrEqualTo(1));
            Assert.That(samples.Value("mesh_control_plane_rebuild_duration_seconds_count", ("mesh_result", "published")), Is.GreaterThanOrEqualTo(1));
            Assert.That(samples.Value("mesh_control_plane_debounce_duration_seconds_count"), Is.GreaterThanOrEqualTo(1));
            foreach (var type in ResourceTypes)
            {
                Assert.That(samples.Value("mesh_xds_server_pushes_total", ("xds_type_url", type)), Is.GreaterThan(0), $"pushes of {type}");
            }
        });
    }

    [Test]
    public async Task Scrape_ClientNacksClusters_NackCounterIncrements()
    {
        // Arrange: the control plane and a raw ADS stream that rejects the clusters it is sent.
        using var directory = WriteSampleManifests();
        await using var controlPlane = await StartControlPlaneAsync(directory);
        await TestWait.UntilAsync(() => controlPlane.Host.Status.Snapshot is not null, "the first snapshot is published");
        using var admin = new HttpClient { BaseAddress = controlPlane.AdminAddress, Timeout = TestWait.Timeout };
        var before = PrometheusText.Parse(await admin.GetStringAsync(new Uri("/metrics", UriKind.Relative)).WaitAsync(TestWait.Timeout))
            .ValueOrZero("mesh_xds_server_nacks_total", ("xds_type_url", XdsResourceSnapshot.ClusterTypeUrl));
        using var channel = GrpcChannel.ForAddress(controlPlane.XdsAddress);
        using var timeout = new CancellationTokenSource(TestWait.Timeout);
        using var stream = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel).StreamAggregatedResources(cancellationToken: timeout.Token);

        // Act
        await stream.RequestStream.WriteAsync(new DiscoveryRequest { Node = new Node { Id = "nacker" }, TypeUrl = XdsResourceSnapshot.ClusterTypeUrl }).WaitAsync(TestWait.Timeout);
        Assert.That(await stream.ResponseStream.MoveNext(timeout.Token).WaitAsync(TestWait.Timeout), Is.True, "the clusters are sent");
        await stream.RequestStream.WriteAsync(new DiscoveryRequest
        {
            TypeUrl = XdsResourceSnapshot.ClusterTypeUrl,
            ResponseNonce = stream.ResponseStream.Current.Nonce,
            ErrorDetail = new Mesh.Xds.Protos.Google.Rpc.Status { Code = 3, Message = "rejected by the test" },
        }).WaitAsync(TestWait.Timeout);

        // Assert: the NACK shows in the client status first, then in the next scrape.
        await TestWait.UntilAsync(() => controlPlane.Cache.Clients.Any(c => c.Types.Any(t => t.LastNack is not null)), "the NACK is recorded");
        var after = before;
        var deadline = DateTime.UtcNow + TestWait.Timeout;
        while (after == before && DateTime.UtcNow < deadline)
        {
            // The exporter caches a scrape briefly (300 ms by default), so the first one after the NACK may be the old one.
            await Task.Delay(100);
            after = PrometheusText.Parse(await admin.GetStringAsync(new Uri("/metrics", UriKind.Relative)).WaitAsync(TestWait.Timeout))
                .ValueOrZero("mesh_xds_server_nacks_total", ("xds_type_url", XdsResourceSnapshot.ClusterTypeUrl));
        }

        Assert.That(after - before, Is.EqualTo(1), "one NACK of the clusters");
        await stream.RequestStream.CompleteAsync().WaitAsync(TestWait.Timeout);
    }

    [Test]
    public void Parse_MalformedLines_Throw()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => PrometheusText.Parse("metric{a=\"1\" 1\n"), Throws.TypeOf<FormatException>());
            Assert.That(() => PrometheusText.Parse("# TYPE metric flavour\n"), Throws.TypeOf<FormatException>());
            Assert.That(() => PrometheusText.Parse("metric one\n"), Throws.TypeOf<FormatException>());
            Assert.That(() => PrometheusText.Parse("# TYPE metric counter\n# TYPE metric counter\n"), Throws.TypeOf<FormatException>());
            Assert.That(PrometheusText.Parse("# HELP m_total Help \\\\ text.\n# TYPE m_total counter\nm_total{a=\"x\\\"y\",b=\"\"} 2 1700000000000\n").Value("m_total", ("a", "x\"y")), Is.EqualTo(2));
        });
    }

    private static ManifestTestDirectory WriteSampleManifests()
    {
        // The WorkloadEntries' ports need not listen: nothing is sent through the mesh here.
        var directory = new ManifestTestDirectory();
        foreach (var file in new[] { "backend.yaml", "routing.yaml" })
        {
            directory.Write(file, File.ReadAllText(Path.Combine(TranslationTestObjects.SampleManifestsDirectory, file)));
        }

        return directory;
    }

    private static Task<ControlPlaneApp> StartControlPlaneAsync(ManifestTestDirectory directory) =>
        ControlPlaneApp.StartAsync(new ControlPlaneOptions { ManifestsDirectory = directory.Path, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);

    /// <summary>A strict reader of the Prometheus text exposition format (0.0.4): comments, HELP, TYPE and samples.</summary>
    private static partial class PrometheusText
    {
        private const string Name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
        private const string Value = @"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN)";

        public static Samples Parse(string text)
        {
            var samples = new List<Sample>();
            var typed = new HashSet<string>(StringComparer.Ordinal);
            var lines = text.Split('\n');
            Assert.That(lines[^1], Is.Empty, "the exposition ends with a line feed");
            foreach (var line in lines[..^1])
            {
                if (HelpLine().IsMatch(line))
                {
                    continue;
                }

                if (TypeLine().Match(line) is { Success: true } type)
                {
                    if (!typed.Add(type.Groups["name"].Value))
                    {
                        throw new FormatException($"a second TYPE line for {type.Groups["name"].Value}");
                    }

                    continue;
                }

                if (line.StartsWith('#') && !line.StartsWith("# HELP", StringComparison.Ordinal) && !line.StartsWith("# TYPE", StringComparison.Ordinal))
                {
                    continue;
                }

                var sample = SampleLine().Match(line);
                if (!sample.Success)
                {
                    throw new FormatException($"not a Prometheus exposition line: '{line}'");
                }

                var labels = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (Match label in LabelPair().Matches(sample.Groups["labels"].Value))
                {
                    labels.Add(label.Groups["name"].Value, Regex.Unescape(label.Groups["value"].Value));
                }

                var raw = sample.Groups["value"].Value;
                var value = raw switch
                {
                    "+Inf" or "Inf" => double.PositiveInfinity,
                    "-Inf" => double.NegativeInfinity,
                    _ => double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture),
                };
                samples.Add(new Sample(sample.Groups["name"].Value, labels, value));
            }

            return new Samples(samples);
        }

        [GeneratedRegex("^# HELP " + Name + "(?: (?:[^\\\\]|\\\\\\\\|\\\\n)*)?$")]
        private static partial Regex HelpLine();

        [GeneratedRegex("^# TYPE (?<name>" + Name + ") (?:counter|gauge|histogram|summary|untyped)$")]
        private static partial Regex TypeLine();

        [GeneratedRegex("^(?<name>" + Name + @")(?:\{(?<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\]|\\[\\""n])*"")(?:,[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\]|\\[\\""n])*"")*,?)?\})? (?<value>" + Value + ")(?: -?[0-9]+)?$")]
        private static partial Regex SampleLine();

        [GeneratedRegex(@"(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(?:[^""\\]|\\[\\""n])*)""")]
        private static partial Regex LabelPair();
    }

    private sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    private sealed class Samples(IReadOnlyList<Sample> all)
    {
        /// <summary>The one sample with this name whose labels include the given ones; fails unless there is exactly one.</summary>
        public double Value(string name, params (string Label, string Value)[] labels)
        {
            var matching = Matching(name, labels);
            Assert.That(matching, Has.Count.EqualTo(1), $"one sample of {name} with {string.Join(",", labels)}");
            return matching[0].Value;
        }

        public double ValueOrZero(string name, params (string Label, string Value)[] labels) => Matching(name, labels).Sum(s => s.Value);

        private List<Sample> Matching(string name, (string Label, string Value)[] labels) =>
            [.. all.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value))];
    }
}
