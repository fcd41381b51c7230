using System.Collections.Frozen;
using System.Globalization;
using Mesh.Configuration;

namespace Mesh.Resilience;

/// <summary>Hedging: after <see cref="Delay"/> without an answer another attempt goes to another endpoint; the first good answer wins.</summary>
internal sealed record HedgingPolicy(TimeSpan Delay, int MaxAttempts);

/// <summary>Fault injection: a delay and/or a local error answer, each for a percentage of requests.</summary>
/// <param name="Delay">The injected delay.</param>
/// <param name="DelayPercentage">The share of requests delayed, 0 to 100.</param>
/// <param name="AbortStatus">The HTTP status of an abort.</param>
/// <param name="AbortPercentage">The share of requests aborted, 0 to 100.</param>
/// <param name="AbortGrpcStatus">The gRPC status of an abort on a gRPC call; by default gRPC's mapping of <paramref name="AbortStatus"/>.</param>
internal sealed record FaultPolicy(TimeSpan Delay, double DelayPercentage, int AbortStatus, double AbortPercentage, int? AbortGrpcStatus = null)
{
    /// <summary>The gRPC status an aborted gRPC call ends with.</summary>
    public int AbortGrpcStatusOrMapped => AbortGrpcStatus ?? GrpcStatusMapping.FromHttpStatus(AbortStatus);

    public bool HasDelay => DelayPercentage > 0 && Delay > TimeSpan.Zero;

    public bool HasAbort => AbortPercentage > 0;
}

/// <summary>A route's validated resilience settings. Every member is optional; a route with none takes the fast path.</summary>
internal sealed class RoutePolicy
{
    public static RoutePolicy None { get; } = new(null, null, null, null, null);

    public RoutePolicy(TimeSpan? timeout, RetryPolicy? retry, HedgingPolicy? hedging, FaultPolicy? fault, RateLimitSettings? rateLimit)
    {
        Timeout = timeout;
        Retry = retry;
        Hedging = hedging;
        Fault = fault;
        RateLimit = rateLimit;
    }

    public TimeSpan? Timeout { get; }

    public RetryPolicy? Retry { get; }

    public HedgingPolicy? Hedging { get; }

    public FaultPolicy? Fault { get; }

    public RateLimitSettings? RateLimit { get; }

    /// <summary>Whether anything around the single attempt is configured (timeouts, retries or hedging).</summary>
    public bool NeedsPipeline => Timeout is not null || Retry is not null || Hedging is not null;

    /// <summary>Validates a route's resilience settings, adding every problem to <paramref name="errors"/>.</summary>
    public static RoutePolicy Create(RouteOptions route, string path, List<string> errors)
    {
        var timeout = route.Timeout;
        if (timeout is { } t && t <= TimeSpan.Zero)
        {
            errors.Add($"{path}:Timeout = {SettingRules.Format(t)}: must be a positive duration, e.g. 00:00:02; omit it for no timeout");
            timeout = null;
        }

        var retry = CreateRetry(route.Retries, $"{path}:Retries", errors);
        var hedging = CreateHedging(route.Hedging, $"{path}:Hedging", errors);
        if (retry is not null && hedging is not null)
        {
            errors.Add($"{path}: set Retries or Hedging, not both; hedging already sends further attempts when one fails");
        }

        var fault = CreateFault(route.Fault, $"{path}:Fault", errors);
        var rateLimit = RateLimitSettings.Create(route.RateLimit, $"{path}:RateLimit", errors);
        return timeout is null && retry is null && hedging is null && fault is null && rateLimit is null
            ? None
            : new RoutePolicy(timeout, retry, hedging, fault, rateLimit);
    }

    private static RetryPolicy? CreateRetry(RetryOptions? options, string path, List<string> errors)
    {
        if (options is null)
        {
            return null;
        }

        var count = errors.Count;
        if (options.Attempts is < 0 or > 10)
        {
            errors.Add($"{path}:Attempts = {options.Attempts.ToString(CultureInfo.InvariantCulture)}: must be between 0 and 10 (the number of retries after the first try)");
        }

        if (options.PerTryTimeout is { } perTry && perTry <= TimeSpan.Zero)
        {
            errors.Add($"{path}:PerTryTimeout = {SettingRules.Format(perTry)}: must be a positive duration, e.g. 00:00:01");
        }

        var on = RetryPolicy.Parse(options.RetryOn ?? ResilienceDefaults.RetryOn, $"{path}:RetryOn", errors);
        foreach (var code in options.RetriableStatusCodes)
        {
            if (code is < 100 or > 599)
            {
                errors.Add($"{path}:RetriableStatusCodes = {code.ToString(CultureInfo.InvariantCulture)}: must be an HTTP status code from 100 to 599");
            }
        }

        if (options.RetriableStatusCodes.Count > 0 && (on & RetryOn.RetriableStatusCodes) == 0)
        {
            errors.Add($"{path}:RetriableStatusCodes: listed but RetryOn lacks 'retriable-status-codes'; add it to RetryOn");
        }

        var backoffBase = options.BackoffBaseInterval ?? ResilienceDefaults.BackoffBaseInterval;
        var backoffMax = options.BackoffMaxInterval ?? TimeSpan.FromTicks(backoffBase.Ticks * 10);
        if (backoffBase <= TimeSpan.Zero)
        {
            errors.Add($"{path}:BackoffBaseInterval = {SettingRules.Format(backoffBase)}: must be a positive duration (Envoy's default is 00:00:00.025)");
        }

        if (backoffMax < backoffBase)
        {
            errors.Add($"{path}:BackoffMaxInterval = {SettingRules.Format(backoffMax)}: must be at least BackoffBaseInterval ({SettingRules.Format(backoffBase)})");
        }

        if (errors.Count != count || options.Attempts == 0)
        {
            return null;
        }

        return new RetryPolicy(options.Attempts, options.PerTryTimeout, on, options.RetriableStatusCodes.ToFrozenSet(), backoffBase, backoffMax);
    }

    private static HedgingPolicy? CreateHedging(HedgingOptions? options, string path, List<string> errors)
    {
        if (options is null)
        {
            return null;
        }

        var count = errors.Count;
        if (options.Delay < TimeSpan.Zero)
        {
            errors.Add($"{path}:Delay = {SettingRules.Format(options.Delay)}: must be zero or a positive duration, e.g. 00:00:00.050");
        }

        if (options.MaxAttempts is < 2 or > 10)
        {
            errors.Add($"{path}:MaxAttempts = {options.MaxAttempts.ToString(CultureInfo.InvariantCulture)}: must be between 2 and 10 (attempts in flight for one request, the first included)");
        }

        return errors.Count == count ? new HedgingPolicy(options.Delay, options.MaxAttempts) : null;
    }

    private static FaultPolicy? CreateFault(FaultOptions? options, string path, List<string> errors)
    {
        if (options is null || (options.Delay is null && options.Abort is null))
        {
            return null;
        }

        var count = errors.Count;
        if (options.Delay is { } delay)
        {
            if (delay.FixedDelay <= TimeSpan.Zero)
            {
                errors.Add($"{path}:Delay:FixedDelay = {SettingRules.Format(delay.FixedDelay)}: must be a positive duration, e.g. 00:00:00.500");
            }

            CheckPercentage(delay.Percentage, $"{path}:Delay:Percentage", errors);
        }

        if (options.Abort is { } abort)
        {
            if (abort.HttpStatus is < 200 or > 599)
            {
                errors.Add($"{path}:Abort:HttpStatus = {abort.HttpStatus.ToString(CultureInfo.InvariantCulture)}: must be a status code from 200 to 599, e.g. 503");
            }

            if (abort.GrpcStatus is < 1 or > GrpcStatusMapping.MaxStatus)
            {
                errors.Add($"{path}:Abort:GrpcStatus = {abort.GrpcStatus.Value.ToString(CultureInfo.InvariantCulture)}: must be a gRPC status code from 1 to 16, e.g. 14 (UNAVAILABLE)");
            }

            CheckPercentage(abort.Percentage, $"{path}:Abort:Percentage", errors);
        }

        return errors.Count != count
            ? null
            : new FaultPolicy(options.Delay?.FixedDelay ?? TimeSpan.Zero, options.Delay?.Percentage ?? 0, options.Abort?.HttpStatus ?? 0, options.Abort?.Percentage ?? 0, options.Abort?.GrpcStatus);
    }

    private static void CheckPercentage(double value, string path, List<string> errors)
    {
        if (value is < 0 or > 100 || double.IsNaN(value))
        {
            errors.Add($"{path} = {value.ToString(CultureInfo.InvariantCulture)}: must be a percentage from 0 to 100 (fractions allowed)");
        }
    }

}
