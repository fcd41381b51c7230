using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Mesh.Telemetry;

namespace Mesh.Demo;

/// <summary>
/// What Istio's dashboards and Kiali's graph would see of the frontend: <c>istio_requests_total</c> (reporter=source)
/// summed by edge, read from the mesh's <c>Mesh.Istio</c> meter with a <see cref="MeterListener"/>, as an exporter would.
/// </summary>
internal sealed class IstioEdges : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Edge, long> _edges = new();

    public IstioEdges()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == IstioMetrics.Name && instrument.Name == "istio_requests_total")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var edge = new Edge(Tag(tags, "source_workload"), Tag(tags, "source_principal"), Tag(tags, "destination_workload"), Tag(tags, "destination_version"), Tag(tags, "destination_principal"), Tag(tags, "response_code"));
            _edges.AddOrUpdate(edge, value, (_, total) => total + value);
        });
        _listener.Start();
    }

    /// <summary>Prints the edges; every one must name a known destination workload and both principals.</summary>
    public bool Print(int expectedRequests)
    {
        Console.WriteLine("What Istio's dashboards and Kiali's graph see (istio_requests_total, reporter=source, from the mesh's Mesh.Istio meter):");
        Console.WriteLine($"  {"source_workload",-17}{"destination_workload",-22}{"version",-9}{"code",6}{"requests",10}  principals (source -> destination)");
        var ok = true;
        foreach (var (edge, count) in _edges.OrderBy(e => e.Key.DestinationWorkload, StringComparer.Ordinal))
        {
            var known = edge.DestinationWorkload != IstioMetrics.Unknown && edge.SourcePrincipal.StartsWith("spiffe://", StringComparison.Ordinal) && edge.DestinationPrincipal.StartsWith("spiffe://", StringComparison.Ordinal);
            ok &= known;
            Console.WriteLine($"  {edge.SourceWorkload,-17}{edge.DestinationWorkload,-22}{edge.DestinationVersion,-9}{edge.ResponseCode,6}{count,10}  {edge.SourcePrincipal} -> {edge.DestinationPrincipal}{(known ? "" : "   <- a label is unknown")}");
        }

        var total = _edges.Values.Sum();
        ok &= total == expectedRequests;
        Console.WriteLine($"  total: {total}{(total == expectedRequests ? "" : $"   <- expected {expectedRequests}")}");
        Console.WriteLine();
        return ok;
    }

    public void Dispose() => _listener.Dispose();

    private static string Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == name)
            {
                return Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            }
        }

        return "";
    }

    private readonly record struct Edge(string SourceWorkload, string SourcePrincipal, string DestinationWorkload, string DestinationVersion, string DestinationPrincipal, string ResponseCode);
}
