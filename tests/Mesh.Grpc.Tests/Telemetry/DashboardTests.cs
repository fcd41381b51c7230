using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mesh.Grpc.Telemetry;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Grpc.Tests.Telemetry;

/// <summary>
/// deploy/grafana/mesh-dashboard.json queries only series the mesh exports: every metric name is an instrument of the
/// <c>Mesh</c> or <c>Mesh.Grpc</c> meter as OpenTelemetry's Prometheus exporter names it (dots to underscores, the unit's
/// suffix, <c>_total</c> for counters, <c>_bucket</c> / <c>_sum</c> / <c>_count</c> for histograms), and every label one
/// of the mesh's tags.
/// </summary>
public sealed partial class DashboardTests
{
    [Test]
    public void Dashboard_EveryQuery_UsesExportedMetricsAndTags()
    {
        // Arrange
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot(), "deploy", "grafana", "mesh-dashboard.json")));
        var (metrics, labels) = ExportedSeries();

        // Act
        var expressions = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()!)
            .ToList();
        var usedMetrics = expressions.SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).Distinct().Order(StringComparer.Ordinal).ToList();
        var usedLabels = expressions.SelectMany(e => LabelLists().Matches(e).SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries)))
            .Concat(expressions.SelectMany(e => LabelMatchers().Matches(e).Select(m => m.Groups[1].Value)))
            .Where(l => l != "le")
            .Distinct().Order(StringComparer.Ordinal).ToList();

        // Assert
        Assert.That(expressions, Has.Count.GreaterThanOrEqualTo(12));
        Assert.That(usedMetrics, Is.SubsetOf(metrics), $"exported: {string.Join(", ", metrics.Order(StringComparer.Ordinal))}");
        Assert.That(usedLabels, Is.SubsetOf(labels), $"tags: {string.Join(", ", labels.Order(StringComparer.Ordinal))}");
        Assert.That(usedMetrics, Does.Contain("mesh_client_request_duration_seconds_bucket").And.Contain("grpc_client_call_duration_seconds_count"));
    }

    /// <summary>The Prometheus series names and labels of the mesh's instruments, read from the instruments themselves.</summary>
    private static (HashSet<string> Metrics, HashSet<string> Labels) ExportedSeries()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        var metrics = new HashSet<string>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name is not (MeshTelemetry.Name or GrpcMeshTelemetry.Name))
                {
                    return;
                }

                var name = instrument.Name.Replace('.', '_') + instrument.Unit switch
                {
                    "s" => "_seconds",
                    "ms" => "_milliseconds",
                    _ => string.Empty,
                };
                if (instrument is Histogram<double>)
                {
                    metrics.UnionWith([name + "_bucket", name + "_sum", name + "_count"]);
                }
                else
                {
                    metrics.Add(name + "_total");
                }
            },
        };
        listener.Start();
        _ = new MeshTelemetry(meters);
        _ = new GrpcMeshTelemetry(meters);

        // The mesh's tag names (MeshTelemetry.Tags) and gRPC's (gRFC A66), as Prometheus labels.
        var labels = typeof(MeshTelemetry.Tags).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (string)f.GetValue(null)!)
            .Concat(["grpc.method", "grpc.target", "grpc.status"])
            .Select(t => t.Replace('.', '_'))
            .ToHashSet(StringComparer.Ordinal);
        return (metrics, labels);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Mesh.sln not found above the test directory");
    }

    [GeneratedRegex(@"\b(?:mesh|grpc)_[a-z_]+\b(?=[\[{])")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"\bby \(([^)]*)\)")]
    private static partial Regex LabelLists();

    [GeneratedRegex(@"[{,]\s*([a-z_]+)\s*(?:=~|!=|!~|=)")]
    private static partial Regex LabelMatchers();
}
