using System.Globalization;
using Mesh.Configuration;
using Mesh.Telemetry;
using Microsoft.Extensions.Logging;

namespace Mesh.Resilience;

/// <summary>A cluster's validated circuit-breaking settings: connection-pool thresholds, retry budget and the two seed breakers.</summary>
internal sealed record ClusterResilienceSettings(
    int MaxRequests,
    int MaxPendingRequests,
    int MaxRetries,
    double RetryBudgetPercent,
    int MinRetryConcurrency,
    CircuitBreakerOptionsSnapshot? ErrorRate,
    CircuitBreakerOptionsSnapshot? SlowCall)
{
    public static ClusterResilienceSettings Default { get; } = new(
        ResilienceDefaults.MaxRequests, ResilienceDefaults.MaxPendingRequests, ResilienceDefaults.MaxRetries, ResilienceDefaults.RetryBudgetPercent, ResilienceDefaults.MinRetryConcurrency, null, null);

    public static ClusterResilienceSettings Create(ServiceOptions service, string path, List<string> errors)
    {
        var pool = service.ConnectionPool ?? new ConnectionPoolOptions();
        var count = errors.Count;
        var poolPath = $"{path}:ConnectionPool";
        if (pool.MaxRequests < 1)
        {
            errors.Add($"{poolPath}:MaxRequests = {pool.MaxRequests.ToString(CultureInfo.InvariantCulture)}: must be >= 1 (Envoy's default is 1024)");
        }

        SettingRules.NonNegative(pool.MaxPendingRequests, $"{poolPath}:MaxPendingRequests", errors);
        SettingRules.NonNegative(pool.MaxRetries, $"{poolPath}:MaxRetries", errors);
        SettingRules.NonNegative(pool.MinRetryConcurrency, $"{poolPath}:MinRetryConcurrency", errors);
        if (pool.RetryBudgetPercent is < 0 or > 100 || double.IsNaN(pool.RetryBudgetPercent))
        {
            errors.Add($"{poolPath}:RetryBudgetPercent = {pool.RetryBudgetPercent.ToString(CultureInfo.InvariantCulture)}: must be a percentage from 0 to 100 (0 turns the budget off)");
        }

        var errorRate = CircuitBreakerOptionsSnapshot.Create(service.CircuitBreaker, $"{path}:CircuitBreaker", errors);
        var slowCall = CircuitBreakerOptionsSnapshot.Create(service.SlowCallBreaker, $"{path}:SlowCallBreaker", errors);
        return errors.Count != count
            ? Default
            : new ClusterResilienceSettings(pool.MaxRequests, pool.MaxPendingRequests, pool.MaxRetries, pool.RetryBudgetPercent, pool.MinRetryConcurrency, errorRate, slowCall);
    }
}

/// <summary>Validated breaker settings; <see cref="SlowCallDuration"/> is set for the slow-call breaker only.</summary>
internal sealed record CircuitBreakerOptionsSnapshot(double Ratio, TimeSpan SamplingDuration, int MinimumThroughput, TimeSpan BreakDuration, TimeSpan? SlowCallDuration)
{
    public static CircuitBreakerOptionsSnapshot? Create(CircuitBreakerOptions? o, string path, List<string> errors) =>
        o is null ? null : Validate(o.FailureRatio, "FailureRatio", o.SamplingDuration, o.MinimumThroughput, o.BreakDuration, null, path, errors);

    public static CircuitBreakerOptionsSnapshot? Create(SlowCallBreakerOptions? o, string path, List<string> errors)
    {
        if (o is null)
        {
            return null;
        }

        if (o.SlowCallDuration <= TimeSpan.Zero)
        {
            errors.Add($"{path}:SlowCallDuration = {SettingRules.Format(o.SlowCallDuration)}: must be a positive duration, e.g. 00:00:01");
        }

        return Validate(o.SlowCallRatio, "SlowCallRatio", o.SamplingDuration, o.MinimumThroughput, o.BreakDuration, o.SlowCallDuration, path, errors);
    }

    private static CircuitBreakerOptionsSnapshot? Validate(double ratio, string ratioName, TimeSpan sampling, int throughput, TimeSpan breakDuration, TimeSpan? slow, string path, List<string> errors)
    {
        var count = errors.Count;

        // Polly's limits, kept with its breaker semantics: ratio in (0, 1], sampling >= 0.5 s, throughput >= 2, break >= 0.5 s.
        if (ratio is <= 0 or > 1 || double.IsNaN(ratio))
        {
            errors.Add($"{path}:{ratioName} = {ratio.ToString(CultureInfo.InvariantCulture)}: must be greater than 0 and at most 1, e.g. 0.5");
        }

        if (sampling < TimeSpan.FromMilliseconds(500))
        {
            errors.Add($"{path}:SamplingDuration = {SettingRules.Format(sampling)}: must be at least 00:00:00.500");
        }

        if (throughput < 2)
        {
            errors.Add($"{path}:MinimumThroughput = {throughput.ToString(CultureInfo.InvariantCulture)}: must be >= 2");
        }

        if (breakDuration < TimeSpan.FromMilliseconds(500))
        {
            errors.Add($"{path}:BreakDuration = {SettingRules.Format(breakDuration)}: must be at least 00:00:00.500");
        }

        return errors.Count == count ? new CircuitBreakerOptionsSnapshot(ratio, sampling, throughput, breakDuration, slow) : null;
    }
}

/// <summary>
/// Runtime state of one cluster, kept across snapshots while its settings stay the same: the
/// connection-pool admission (max requests, max pending), active retries against max retries and the
/// retry budget, and the error-rate and slow-call breakers.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "Disposing the semaphore would fail requests still waiting on it; without a wait handle it holds no unmanaged resources, so it is left to the collector when the cluster goes away.")]
internal sealed partial class ClusterState
{
    private readonly SemaphoreSlim _released = new(0);
    private readonly MeshTelemetry _telemetry;
    private readonly ILogger _logger;
    private int _active;
    private int _pending;
    private int _activeRetries;

    public ClusterState(string cluster, ClusterResilienceSettings settings, TimeProvider time, MeshTelemetry telemetry, ILogger logger)
    {
        Name = cluster;
        Settings = settings;
        _telemetry = telemetry;
        _logger = logger;
        Breakers = CreateBreakers(settings, time);
    }

    public string Name { get; }

    public ClusterResilienceSettings Settings { get; }

    /// <summary>The breakers around each attempt, or null when none is configured.</summary>
    public ClusterBreakers? Breakers { get; }

    /// <summary>Requests admitted and not yet finished.</summary>
    public int ActiveRequests => Volatile.Read(ref _active);

    /// <summary>Retries decided and not yet finished.</summary>
    public int ActiveRetries => Volatile.Read(ref _activeRetries);

    /// <summary>
    /// Admits an attempt at once while fewer than MaxRequests are in flight: one compare-and-swap, no
    /// allocation. (A <c>ConcurrencyLimiter</c> allocates a lease per request; it is only a queue here.)
    /// </summary>
    public bool TryAdmit()
    {
        var max = Settings.MaxRequests;
        while (true)
        {
            var active = Volatile.Read(ref _active);
            if (active >= max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _active, active + 1, active) == active)
            {
                return true;
            }
        }
    }

    /// <summary>Admits an attempt: at once below MaxRequests, after waiting when fewer than MaxPendingRequests wait, else refused (false).</summary>
    public async ValueTask<bool> AdmitAsync(CancellationToken cancellationToken)
    {
        if (TryAdmit())
        {
            return true;
        }

        if (Interlocked.Increment(ref _pending) > Settings.MaxPendingRequests)
        {
            Interlocked.Decrement(ref _pending);
            Overflow(Settings.MaxPendingRequests > 0 ? "max_pending_requests" : "max_requests");
            return false;
        }

        try
        {
            // Every release while someone waits signals once; a waiter that loses the race waits again.
            while (!TryAdmit())
            {
                await _released.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>Counts a request refused at max requests without queueing (gRPC's circuit breaking); always false.</summary>
    public bool RefuseOverflow()
    {
        Overflow("max_requests");
        return false;
    }

    /// <summary>Returns an admission.</summary>
    public void Release()
    {
        Interlocked.Decrement(ref _active);
        if (Volatile.Read(ref _pending) > 0)
        {
            _released.Release();
        }
    }

    /// <summary>
    /// Reserves a retry if the cluster allows one more: fewer than MaxRetries in flight, and (with a budget)
    /// fewer than max(MinRetryConcurrency, RetryBudgetPercent × active requests), as Envoy's retry budget.
    /// </summary>
    public bool TryBeginRetry()
    {
        // The deciding request's own attempt has already returned its slot; it is still a request in flight.
        var allowed = AllowedRetries(ActiveRequests + 1);
        while (true)
        {
            var current = Volatile.Read(ref _activeRetries);
            if (current >= allowed)
            {
                Overflow(current >= Settings.MaxRetries ? "max_retries" : "retry_budget");
                return false;
            }

            if (Interlocked.CompareExchange(ref _activeRetries, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Ends a retry reserved with <see cref="TryBeginRetry"/>.</summary>
    public void EndRetry() => Interlocked.Decrement(ref _activeRetries);

    /// <summary>The retries allowed in flight with <paramref name="activeRequests"/> requests in flight.</summary>
    internal int AllowedRetries(int activeRequests)
    {
        var allowed = Settings.MaxRetries;
        if (Settings.RetryBudgetPercent > 0)
        {
            var budget = (int)Math.Max(Settings.MinRetryConcurrency, Settings.RetryBudgetPercent * activeRequests / 100.0);
            allowed = Math.Min(allowed, budget);
        }

        return allowed;
    }

    private void Overflow(string kind)
    {
        _telemetry.Overflows.Add(
            1,
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.Cluster, Name),
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.OverflowKind, kind));
        MeshTelemetry.AddEvent("mesh.overflow", MeshTelemetry.Tags.OverflowKind, kind, MeshTelemetry.Tags.Cluster, Name);
    }

    private ClusterBreakers? CreateBreakers(ClusterResilienceSettings settings, TimeProvider time)
    {
        if (settings.ErrorRate is null && settings.SlowCall is null)
        {
            return null;
        }

        // Only attempts that reached an endpoint count; the mesh's own refusals (overflow) do not.
        return new ClusterBreakers(
            settings.ErrorRate is { } errorRate ? new CircuitBreakerState("error_rate", errorRate, time, OnBreakerTransition) : null,
            settings.SlowCall is { } slowCall ? new CircuitBreakerState("slow_call", slowCall, time, OnBreakerTransition) : null);
    }

    private void OnBreakerTransition(CircuitBreakerState breaker, CircuitPosition position)
    {
        switch (position)
        {
            case CircuitPosition.Open:
                Log.BreakerOpened(_logger, Name, breaker.Kind, breaker.Settings.BreakDuration);
                break;
            case CircuitPosition.Closed:
                Log.BreakerClosed(_logger, Name, breaker.Kind);
                break;
        }

        _telemetry.BreakerTransitions.Add(
            1,
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.Cluster, Name),
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.Breaker, breaker.Kind),
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.BreakerState, position switch
            {
                CircuitPosition.Open => "open",
                CircuitPosition.HalfOpen => "half_open",
                _ => "closed",
            }));
    }

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Warning, "Cluster '{Cluster}': {Kind} circuit breaker opened for {BreakDuration}")]
        public static partial void BreakerOpened(ILogger logger, string cluster, string kind, TimeSpan breakDuration);

        [LoggerMessage(31, LogLevel.Information, "Cluster '{Cluster}': {Kind} circuit breaker closed")]
        public static partial void BreakerClosed(ILogger logger, string cluster, string kind);
    }
}
