using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Mesh.Telemetry;

namespace Mesh.Demo;

/// <summary>
/// What Istio's dashboards and Kiali's graph would see: <c>istio_requests_total</c> summed by reporter and edge (the
/// frontend reports as source, the backends as destination), read from every <c>Mesh.Istio</c> meter of the process
/// with a <see cref="MeterListener"/>, as an exporter would.
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
            var edge = new Edge(Tag(tags, "reporter"), Tag(tags, "source_workload"), Tag(tags, "source_principal"), Tag(tags, "destination_workload"), Tag(tags, "destination_version"), Tag(tags, "destination_principal"), Tag(tags, "response_code"));
            _edges.AddOrUpdate(edge, value, (_, total) => total + value);
        });
        _listener.Start();
    }

    /// <summary>Prints the edges; each reporter must count every request, and every edge name both workloads and both principals.</summary>
    public bool Print(int expectedRequests)
    {
        Console.WriteLine("What Istio's dashboards and Kiali's graph see (istio_requests_total from the Mesh.Istio meters: the frontend reports as source, the backends as destination):");
        Console.WriteLine($"  {"reporter",-13}{"source_workload",-17}{"destination_workload",-22}{"version",-9}{"code",6}{"requests",10}  principals (source -> destination)");
        var ok = true;
        foreach (var (edge, count) in _edges.OrderByDescending(e => e.Key.Reporter, StringComparer.Ordinal).ThenBy(e => e.Key.DestinationWorkload, StringComparer.Ordinal))
        {
            var known = edge.SourceWorkload != IstioMetrics.Unknown && edge.DestinationWorkload != IstioMetrics.Unknown
                && edge.SourcePrincipal.StartsWith("spiffe://", StringComparison.Ordinal) && edge.DestinationPrincipal.StartsWith("spiffe://", StringComparison.Ordinal);
            ok &= known;
            Console.WriteLine($"  {edge.Reporter,-13}{edge.SourceWorkload,-17}{edge.DestinationWorkload,-22}{edge.DestinationVersion,-9}{edge.ResponseCode,6}{count,10}  {edge.SourcePrincipal} -> {edge.DestinationPrincipal}{(known ? "" : "   <- a label is unknown")}");
        }

        foreach (var reporter in (ReadOnlySpan<string>)["source", "destination"])
        {
            var total = _edges.Where(e => e.Key.Reporter == reporter).Sum(e => e.Value);
            ok &= total == expectedRequests;
            Console.WriteLine($"  reported by the {reporter}: {total}{(total == expectedRequests ? "" : $"   <- expected {expectedRequests}")}");
        }

        Console.WriteLine("  (the backends know the caller's identity from its certificate and its workload from Istio's metadata exchange header)");
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

    private readonly record struct Edge(string Reporter, string SourceWorkload, string SourcePrincipal, string DestinationWorkload, string DestinationVersion, string DestinationPrincipal, string ResponseCode);
}
