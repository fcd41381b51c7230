namespace Mesh.Configuration;

/// <summary>Retries of a route (Istio <c>HTTPRetry</c>, Envoy <c>RetryPolicy</c>).</summary>
public sealed class RetryOptions
{
    /// <summary>How many times a failed request is retried (Istio <c>attempts</c>: retries, not tries). 0 disables retries.</summary>
    public int Attempts { get; set; }

    /// <summary>Timeout of each try, including the first. Omitted: only the route's total <c>Timeout</c> applies.</summary>
    public TimeSpan? PerTryTimeout { get; set; }

    /// <summary>
    /// Comma-separated conditions (Envoy <c>retry_on</c>): <c>5xx</c>, <c>gateway-error</c> (502, 503, 504),
    /// <c>reset</c>, <c>connect-failure</c>, <c>retriable-status-codes</c> (with <see cref="RetriableStatusCodes"/>),
    /// <c>retriable-4xx</c> (409). Default <c>connect-failure,reset,gateway-error</c>.
    /// </summary>
    public string? RetryOn { get; set; }

    /// <summary>Status codes retried under <c>retriable-status-codes</c>.</summary>
    public List<int> RetriableStatusCodes { get; } = [];

    /// <summary>Base of the jittered exponential backoff (Envoy: 25 ms).</summary>
    public TimeSpan? BackoffBaseInterval { get; set; }

    /// <summary>Cap of the backoff (Envoy: 10 × base, 250 ms).</summary>
    public TimeSpan? BackoffMaxInterval { get; set; }
}

/// <summary>Hedging of a route: after <see cref="Delay"/> without an answer, the request is also sent to another endpoint; the first good answer wins.</summary>
public sealed class HedgingOptions
{
    /// <summary>How long to wait for an answer before sending another attempt.</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The most attempts in flight for one request, the first included (2 to 10). Default 2.</summary>
    public int MaxAttempts { get; set; } = 2;
}

/// <summary>Fault injection for testing resilience (Istio <c>HTTPFaultInjection</c>).</summary>
public sealed class FaultOptions
{
    /// <summary>Delay some requests before they are sent.</summary>
    public FaultDelayOptions? Delay { get; set; }

    /// <summary>Answer some requests locally with an error status instead of sending them.</summary>
    public FaultAbortOptions? Abort { get; set; }
}

/// <summary>An injected delay.</summary>
public sealed class FaultDelayOptions
{
    /// <summary>How long to delay.</summary>
    public TimeSpan FixedDelay { get; set; }

    /// <summary>Share of requests delayed, 0 to 100 (fractions allowed).</summary>
    public double Percentage { get; set; } = 100;
}

/// <summary>An injected error.</summary>
public sealed class FaultAbortOptions
{
    /// <summary>The status code of the local answer, 200 to 599.</summary>
    public int HttpStatus { get; set; } = 503;

    /// <summary>
    /// The gRPC status (1 to 16) a gRPC call is aborted with. When not set, a gRPC call gets the status gRPC maps
    /// <see cref="HttpStatus"/> to (503 → UNAVAILABLE, gRFC A33); an HTTP request always gets <see cref="HttpStatus"/>.
    /// </summary>
    public int? GrpcStatus { get; set; }

    /// <summary>Share of requests aborted, 0 to 100 (fractions allowed).</summary>
    public double Percentage { get; set; } = 100;
}

/// <summary>A local token-bucket rate limit (Envoy local_ratelimit): <see cref="TokensPerPeriod"/> tokens every <see cref="Period"/>, up to <see cref="Burst"/> saved.</summary>
public sealed class RateLimitOptions
{
    /// <summary>Tokens added every period.</summary>
    public int TokensPerPeriod { get; set; }

    /// <summary>The refill period. Default one second.</summary>
    public TimeSpan Period { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The bucket size (largest burst). Defaults to <see cref="TokensPerPeriod"/>.</summary>
    public int? Burst { get; set; }
}

/// <summary>Connection-pool circuit breaking per cluster (Envoy thresholds; Istio <c>connectionPool</c>).</summary>
public sealed class ConnectionPoolOptions
{
    /// <summary>Requests in flight to the cluster at most (Envoy max_requests, default 1024).</summary>
    public int MaxRequests { get; set; } = ResilienceDefaults.MaxRequests;

    /// <summary>Requests that may wait for a slot when <see cref="MaxRequests"/> are in flight (Envoy max_pending_requests, default 1024); more fail fast.</summary>
    public int MaxPendingRequests { get; set; } = ResilienceDefaults.MaxPendingRequests;

    /// <summary>
    /// Retries in flight to the cluster at most (Envoy max_retries). Unlimited by default, as in Istio: Envoy's
    /// default of 3 throttles retries at modest concurrency, and the retry budget below already prevents storms.
    /// </summary>
    public int MaxRetries { get; set; } = ResilienceDefaults.MaxRetries;

    /// <summary>Retries in flight at most as a percentage of requests in flight (Envoy retry_budget.budget_percent). Default 20; 0 disables the budget.</summary>
    public double RetryBudgetPercent { get; set; } = ResilienceDefaults.RetryBudgetPercent;

    /// <summary>Retries always allowed in flight under a budget (Envoy retry_budget.min_retry_concurrency, default 3).</summary>
    public int MinRetryConcurrency { get; set; } = ResilienceDefaults.MinRetryConcurrency;
}

/// <summary>Outlier detection per service (Envoy <c>OutlierDetection</c> semantics and defaults; Istio field names where they exist).</summary>
public sealed class OutlierDetectionOptions
{
    /// <summary>Consecutive 5xx responses or local failures (connect failure, reset, timeout) that eject an endpoint. Default 5; 0 disables.</summary>
    public int Consecutive5xxErrors { get; set; } = 5;

    /// <summary>Consecutive gateway errors (502, 503, 504, local failures) that eject an endpoint. Default 5 (enforced only when set, as in Istio).</summary>
    public int? ConsecutiveGatewayErrors { get; set; }

    /// <summary>Time between analysis sweeps. Default 10 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Ejection time is this times the number of consecutive ejections. Default 30 s.</summary>
    public TimeSpan BaseEjectionTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest ejection. Default 300 s (and never less than <see cref="BaseEjectionTime"/>).</summary>
    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>The largest share of endpoints ejected at once, 0 to 100. Default 10; one endpoint may always be ejected.</summary>
    public int MaxEjectionPercent { get; set; } = 10;

    /// <summary>Below this share of non-ejected endpoints, ejections are ignored and all endpoints take traffic (Envoy healthy_panic_threshold). Default 50; 0 disables.</summary>
    public int PanicThresholdPercent { get; set; } = 50;

    /// <summary>Percent chance that a consecutive-5xx detection ejects. Default 100.</summary>
    public int EnforcingConsecutive5xx { get; set; } = 100;

    /// <summary>Percent chance that a consecutive-gateway-error detection ejects. Default 0, or 100 when <see cref="ConsecutiveGatewayErrors"/> is set.</summary>
    public int? EnforcingConsecutiveGatewayErrors { get; set; }

    /// <summary>Percent chance that a success-rate detection ejects. Default 100.</summary>
    public int EnforcingSuccessRate { get; set; } = 100;

    /// <summary>Endpoints with enough requests needed for success-rate detection. Default 5.</summary>
    public int SuccessRateMinimumHosts { get; set; } = 5;

    /// <summary>Requests in an interval an endpoint needs to be judged by success rate. Default 100.</summary>
    public int SuccessRateRequestVolume { get; set; } = 100;

    /// <summary>An endpoint is an outlier below mean − factor × standard deviation of success rates. Default 1.9.</summary>
    public double SuccessRateStdevFactor { get; set; } = 1.9;

    /// <summary>Percent chance that a failure-percentage detection ejects. Default 0 (off).</summary>
    public int EnforcingFailurePercentage { get; set; }

    /// <summary>An endpoint failing at least this percent of its requests is an outlier. Default 85.</summary>
    public int FailurePercentageThreshold { get; set; } = 85;

    /// <summary>Endpoints with enough requests needed for failure-percentage detection. Default 5.</summary>
    public int FailurePercentageMinimumHosts { get; set; } = 5;

    /// <summary>Requests in an interval an endpoint needs to be judged by failure percentage. Default 50.</summary>
    public int FailurePercentageRequestVolume { get; set; } = 50;
}

/// <summary>A cluster circuit breaker on the failure ratio over a sampling window (Polly's circuit breaker).</summary>
public sealed class CircuitBreakerOptions
{
    /// <summary>The failure ratio (0 to 1] that opens the circuit. Default 0.5.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>The sliding window the ratio is computed over. Default 10 s.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Calls within the window before the ratio counts. Default 20.</summary>
    public int MinimumThroughput { get; set; } = 20;

    /// <summary>How long the circuit stays open before a probe is let through. Default 5 s.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>A cluster circuit breaker on the share of slow calls (resilience4j's slow-call rate).</summary>
public sealed class SlowCallBreakerOptions
{
    /// <summary>A call slower than this counts as slow.</summary>
    public TimeSpan SlowCallDuration { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The share of slow calls (0 to 1] that opens the circuit. Default 0.5.</summary>
    public double SlowCallRatio { get; set; } = 0.5;

    /// <summary>The sliding window the ratio is computed over. Default 10 s.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Calls within the window before the ratio counts. Default 20.</summary>
    public int MinimumThroughput { get; set; } = 20;

    /// <summary>How long the circuit stays open before a probe is let through. Default 5 s.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Defaults shared by the resilience settings (Envoy's).</summary>
public static class ResilienceDefaults
{
    /// <summary>Envoy's default max_requests.</summary>
    public const int MaxRequests = 1024;

    /// <summary>Envoy's default max_pending_requests.</summary>
    public const int MaxPendingRequests = 1024;

    /// <summary>Istio's default max_retries: unlimited (the retry budget bounds retries).</summary>
    public const int MaxRetries = int.MaxValue;

    /// <summary>Envoy's default retry_budget.budget_percent.</summary>
    public const double RetryBudgetPercent = 20;

    /// <summary>Envoy's default min_retry_concurrency.</summary>
    public const int MinRetryConcurrency = 3;

    /// <summary>Envoy's default backoff base interval.</summary>
    public static readonly TimeSpan BackoffBaseInterval = TimeSpan.FromMilliseconds(25);

    /// <summary>Envoy's default retry conditions for gRPC-style defaults: connect failures, resets and gateway errors.</summary>
    public const string RetryOn = "connect-failure,reset,gateway-error";
}
