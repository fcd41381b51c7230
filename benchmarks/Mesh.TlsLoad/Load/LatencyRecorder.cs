using System.Diagnostics;

namespace Mesh.TlsLoad.Load;

/// <summary>Raw latency samples in a buffer allocated once; samples past the capacity are counted and dropped.</summary>
internal sealed class LatencyRecorder(int capacity)
{
    private readonly long[] _samples = new long[capacity];
    private int _count;

    public void Reset() => Volatile.Write(ref _count, 0);

    /// <summary>Records one latency in <see cref="Stopwatch"/> ticks.</summary>
    public void Record(long ticks)
    {
        var i = Interlocked.Increment(ref _count) - 1;
        if (i < _samples.Length)
        {
            _samples[i] = ticks;
        }
    }

    /// <summary>Sorts the samples in place and summarizes them (call once the load has stopped).</summary>
    public LatencySummary Summarize()
    {
        var count = Math.Min(Volatile.Read(ref _count), _samples.Length);
        if (count == 0)
        {
            return new LatencySummary(0, 0, 0, 0);
        }

        var span = _samples.AsSpan(0, count);
        span.Sort();
        return new LatencySummary(count, Micros(At(span, 0.50)), Micros(At(span, 0.99)), Micros(span[^1]));
    }

    // Nearest rank: the smallest sample with at least q of the samples at or below it.
    private static long At(Span<long> sorted, double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double Micros(double ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
}

/// <summary>Latency percentiles in microseconds.</summary>
internal sealed record LatencySummary(int Count, double P50, double P99, double Max);
