namespace Mesh.Model;

/// <summary>
/// Runtime state of one endpoint (keyed by address). It outlives snapshots: a new snapshot that keeps
/// the endpoint keeps this object, so in-flight counts and latency averages survive config updates.
/// All members are thread-safe and lock-free.
/// </summary>
public sealed class EndpointState
{
    // Weight of a new sample in the latency average: about the last 10 requests dominate.
    private const double EwmaAlpha = 0.1;

    private int _inFlight;
    private long _ewmaBits = BitConverter.DoubleToInt64Bits(double.NaN);

    /// <summary>Requests currently sent to the endpoint and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>An exponentially weighted moving average of response time in milliseconds; NaN before the first response.</summary>
    public double LatencyEwmaMilliseconds => BitConverter.Int64BitsToDouble(Volatile.Read(ref _ewmaBits));

    /// <summary>Marks the start of a request to the endpoint.</summary>
    public void OnRequestStarted() => Interlocked.Increment(ref _inFlight);

    /// <summary>Marks the end of a request to the endpoint and records its latency.</summary>
    public void OnRequestCompleted(TimeSpan elapsed)
    {
        Interlocked.Decrement(ref _inFlight);
        var sample = elapsed.TotalMilliseconds;
        while (true)
        {
            var bits = Volatile.Read(ref _ewmaBits);
            var current = BitConverter.Int64BitsToDouble(bits);
            var next = double.IsNaN(current) ? sample : current + (EwmaAlpha * (sample - current));
            if (Interlocked.CompareExchange(ref _ewmaBits, BitConverter.DoubleToInt64Bits(next), bits) == bits)
            {
                return;
            }
        }
    }
}
