using System.Globalization;
using System.Threading.RateLimiting;
using Mesh.Configuration;

namespace Mesh.Resilience;

/// <summary>Validated token-bucket settings.</summary>
internal sealed record RateLimitSettings(int TokensPerPeriod, TimeSpan Period, int Burst)
{
    public static RateLimitSettings? Create(RateLimitOptions? options, string path, List<string> errors)
    {
        if (options is null)
        {
            return null;
        }

        var count = errors.Count;
        if (options.TokensPerPeriod < 1)
        {
            errors.Add($"{path}:TokensPerPeriod = {options.TokensPerPeriod.ToString(CultureInfo.InvariantCulture)}: must be >= 1");
        }

        if (options.Period <= TimeSpan.Zero)
        {
            errors.Add($"{path}:Period = {RoutePolicy.Format(options.Period)}: must be a positive duration, e.g. 00:00:01");
        }

        var burst = options.Burst ?? options.TokensPerPeriod;
        if (burst < 1)
        {
            errors.Add($"{path}:Burst = {burst.ToString(CultureInfo.InvariantCulture)}: must be >= 1");
        }

        return errors.Count == count ? new RateLimitSettings(options.TokensPerPeriod, options.Period, burst) : null;
    }
}

/// <summary>
/// A local token bucket on <see cref="TokenBucketRateLimiter"/>, refilled by a <see cref="TimeProvider"/> timer
/// (the limiter's own replenishment uses the wall clock, which tests cannot drive). Requests never queue:
/// with no token they are refused at once.
/// </summary>
internal sealed class RateLimiterState : IDisposable
{
    private readonly TokenBucketRateLimiter _limiter;
    private readonly ITimer _timer;

    public RateLimiterState(RateLimitSettings settings, TimeProvider time)
    {
        Settings = settings;
        _limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = settings.Burst,
            TokensPerPeriod = settings.TokensPerPeriod,
            ReplenishmentPeriod = settings.Period,
            QueueLimit = 0,
            AutoReplenishment = false,
        });
        _timer = time.CreateTimer(static s => ((TokenBucketRateLimiter)s!).TryReplenish(), _limiter, settings.Period, settings.Period);
    }

    public RateLimitSettings Settings { get; }

    /// <summary>Takes a token if one is left.</summary>
    public bool TryAcquire()
    {
        using var lease = _limiter.AttemptAcquire(1);
        return lease.IsAcquired;
    }

    public void Dispose()
    {
        // The limiter itself is left to the collector: a request in flight may still hold it.
        _timer.Dispose();
    }
}
