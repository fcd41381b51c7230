using System.Globalization;
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
            errors.Add($"{path}:Period = {SettingRules.Format(options.Period)}: must be a positive duration, e.g. 00:00:01");
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
/// A local token bucket (Envoy local_ratelimit: <c>tokens_per_fill</c> every <c>fill_interval</c>, up to
/// <c>max_tokens</c>), refilled by a <see cref="TimeProvider"/> timer so tests can drive it. Not on
/// <c>TokenBucketRateLimiter</c>: without auto-replenishment its <c>TryReplenish</c> adds tokens for the
/// Stopwatch time elapsed, so a fake clock never refills it. Requests never queue: with no token they are refused at once.
/// </summary>
internal sealed class RateLimiterState : IDisposable
{
    private readonly ITimer _timer;
    private int _tokens;

    public RateLimiterState(RateLimitSettings settings, TimeProvider time)
    {
        Settings = settings;
        _tokens = settings.Burst;
        _timer = time.CreateTimer(static s => ((RateLimiterState)s!).Refill(), this, settings.Period, settings.Period);
    }

    public RateLimitSettings Settings { get; }

    /// <summary>Takes a token if one is left.</summary>
    public bool TryAcquire()
    {
        while (true)
        {
            var tokens = Volatile.Read(ref _tokens);
            if (tokens <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _tokens, tokens - 1, tokens) == tokens)
            {
                return true;
            }
        }
    }

    public void Dispose() => _timer.Dispose();

    private void Refill()
    {
        while (true)
        {
            var tokens = Volatile.Read(ref _tokens);
            var refilled = (int)Math.Min(Settings.Burst, (long)tokens + Settings.TokensPerPeriod);
            if (refilled == tokens || Interlocked.CompareExchange(ref _tokens, refilled, tokens) == tokens)
            {
                return;
            }
        }
    }
}
