using System.Diagnostics.Metrics;

namespace Mesh.LoadTest.Clients;

/// <summary>
/// Listens to the <c>Mesh</c> meters of the full-pipeline variants only, as an exporter would: every measurement is
/// really recorded (a count and, for histograms, a bucket), so the mesh's metric path runs in full. An exporter's own
/// cost (tag lookups, export) is not the mesh's and is kept to a minimum here.
/// </summary>
internal sealed class MeshMetricsListener : IDisposable
{
    private static readonly double[] Bounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly List<MeterListener> _listeners = [];
    private readonly long[] _buckets = new long[Bounds.Length + 1];
    private long _longMeasurements;
    private long _doubleMeasurements;

    /// <summary>Measurements seen so far (counter increments and histogram records).</summary>
    public long Measurements => Interlocked.Read(ref _longMeasurements) + Interlocked.Read(ref _doubleMeasurements);

    /// <summary>Enables every instrument of <paramref name="meter"/> (one mesh container's "Mesh" meter), and only those.</summary>
    public void Listen(Meter meter)
    {
        // A listener per meter: Start() publishes the instruments that exist already, which a running listener would not see again.
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, meter))
                {
                    l.EnableMeasurementEvents(instrument, this);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>(static (_, value, _, state) => ((MeshMetricsListener)state!).Record(value));
        listener.SetMeasurementEventCallback<long>(static (_, value, _, state) => Interlocked.Add(ref ((MeshMetricsListener)state!)._longMeasurements, value));
        listener.Start();
        _listeners.Add(listener);
    }

    public void Dispose()
    {
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
    }

    private void Record(double value)
    {
        Interlocked.Increment(ref _doubleMeasurements);
        var i = 0;
        while (i < Bounds.Length && value > Bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _buckets[i]);
    }
}
