using Mesh.Configuration;

namespace Mesh.Core.Tests.Resilience;

/// <summary>Every validation rule of the resilience settings, with the exact messages it reports.</summary>
public class ResilienceValidationTests
{
    private const string Backend = "Mesh:Services:backend";
    private const string Route0 = Backend + ":Routes[0]";
    private const string Retries = Route0 + ":Retries";
    private const string ValidConditions = "valid conditions are 5xx, cancelled, connect-failure, deadline-exceeded, gateway-error, internal, reset, resource-exhausted, retriable-4xx, retriable-status-codes, unavailable";
    private const string Outlier = Backend + ":OutlierDetection";
    private const string Pool = Backend + ":ConnectionPool";

    private static IEnumerable<TestCaseData> InvalidOptions()
    {
        // Route timeout.
        yield return Route("negative Timeout", r => r.Timeout = TimeSpan.FromSeconds(-1), $"{Route0}:Timeout = -00:00:01: must be a positive duration, e.g. 00:00:02; omit it for no timeout");
        yield return Route("zero Timeout", r => r.Timeout = TimeSpan.Zero, $"{Route0}:Timeout = 00:00:00: must be a positive duration, e.g. 00:00:02; omit it for no timeout");

        // Retries.
        yield return Route("Attempts above 10", r => r.Retries = new() { Attempts = 11 }, $"{Retries}:Attempts = 11: must be between 0 and 10 (the number of retries after the first try)");
        yield return Route("negative Attempts", r => r.Retries = new() { Attempts = -1 }, $"{Retries}:Attempts = -1: must be between 0 and 10 (the number of retries after the first try)");
        yield return Route("unknown RetryOn", r => r.Retries = new() { Attempts = 2, RetryOn = "5xx,refused-stream" }, $"{Retries}:RetryOn = '5xx,refused-stream': 'refused-stream' is not a retry condition; {ValidConditions}");
        yield return Route("RetriableStatusCodes without their condition", r => r.Retries = new() { Attempts = 2, RetryOn = "5xx", RetriableStatusCodes = { 409 } }, $"{Retries}:RetriableStatusCodes: listed but RetryOn lacks 'retriable-status-codes'; add it to RetryOn");
        yield return Route("RetriableStatusCodes with the default RetryOn", r => r.Retries = new() { Attempts = 2, RetriableStatusCodes = { 503 } }, $"{Retries}:RetriableStatusCodes: listed but RetryOn lacks 'retriable-status-codes'; add it to RetryOn");
        yield return Route("status code out of range", r => r.Retries = new() { Attempts = 2, RetryOn = "retriable-status-codes", RetriableStatusCodes = { 99, 600 } }, $"{Retries}:RetriableStatusCodes = 99: must be an HTTP status code from 100 to 599", $"{Retries}:RetriableStatusCodes = 600: must be an HTTP status code from 100 to 599");
        yield return Route("negative PerTryTimeout", r => r.Retries = new() { Attempts = 2, PerTryTimeout = TimeSpan.FromMilliseconds(-500) }, $"{Retries}:PerTryTimeout = -00:00:00.5000000: must be a positive duration, e.g. 00:00:01");
        yield return Route("zero PerTryTimeout", r => r.Retries = new() { Attempts = 2, PerTryTimeout = TimeSpan.Zero }, $"{Retries}:PerTryTimeout = 00:00:00: must be a positive duration, e.g. 00:00:01");
        yield return Route("zero BackoffBaseInterval", r => r.Retries = new() { Attempts = 2, BackoffBaseInterval = TimeSpan.Zero }, $"{Retries}:BackoffBaseInterval = 00:00:00: must be a positive duration (Envoy's default is 00:00:00.025)");
        yield return Route("BackoffMaxInterval below base", r => r.Retries = new() { Attempts = 2, BackoffBaseInterval = TimeSpan.FromMilliseconds(100), BackoffMaxInterval = TimeSpan.FromMilliseconds(50) }, $"{Retries}:BackoffMaxInterval = 00:00:00.0500000: must be at least BackoffBaseInterval (00:00:00.1000000)");

        // Retries and hedging.
        yield return Route("Retries and Hedging", r => (r.Retries, r.Hedging) = (new() { Attempts = 2 }, new()), $"{Route0}: set Retries or Hedging, not both; hedging already sends further attempts when one fails");
        yield return Route("Hedging MaxAttempts 1", r => r.Hedging = new() { MaxAttempts = 1 }, $"{Route0}:Hedging:MaxAttempts = 1: must be between 2 and 10 (attempts in flight for one request, the first included)");
        yield return Route("Hedging MaxAttempts 11", r => r.Hedging = new() { MaxAttempts = 11 }, $"{Route0}:Hedging:MaxAttempts = 11: must be between 2 and 10 (attempts in flight for one request, the first included)");
        yield return Route("negative Hedging Delay", r => r.Hedging = new() { Delay = TimeSpan.FromMilliseconds(-1) }, $"{Route0}:Hedging:Delay = -00:00:00.0010000: must be zero or a positive duration, e.g. 00:00:00.050");

        // Fault injection.
        yield return Route("zero FixedDelay", r => r.Fault = new() { Delay = new() { FixedDelay = TimeSpan.Zero } }, $"{Route0}:Fault:Delay:FixedDelay = 00:00:00: must be a positive duration, e.g. 00:00:00.500");
        yield return Route("delay Percentage above 100", r => r.Fault = new() { Delay = new() { FixedDelay = TimeSpan.FromSeconds(1), Percentage = 100.5 } }, $"{Route0}:Fault:Delay:Percentage = 100.5: must be a percentage from 0 to 100 (fractions allowed)");
        yield return Route("abort HttpStatus below 200", r => r.Fault = new() { Abort = new() { HttpStatus = 199 } }, $"{Route0}:Fault:Abort:HttpStatus = 199: must be a status code from 200 to 599, e.g. 503");
        yield return Route("abort HttpStatus above 599", r => r.Fault = new() { Abort = new() { HttpStatus = 600 } }, $"{Route0}:Fault:Abort:HttpStatus = 600: must be a status code from 200 to 599, e.g. 503");
        yield return Route("negative abort Percentage", r => r.Fault = new() { Abort = new() { Percentage = -0.5 } }, $"{Route0}:Fault:Abort:Percentage = -0.5: must be a percentage from 0 to 100 (fractions allowed)");
        yield return Route("NaN abort Percentage", r => r.Fault = new() { Abort = new() { Percentage = double.NaN } }, $"{Route0}:Fault:Abort:Percentage = NaN: must be a percentage from 0 to 100 (fractions allowed)");

        // Rate limits.
        yield return Route("route TokensPerPeriod 0", r => r.RateLimit = new() { TokensPerPeriod = 0 }, $"{Route0}:RateLimit:TokensPerPeriod = 0: must be >= 1", $"{Route0}:RateLimit:Burst = 0: must be >= 1");
        yield return Route("route Period 0", r => r.RateLimit = new() { TokensPerPeriod = 5, Period = TimeSpan.Zero }, $"{Route0}:RateLimit:Period = 00:00:00: must be a positive duration, e.g. 00:00:01");
        yield return Route("route Burst 0", r => r.RateLimit = new() { TokensPerPeriod = 5, Burst = 0 }, $"{Route0}:RateLimit:Burst = 0: must be >= 1");
        yield return Service("service TokensPerPeriod -1 with a Burst", s => s.RateLimit = new() { TokensPerPeriod = -1, Burst = 4 }, $"{Backend}:RateLimit:TokensPerPeriod = -1: must be >= 1");

        // Connection pool.
        yield return Service("MaxRequests 0", s => s.ConnectionPool = new() { MaxRequests = 0 }, $"{Pool}:MaxRequests = 0: must be >= 1 (Envoy's default is 1024)");
        yield return Service("negative MaxPendingRequests", s => s.ConnectionPool = new() { MaxPendingRequests = -1 }, $"{Pool}:MaxPendingRequests = -1: must be >= 0");
        yield return Service("negative MaxRetries", s => s.ConnectionPool = new() { MaxRetries = -2 }, $"{Pool}:MaxRetries = -2: must be >= 0");
        yield return Service("negative MinRetryConcurrency", s => s.ConnectionPool = new() { MinRetryConcurrency = -1 }, $"{Pool}:MinRetryConcurrency = -1: must be >= 0");
        yield return Service("RetryBudgetPercent above 100", s => s.ConnectionPool = new() { RetryBudgetPercent = 150 }, $"{Pool}:RetryBudgetPercent = 150: must be a percentage from 0 to 100 (0 turns the budget off)");
        yield return Service("negative RetryBudgetPercent", s => s.ConnectionPool = new() { RetryBudgetPercent = -0.1 }, $"{Pool}:RetryBudgetPercent = -0.1: must be a percentage from 0 to 100 (0 turns the budget off)");

        // Outlier detection.
        yield return Service("negative Consecutive5xxErrors", s => s.OutlierDetection = new() { Consecutive5xxErrors = -1 }, $"{Outlier}:Consecutive5xxErrors = -1: must be >= 0");
        yield return Service("negative ConsecutiveGatewayErrors", s => s.OutlierDetection = new() { ConsecutiveGatewayErrors = -1 }, $"{Outlier}:ConsecutiveGatewayErrors = -1: must be >= 0");
        yield return Service("zero Interval", s => s.OutlierDetection = new() { Interval = TimeSpan.Zero }, $"{Outlier}:Interval = 00:00:00: must be a positive duration, e.g. 00:00:10");
        yield return Service("negative BaseEjectionTime", s => s.OutlierDetection = new() { BaseEjectionTime = TimeSpan.FromSeconds(-30) }, $"{Outlier}:BaseEjectionTime = -00:00:30: must be a positive duration, e.g. 00:00:10");
        yield return Service("zero MaxEjectionTime", s => s.OutlierDetection = new() { MaxEjectionTime = TimeSpan.Zero }, $"{Outlier}:MaxEjectionTime = 00:00:00: must be a positive duration, e.g. 00:00:10");
        yield return Service("MaxEjectionPercent above 100", s => s.OutlierDetection = new() { MaxEjectionPercent = 101 }, $"{Outlier}:MaxEjectionPercent = 101: must be a percentage from 0 to 100");
        yield return Service("negative PanicThresholdPercent", s => s.OutlierDetection = new() { PanicThresholdPercent = -1 }, $"{Outlier}:PanicThresholdPercent = -1: must be a percentage from 0 to 100");
        yield return Service("EnforcingConsecutive5xx above 100", s => s.OutlierDetection = new() { EnforcingConsecutive5xx = 101 }, $"{Outlier}:EnforcingConsecutive5xx = 101: must be a percentage from 0 to 100");
        yield return Service("EnforcingConsecutiveGatewayErrors above 100", s => s.OutlierDetection = new() { EnforcingConsecutiveGatewayErrors = 200 }, $"{Outlier}:EnforcingConsecutiveGatewayErrors = 200: must be a percentage from 0 to 100");
        yield return Service("negative EnforcingSuccessRate", s => s.OutlierDetection = new() { EnforcingSuccessRate = -5 }, $"{Outlier}:EnforcingSuccessRate = -5: must be a percentage from 0 to 100");
        yield return Service("EnforcingFailurePercentage above 100", s => s.OutlierDetection = new() { EnforcingFailurePercentage = 101 }, $"{Outlier}:EnforcingFailurePercentage = 101: must be a percentage from 0 to 100");
        yield return Service("FailurePercentageThreshold above 100", s => s.OutlierDetection = new() { FailurePercentageThreshold = 101 }, $"{Outlier}:FailurePercentageThreshold = 101: must be a percentage from 0 to 100");
        yield return Service("negative SuccessRateMinimumHosts", s => s.OutlierDetection = new() { SuccessRateMinimumHosts = -1 }, $"{Outlier}:SuccessRateMinimumHosts = -1: must be >= 0");
        yield return Service("negative SuccessRateRequestVolume", s => s.OutlierDetection = new() { SuccessRateRequestVolume = -1 }, $"{Outlier}:SuccessRateRequestVolume = -1: must be >= 0");
        yield return Service("negative FailurePercentageMinimumHosts", s => s.OutlierDetection = new() { FailurePercentageMinimumHosts = -1 }, $"{Outlier}:FailurePercentageMinimumHosts = -1: must be >= 0");
        yield return Service("negative FailurePercentageRequestVolume", s => s.OutlierDetection = new() { FailurePercentageRequestVolume = -1 }, $"{Outlier}:FailurePercentageRequestVolume = -1: must be >= 0");
        yield return Service("zero SuccessRateStdevFactor", s => s.OutlierDetection = new() { SuccessRateStdevFactor = 0 }, $"{Outlier}:SuccessRateStdevFactor = 0: must be > 0 (Envoy's default is 1.9)");
        yield return Service("NaN SuccessRateStdevFactor", s => s.OutlierDetection = new() { SuccessRateStdevFactor = double.NaN }, $"{Outlier}:SuccessRateStdevFactor = NaN: must be > 0 (Envoy's default is 1.9)");

        // Breakers (Polly's limits).
        yield return Service("FailureRatio 0", s => s.CircuitBreaker = new() { FailureRatio = 0 }, $"{Backend}:CircuitBreaker:FailureRatio = 0: must be greater than 0 and at most 1, e.g. 0.5");
        yield return Service("FailureRatio above 1", s => s.CircuitBreaker = new() { FailureRatio = 1.5 }, $"{Backend}:CircuitBreaker:FailureRatio = 1.5: must be greater than 0 and at most 1, e.g. 0.5");
        yield return Service("short SamplingDuration", s => s.CircuitBreaker = new() { SamplingDuration = TimeSpan.FromMilliseconds(499) }, $"{Backend}:CircuitBreaker:SamplingDuration = 00:00:00.4990000: must be at least 00:00:00.500");
        yield return Service("MinimumThroughput 1", s => s.CircuitBreaker = new() { MinimumThroughput = 1 }, $"{Backend}:CircuitBreaker:MinimumThroughput = 1: must be >= 2");
        yield return Service("short BreakDuration", s => s.CircuitBreaker = new() { BreakDuration = TimeSpan.FromMilliseconds(100) }, $"{Backend}:CircuitBreaker:BreakDuration = 00:00:00.1000000: must be at least 00:00:00.500");
        yield return Service("zero SlowCallDuration", s => s.SlowCallBreaker = new() { SlowCallDuration = TimeSpan.Zero }, $"{Backend}:SlowCallBreaker:SlowCallDuration = 00:00:00: must be a positive duration, e.g. 00:00:01");
        yield return Service("SlowCallRatio 0", s => s.SlowCallBreaker = new() { SlowCallRatio = 0 }, $"{Backend}:SlowCallBreaker:SlowCallRatio = 0: must be greater than 0 and at most 1, e.g. 0.5");
        yield return Service("slow-call MinimumThroughput 0", s => s.SlowCallBreaker = new() { MinimumThroughput = 0 }, $"{Backend}:SlowCallBreaker:MinimumThroughput = 0: must be >= 2");
        yield return Service("slow-call short SamplingDuration", s => s.SlowCallBreaker = new() { SamplingDuration = TimeSpan.Zero }, $"{Backend}:SlowCallBreaker:SamplingDuration = 00:00:00: must be at least 00:00:00.500");
    }

    [TestCaseSource(nameof(InvalidOptions))]
    public void Build_InvalidResilienceSetting_ReportsExactMessages(Action<ServiceOptions> configure, string[] expected)
    {
        var errors = TestMesh.Errors(TestMesh.Service("backend", 2, configure));

        Assert.That(errors, Is.EqualTo(expected));
    }

    [Test]
    public void Build_SeveralResilienceErrors_ReportsThemAll()
    {
        var errors = TestMesh.Errors(TestMesh.Service("backend", 2, s =>
        {
            s.ConnectionPool = new() { MaxRequests = 0 };
            s.OutlierDetection = new() { MaxEjectionPercent = 101 };
            s.Routes.Add(new RouteOptions { Destinations = { new() }, Retries = new() { Attempts = 11 }, Hedging = new() { MaxAttempts = 1 } });
        }));

        Assert.That(errors, Is.EquivalentTo(new[]
        {
            $"{Pool}:MaxRequests = 0: must be >= 1 (Envoy's default is 1024)",
            $"{Outlier}:MaxEjectionPercent = 101: must be a percentage from 0 to 100",
            $"{Retries}:Attempts = 11: must be between 0 and 10 (the number of retries after the first try)",
            $"{Route0}:Hedging:MaxAttempts = 1: must be between 2 and 10 (attempts in flight for one request, the first included)",
        }));
    }

    [Test]
    public void Build_ValidResilienceSettings_AreAccepted()
    {
        var snapshot = TestMesh.BuildValid(TestMesh.Service("backend", 2, s =>
        {
            s.ConnectionPool = new() { MaxRequests = 1, MaxPendingRequests = 0, MaxRetries = 0, RetryBudgetPercent = 0, MinRetryConcurrency = 0 };
            s.OutlierDetection = new() { Consecutive5xxErrors = 0, MaxEjectionPercent = 0, PanicThresholdPercent = 100, MaxEjectionTime = TimeSpan.FromSeconds(1) };
            s.CircuitBreaker = new() { FailureRatio = 1, SamplingDuration = TimeSpan.FromMilliseconds(500), MinimumThroughput = 2, BreakDuration = TimeSpan.FromMilliseconds(500) };
            s.SlowCallBreaker = new() { SlowCallDuration = TimeSpan.FromTicks(1) };
            s.RateLimit = new() { TokensPerPeriod = 1 };
            s.Routes.Add(new RouteOptions { Match = { new() { PathPrefix = "/h" } }, Destinations = { new() }, Hedging = new() { Delay = TimeSpan.Zero, MaxAttempts = 10 } });
            s.Routes.Add(new RouteOptions
            {
                Destinations = { new() },
                Timeout = TimeSpan.FromTicks(1),
                Retries = new() { Attempts = 10, RetryOn = "retriable-status-codes", RetriableStatusCodes = { 100, 599 }, PerTryTimeout = TimeSpan.FromTicks(1) },
                Fault = new() { Delay = new() { FixedDelay = TimeSpan.FromTicks(1), Percentage = 0 }, Abort = new() { HttpStatus = 200, Percentage = 0 } },
            });
        }));

        var service = snapshot.Services.Single();
        Assert.That(service.Routes[0].Policy.Hedging!.MaxAttempts, Is.EqualTo(10));
        Assert.That(service.Routes[1].Policy.Retry!.Retries, Is.EqualTo(10));
        Assert.That(snapshot.Clusters["backend"].Detector!.Settings.MaxEjectionTime, Is.EqualTo(TimeSpan.FromSeconds(30)), "never below BaseEjectionTime");
        var fault = service.Routes[1].Policy.Fault;
        Assert.That(fault, Is.Not.Null);
        Assert.That(fault!.HasAbort || fault.HasDelay, Is.False, "0 % faults are never injected");
    }

    private static TestCaseData Route(string name, Action<RouteOptions> configure, params string[] expected) =>
        Service(name, s =>
        {
            var route = new RouteOptions { Destinations = { new() } };
            configure(route);
            s.Routes.Add(route);
        }, expected);

    private static TestCaseData Service(string name, Action<ServiceOptions> configure, params string[] expected) =>
        new TestCaseData(configure, expected).SetName($"Build_InvalidResilienceSetting_ReportsExactMessages({name})");
}
