namespace Mesh.Xds.Client;

/// <summary>
/// Exponential backoff between ADS stream attempts, as gRPC's connection backoff: the first delay is
/// <see cref="Initial"/>, each next one <see cref="Multiplier"/> times the previous up to <see cref="Max"/>, each
/// randomized by ± <see cref="Jitter"/>. <see cref="Reset"/> after a stream received a response (gRFC A57).
/// Not thread-safe: one stream loop owns it.
/// </summary>
internal sealed class XdsBackoff
{
    private readonly Random _random;
    private TimeSpan _current;

    public XdsBackoff(Random random, TimeSpan? initial = null, double multiplier = 1.6, double jitter = 0.2, TimeSpan? max = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        Initial = initial ?? TimeSpan.FromSeconds(1);
        Max = max ?? TimeSpan.FromSeconds(120);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Initial, TimeSpan.Zero, nameof(initial));
        ArgumentOutOfRangeException.ThrowIfLessThan(Max, Initial, nameof(max));
        ArgumentOutOfRangeException.ThrowIfLessThan(multiplier, 1.0);
        ArgumentOutOfRangeException.ThrowIfNegative(jitter);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(jitter, 1.0);
        _random = random;
        Multiplier = multiplier;
        Jitter = jitter;
        _current = Initial;
    }

    public TimeSpan Initial { get; }

    public double Multiplier { get; }

    public double Jitter { get; }

    public TimeSpan Max { get; }

    /// <summary>The delay before the next attempt; advances the sequence.</summary>
    public TimeSpan Next()
    {
        // Uniform in [current × (1 - jitter), current × (1 + jitter)], as gRPC's connection-backoff.md.
        var factor = 1 + (Jitter * ((2 * _random.NextDouble()) - 1));
        var delay = _current * factor;
        _current = TimeSpan.FromTicks((long)Math.Min(_current.Ticks * Multiplier, Max.Ticks));
        return delay;
    }

    /// <summary>Starts the sequence over at <see cref="Initial"/>.</summary>
    public void Reset() => _current = Initial;
}
