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
    private string? _peerPrincipal;

    /// <summary>Requests currently sent to the endpoint and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>An exponentially weighted moving average of response time in milliseconds; NaN before the first response.</summary>
    public double LatencyEwmaMilliseconds => BitConverter.Int64BitsToDouble(Volatile.Read(ref _ewmaBits));

    /// <summary>Whether outlier detection has ejected the endpoint (it takes no traffic unless its cluster is in panic).</summary>
    public bool IsEjected => Volatile.Read(ref Outlier.Ejected);

    /// <summary>Outlier-detection counters and ejection state; owned by the service's <c>OutlierDetector</c>.</summary>
    internal OutlierCounters Outlier;

    /// <summary>
    /// The SPIFFE ID (<c>spiffe://…</c>) the endpoint proved in its last TLS handshake the mesh verified, or
    /// <see langword="null"/> before one (plaintext endpoints never have one): Istio's <c>destination_principal</c>.
    /// </summary>
    public string? PeerPrincipal => Volatile.Read(ref _peerPrincipal);

    /// <summary>Notes the identity a verified handshake with the endpoint proved.</summary>
    internal void OnPeerVerified(string principal) => Volatile.Write(ref _peerPrincipal, principal);

    /// <summary>Marks the start of a request to the endpoint.</summary>
    public void OnRequestStarted() => Interlocked.Increment(ref _inFlight);

    /// <summary>Marks the end of a request to the endpoint; records its latency when the endpoint answered.</summary>
    /// <param name="elapsed">How long the request took.</param>
    /// <param name="answered">Whether the endpoint answered; a refused or reset connection says nothing about its speed (a dead endpoint would look fast).</param>
    public void OnRequestCompleted(TimeSpan elapsed, bool answered = true)
    {
        Interlocked.Decrement(ref _inFlight);
        if (!answered)
        {
            return;
        }

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

/// <summary>
/// Per-endpoint outlier-detection data. Counters are updated lock-free on the request path;
/// ejection fields are written under the detector's lock.
/// </summary>
internal struct OutlierCounters
{
    public int Consecutive5xx;
    public int ConsecutiveGatewayErrors;
    public long IntervalSuccesses;
    public long IntervalFailures;
    public bool Ejected;
    public long EjectedAtTimestamp;
    public int EjectionMultiplier;
}
