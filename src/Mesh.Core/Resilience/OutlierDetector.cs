using System.Collections.Immutable;
using Mesh.Model;
using Mesh.Telemetry;
using Microsoft.Extensions.Logging;

namespace Mesh.Resilience;

/// <summary>Why an endpoint was ejected.</summary>
internal enum EjectionReason
{
    Consecutive5xx,
    ConsecutiveGatewayErrors,
    SuccessRate,
    FailurePercentage,
}

/// <summary>
/// Passive health checking for one service's endpoints with Envoy's semantics: consecutive 5xx and
/// consecutive gateway errors eject inline; success rate (mean − factor × standard deviation) and
/// failure percentage are judged on every interval; an ejection lasts base × times ejected in a row,
/// capped, and that multiplier shrinks by one for every interval the endpoint is healthy; at most
/// <c>MaxEjectionPercent</c> of the endpoints are ejected, but always at least one may be.
/// Outcomes are counted lock-free; ejection decisions take a lock (they are rare).
/// </summary>
internal sealed partial class OutlierDetector : IDisposable
{
    private readonly string _service;
    private readonly ImmutableArray<EndpointModel> _endpoints;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly MeshTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    private bool _disposed;

    public OutlierDetector(string service, OutlierDetectionSettings settings, ImmutableArray<EndpointModel> endpoints, TimeProvider time, Random random, MeshTelemetry telemetry, ILogger logger)
    {
        _service = service;
        Settings = settings;
        _endpoints = endpoints;
        _time = time;
        _random = random;
        _telemetry = telemetry;
        _logger = logger;
        _timer = time.CreateTimer(static s => ((OutlierDetector)s!).Sweep(), this, settings.Interval, settings.Interval);
    }

    /// <summary>Raised (outside the lock) after endpoints were ejected or returned, so clusters rebuild their pickers.</summary>
    public event Action? EjectionsChanged;

    public OutlierDetectionSettings Settings { get; }

    /// <summary>Records an attempt's outcome; may eject the endpoint at once on consecutive errors.</summary>
    public void Report(EndpointModel endpoint, AttemptOutcome outcome)
    {
        ref var counters = ref endpoint.State.Outlier;
        if (outcome.IsSuccess)
        {
            Interlocked.Increment(ref counters.IntervalSuccesses);
            if (Volatile.Read(ref counters.Consecutive5xx) != 0)
            {
                Volatile.Write(ref counters.Consecutive5xx, 0);
            }

            if (Volatile.Read(ref counters.ConsecutiveGatewayErrors) != 0)
            {
                Volatile.Write(ref counters.ConsecutiveGatewayErrors, 0);
            }

            return;
        }

        Interlocked.Increment(ref counters.IntervalFailures);
        var consecutive5xx = Interlocked.Increment(ref counters.Consecutive5xx);
        var consecutiveGateway = 0;
        if (outcome.IsGatewayError)
        {
            consecutiveGateway = Interlocked.Increment(ref counters.ConsecutiveGatewayErrors);
        }
        else
        {
            Volatile.Write(ref counters.ConsecutiveGatewayErrors, 0);
        }

        var settings = Settings;
        // ">=": an outlier kept in service by MaxEjectionPercent is ejected on its next failure once room frees up.
        if (settings.Consecutive5xx > 0 && consecutive5xx >= settings.Consecutive5xx && settings.EnforcingConsecutive5xx > 0)
        {
            Eject(endpoint, EjectionReason.Consecutive5xx, settings.EnforcingConsecutive5xx);
        }
        else if (settings.ConsecutiveGatewayErrors > 0 && consecutiveGateway >= settings.ConsecutiveGatewayErrors && settings.EnforcingConsecutiveGatewayErrors > 0)
        {
            Eject(endpoint, EjectionReason.ConsecutiveGatewayErrors, settings.EnforcingConsecutiveGatewayErrors);
        }
    }

    /// <summary>The interval's analysis: returns endpoints whose ejection time is over, then judges success rate and failure percentage.</summary>
    internal void Sweep()
    {
        var changed = false;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var now = _time.GetTimestamp();
            var volumes = new (long Successes, long Failures)[_endpoints.Length];
            var returned = new bool[_endpoints.Length];
            for (var i = 0; i < _endpoints.Length; i++)
            {
                ref var c = ref _endpoints[i].State.Outlier;
                volumes[i] = (Interlocked.Exchange(ref c.IntervalSuccesses, 0), Interlocked.Exchange(ref c.IntervalFailures, 0));
                if (c.Ejected && _time.GetElapsedTime(c.EjectedAtTimestamp, now) >= EjectionTime(c.EjectionMultiplier))
                {
                    Volatile.Write(ref c.Ejected, false);
                    Volatile.Write(ref c.Consecutive5xx, 0);
                    Volatile.Write(ref c.ConsecutiveGatewayErrors, 0);
                    returned[i] = true;
                    changed = true;
                    Log.Returned(_logger, _service, _endpoints[i].Key);
                    _telemetry.OutlierReturns.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.Service, _service));
                }
            }

            changed |= JudgeSuccessRate(volumes, now);
            changed |= JudgeFailurePercentage(volumes, now);

            // As Envoy, after the analysis: an endpoint in service for the whole interval (not ejected now, not
            // returned by this sweep) earns one step off its ejection multiplier.
            for (var i = 0; i < _endpoints.Length; i++)
            {
                ref var c = ref _endpoints[i].State.Outlier;
                if (!c.Ejected && !returned[i] && c.EjectionMultiplier > 0)
                {
                    c.EjectionMultiplier--;
                }
            }
        }

        if (changed)
        {
            EjectionsChanged?.Invoke();
        }
    }

    /// <summary>base × multiplier, capped at the maximum ejection time.</summary>
    internal TimeSpan EjectionTime(int multiplier)
    {
        var ticks = Settings.BaseEjectionTime.Ticks * (long)Math.Max(1, multiplier);
        return TimeSpan.FromTicks(Math.Min(ticks, Settings.MaxEjectionTime.Ticks));
    }

    /// <summary>Envoy's success-rate threshold: mean − factor × (population) standard deviation.</summary>
    internal static double SuccessRateThreshold(IReadOnlyList<double> rates, double stdevFactor)
    {
        var mean = 0.0;
        foreach (var r in rates)
        {
            mean += r;
        }

        mean /= rates.Count;
        var variance = 0.0;
        foreach (var r in rates)
        {
            variance += (r - mean) * (r - mean);
        }

        variance /= rates.Count;
        return mean - (stdevFactor * Math.Sqrt(variance));
    }

    private bool JudgeSuccessRate((long Successes, long Failures)[] volumes, long now)
    {
        var settings = Settings;
        var candidates = new List<(int Index, double Rate)>();
        for (var i = 0; i < volumes.Length; i++)
        {
            var total = volumes[i].Successes + volumes[i].Failures;
            if (total > 0 && total >= settings.SuccessRateRequestVolume && !_endpoints[i].State.Outlier.Ejected)
            {
                candidates.Add((i, 100.0 * volumes[i].Successes / total));
            }
        }

        if (candidates.Count == 0 || candidates.Count < settings.SuccessRateMinimumHosts)
        {
            return false;
        }

        var threshold = SuccessRateThreshold(candidates.ConvertAll(c => c.Rate), settings.SuccessRateStdevFactor);
        var changed = false;
        foreach (var (index, rate) in candidates)
        {
            if (rate < threshold)
            {
                changed |= EjectLocked(_endpoints[index], EjectionReason.SuccessRate, settings.EnforcingSuccessRate, now);
            }
        }

        return changed;
    }

    private bool JudgeFailurePercentage((long Successes, long Failures)[] volumes, long now)
    {
        var settings = Settings;
        var candidates = new List<(int Index, double FailurePercent)>();
        for (var i = 0; i < volumes.Length; i++)
        {
            var total = volumes[i].Successes + volumes[i].Failures;
            if (total > 0 && total >= settings.FailurePercentageRequestVolume && !_endpoints[i].State.Outlier.Ejected)
            {
                candidates.Add((i, 100.0 * volumes[i].Failures / total));
            }
        }

        if (candidates.Count == 0 || candidates.Count < settings.FailurePercentageMinimumHosts)
        {
            return false;
        }

        var changed = false;
        foreach (var (index, failurePercent) in candidates)
        {
            if (failurePercent >= settings.FailurePercentageThreshold)
            {
                changed |= EjectLocked(_endpoints[index], EjectionReason.FailurePercentage, settings.EnforcingFailurePercentage, now);
            }
        }

        return changed;
    }

    private void Eject(EndpointModel endpoint, EjectionReason reason, int enforcingPercent)
    {
        bool changed;
        lock (_lock)
        {
            changed = !_disposed && EjectLocked(endpoint, reason, enforcingPercent, _time.GetTimestamp());
        }

        if (changed)
        {
            EjectionsChanged?.Invoke();
        }
    }

    private bool EjectLocked(EndpointModel endpoint, EjectionReason reason, int enforcingPercent, long now)
    {
        ref var c = ref endpoint.State.Outlier;
        if (c.Ejected || enforcingPercent <= 0)
        {
            return false;
        }

        if (enforcingPercent < 100 && _random.Next(100) >= enforcingPercent)
        {
            // One roll per detection: the next consecutive-error detection needs a full run of errors again.
            Volatile.Write(ref c.Consecutive5xx, 0);
            Volatile.Write(ref c.ConsecutiveGatewayErrors, 0);
            return false;
        }

        var ejected = 0;
        foreach (var e in _endpoints)
        {
            ejected += e.State.Outlier.Ejected ? 1 : 0;
        }

        // Envoy: always allow one ejection; beyond that stay within max_ejection_percent.
        if (ejected > 0 && 100L * (ejected + 1) > (long)Settings.MaxEjectionPercent * _endpoints.Length)
        {
            Log.EjectionSkipped(_logger, _service, endpoint.Key, reason, ejected, Settings.MaxEjectionPercent);
            return false;
        }

        // Envoy grows the multiplier only while multiplier x base < max + base, so that after many ejections a
        // few healthy intervals bring the ejection time back below the maximum.
        if (Settings.BaseEjectionTime.Ticks * c.EjectionMultiplier < Settings.MaxEjectionTime.Ticks + Settings.BaseEjectionTime.Ticks)
        {
            c.EjectionMultiplier++;
        }

        c.EjectedAtTimestamp = now;
        Volatile.Write(ref c.Consecutive5xx, 0);
        Volatile.Write(ref c.ConsecutiveGatewayErrors, 0);
        Volatile.Write(ref c.Ejected, true);
        var duration = EjectionTime(c.EjectionMultiplier);
        Log.Ejected(_logger, _service, endpoint.Key, reason, duration, c.EjectionMultiplier);
        MeshTelemetry.AddEvent("mesh.outlier.ejection", "mesh.endpoint", endpoint.Key, MeshTelemetry.Tags.EjectionReason, ReasonName(reason));
        _telemetry.OutlierEjections.Add(
            1,
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.Service, _service),
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.EjectionReason, ReasonName(reason)));
        return true;
    }

    internal static string ReasonName(EjectionReason reason) => reason switch
    {
        EjectionReason.Consecutive5xx => "consecutive_5xx",
        EjectionReason.ConsecutiveGatewayErrors => "consecutive_gateway_errors",
        EjectionReason.SuccessRate => "success_rate",
        _ => "failure_percentage",
    };

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
        }

        _timer.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Warning, "Service '{Service}': endpoint {Endpoint} ejected ({Reason}) for {Duration} (ejection {Multiplier} in a row)")]
        public static partial void Ejected(ILogger logger, string service, string endpoint, EjectionReason reason, TimeSpan duration, int multiplier);

        [LoggerMessage(21, LogLevel.Information, "Service '{Service}': endpoint {Endpoint} returned to service after its ejection")]
        public static partial void Returned(ILogger logger, string service, string endpoint);

        [LoggerMessage(22, LogLevel.Warning, "Service '{Service}': endpoint {Endpoint} is an outlier ({Reason}) but not ejected: {Ejected} endpoint(s) already ejected, MaxEjectionPercent is {MaxPercent}")]
        public static partial void EjectionSkipped(ILogger logger, string service, string endpoint, EjectionReason reason, int ejected, int maxPercent);
    }
}
