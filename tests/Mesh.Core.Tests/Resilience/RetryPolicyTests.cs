using System.Collections.Frozen;
using Mesh.Configuration;
using Mesh.Resilience;

namespace Mesh.Core.Tests.Resilience;

/// <summary>Envoy's retry conditions and its fully jittered exponential backoff.</summary>
public class RetryPolicyTests
{
    private static readonly TimeSpan EnvoyBase = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan EnvoyMax = TimeSpan.FromMilliseconds(250);

    // Envoy: retry n waits a uniform time in [0, (2^n - 1) x base], capped at max; draw 0.999 is the top of the range.
    [TestCase(1, 24.975)]
    [TestCase(2, 74.925)]
    [TestCase(3, 174.825)]
    [TestCase(4, 249.75)]
    [TestCase(5, 249.75)]
    [TestCase(10, 249.75)]
    public void GetBackoff_DrawNearOne_IsTopOfEnvoyRange(int retry, double expectedMilliseconds)
    {
        var policy = Policy(RetryOn.ServerError);

        var backoff = policy.GetBackoff(retry, new ConstantRandom(0.999));

        Assert.That(backoff.TotalMilliseconds, Is.EqualTo(expectedMilliseconds).Within(0.0001));
        Assert.That(backoff, Is.EqualTo(Expected(retry, 0.999, EnvoyBase, EnvoyMax)));
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(30)]
    [TestCase(31)]
    public void GetBackoff_DrawZero_IsZero(int retry) =>
        Assert.That(Policy(RetryOn.ServerError).GetBackoff(retry, new ConstantRandom(0)), Is.EqualTo(TimeSpan.Zero));

    [Test]
    public void GetBackoff_AnyDraw_StaysWithinCeiling()
    {
        var policy = Policy(RetryOn.ServerError);
        var draws = new[] { 0.0, 0.1, 0.25, 0.5, 0.75, 0.9999999 };

        for (var retry = 1; retry <= 6; retry++)
        {
            var ceiling = Math.Min(EnvoyBase.Ticks * ((1L << retry) - 1), EnvoyMax.Ticks);
            foreach (var draw in draws)
            {
                var backoff = policy.GetBackoff(retry, new ConstantRandom(draw));
                Assert.That(backoff.Ticks, Is.InRange(0, ceiling), $"retry {retry}, draw {draw}");
                Assert.That(backoff, Is.EqualTo(Expected(retry, draw, EnvoyBase, EnvoyMax)), $"retry {retry}, draw {draw}");
            }
        }
    }

    [Test]
    public void GetBackoff_HalfDraw_IsHalfTheUncappedCeiling()
    {
        var policy = Policy(RetryOn.ServerError);

        Assert.That(policy.GetBackoff(1, new ConstantRandom(0.5)), Is.EqualTo(TimeSpan.FromMilliseconds(12.5)));
        Assert.That(policy.GetBackoff(2, new ConstantRandom(0.5)), Is.EqualTo(TimeSpan.FromMilliseconds(37.5)));
        Assert.That(policy.GetBackoff(3, new ConstantRandom(0.5)), Is.EqualTo(TimeSpan.FromMilliseconds(87.5)));
        Assert.That(policy.GetBackoff(4, new ConstantRandom(0.5)), Is.EqualTo(TimeSpan.FromMilliseconds(125)));
    }

    [Test]
    public void Create_NoBackoffSettings_UsesEnvoyDefaults()
    {
        var retry = CreateRetry(new RetryOptions { Attempts = 2 });

        Assert.That(retry.BackoffBaseInterval, Is.EqualTo(EnvoyBase));
        Assert.That(retry.BackoffMaxInterval, Is.EqualTo(EnvoyMax));
        Assert.That(retry.RetryOn, Is.EqualTo(RetryOn.ConnectFailure | RetryOn.Reset | RetryOn.GatewayError));
        Assert.That(retry.Retries, Is.EqualTo(2));
    }

    [Test]
    public void Create_BaseOnly_MaxIsTenTimesBase()
    {
        var retry = CreateRetry(new RetryOptions { Attempts = 1, BackoffBaseInterval = TimeSpan.FromMilliseconds(100) });

        Assert.That(retry.BackoffMaxInterval, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(retry.GetBackoff(5, new ConstantRandom(0.5)), Is.EqualTo(TimeSpan.FromMilliseconds(500)));
    }

    [Test]
    public void Create_ZeroAttempts_HasNoRetryPolicy()
    {
        var errors = new List<string>();

        var policy = RoutePolicy.Create(new RouteOptions { Retries = new RetryOptions { Attempts = 0 } }, "route", errors);

        Assert.That(errors, Is.Empty);
        Assert.That(policy.Retry, Is.Null);
    }

    // Envoy retry_on semantics; local failures: connect failure, reset, per-try timeout.
    [TestCase(RetryOn.ServerError, 500, true)]
    [TestCase(RetryOn.ServerError, 503, true)]
    [TestCase(RetryOn.ServerError, 599, true)]
    [TestCase(RetryOn.ServerError, 499, false)]
    [TestCase(RetryOn.ServerError, 409, false)]
    [TestCase(RetryOn.ServerError, 200, false)]
    [TestCase(RetryOn.GatewayError, 500, false)]
    [TestCase(RetryOn.GatewayError, 501, false)]
    [TestCase(RetryOn.GatewayError, 502, true)]
    [TestCase(RetryOn.GatewayError, 503, true)]
    [TestCase(RetryOn.GatewayError, 504, true)]
    [TestCase(RetryOn.GatewayError, 505, false)]
    [TestCase(RetryOn.Reset, 503, false)]
    [TestCase(RetryOn.ConnectFailure, 503, false)]
    [TestCase(RetryOn.Retriable4xx, 409, true)]
    [TestCase(RetryOn.Retriable4xx, 408, false)]
    [TestCase(RetryOn.Retriable4xx, 429, false)]
    [TestCase(RetryOn.Retriable4xx, 500, false)]
    [TestCase(RetryOn.RetriableStatusCodes, 418, true)]
    [TestCase(RetryOn.RetriableStatusCodes, 503, true)]
    [TestCase(RetryOn.RetriableStatusCodes, 500, false)]
    [TestCase(RetryOn.RetriableStatusCodes, 409, false)]
    [TestCase(RetryOn.None, 503, false)]
    [TestCase(RetryOn.ServerError | RetryOn.Retriable4xx, 409, true)]
    public void IsRetriable_StatusCode_FollowsCondition(RetryOn on, int status, bool expected) =>
        Assert.That(Policy(on, 418, 503).IsRetriable(AttemptOutcome.FromStatus(status)), Is.EqualTo(expected));

    [TestCase(RetryOn.ServerError, AttemptFailure.ConnectFailure, true)]
    [TestCase(RetryOn.ServerError, AttemptFailure.Reset, true)]
    [TestCase(RetryOn.ServerError, AttemptFailure.Timeout, true)]
    [TestCase(RetryOn.ServerError, AttemptFailure.Other, false)]
    [TestCase(RetryOn.GatewayError, AttemptFailure.ConnectFailure, true)]
    [TestCase(RetryOn.GatewayError, AttemptFailure.Reset, true)]
    [TestCase(RetryOn.GatewayError, AttemptFailure.Timeout, true)]
    [TestCase(RetryOn.Reset, AttemptFailure.ConnectFailure, true)]
    [TestCase(RetryOn.Reset, AttemptFailure.Reset, true)]
    [TestCase(RetryOn.Reset, AttemptFailure.Timeout, true)]
    [TestCase(RetryOn.Reset, AttemptFailure.Other, false)]
    [TestCase(RetryOn.ConnectFailure, AttemptFailure.ConnectFailure, true)]
    [TestCase(RetryOn.ConnectFailure, AttemptFailure.Reset, false)]
    [TestCase(RetryOn.ConnectFailure, AttemptFailure.Timeout, false)]
    [TestCase(RetryOn.RetriableStatusCodes, AttemptFailure.ConnectFailure, false)]
    [TestCase(RetryOn.RetriableStatusCodes, AttemptFailure.Reset, false)]
    [TestCase(RetryOn.Retriable4xx, AttemptFailure.Timeout, false)]
    [TestCase(RetryOn.None, AttemptFailure.ConnectFailure, false)]
    public void IsRetriable_LocalFailure_FollowsCondition(RetryOn on, AttemptFailure failure, bool expected) =>
        Assert.That(Policy(on, 418, 503).IsRetriable(AttemptOutcome.FromFailure(failure)), Is.EqualTo(expected));

    [TestCase(RetryOn.Unavailable, 14, true)]
    [TestCase(RetryOn.Unavailable, 13, false)]
    [TestCase(RetryOn.Cancelled, 1, true)]
    [TestCase(RetryOn.DeadlineExceeded, 4, true)]
    [TestCase(RetryOn.Internal, 13, true)]
    [TestCase(RetryOn.ResourceExhausted, 8, true)]
    [TestCase(RetryOn.Unavailable | RetryOn.Internal, 5, false)]
    [TestCase(RetryOn.ServerError | RetryOn.GatewayError, 14, false)]
    [TestCase(RetryOn.RetriableStatusCodes, 13, false)]
    public void IsRetriable_GrpcStatus_MatchesTheGrpcConditionsOnly(RetryOn on, int grpcStatus, bool expected) =>
        Assert.That(Policy(on, 500, 503).IsRetriable(AttemptOutcome.FromGrpcStatus(grpcStatus)), Is.EqualTo(expected));

    [TestCase(RetryOn.Unavailable, AttemptFailure.ConnectFailure, true)]
    [TestCase(RetryOn.Unavailable, AttemptFailure.Reset, true)]
    [TestCase(RetryOn.Unavailable, AttemptFailure.Timeout, false)]
    [TestCase(RetryOn.DeadlineExceeded, AttemptFailure.Timeout, true)]
    [TestCase(RetryOn.Cancelled, AttemptFailure.Reset, false)]
    public void IsRetriable_LocalFailureOfAGrpcCall_IsUnavailableOrDeadlineExceeded(RetryOn on, AttemptFailure failure, bool expected) =>
        Assert.That(Policy(on).IsRetriable(AttemptOutcome.FromFailure(failure)), Is.EqualTo(expected));

    [Test]
    public void Parse_GrpcNames_MapToTheirFlags()
    {
        var errors = new List<string>();

        var on = RetryPolicy.Parse("cancelled, Deadline-Exceeded,internal,resource-exhausted,unavailable", "path", errors);

        Assert.That(errors, Is.Empty);
        Assert.That(on, Is.EqualTo(RetryOn.Cancelled | RetryOn.DeadlineExceeded | RetryOn.Internal | RetryOn.ResourceExhausted | RetryOn.Unavailable));
    }

    [Test]
    public void IsRetriable_CodesListedWithoutTheirCondition_AreNotRetried() =>
        Assert.That(Policy(RetryOn.ServerError, 418).IsRetriable(AttemptOutcome.FromStatus(418)), Is.False);

    [Test]
    public void Parse_EveryName_MapsToItsFlag()
    {
        var errors = new List<string>();

        var on = RetryPolicy.Parse(" 5XX, Gateway-Error ,reset,connect-failure,retriable-status-codes,retriable-4xx,", "path", errors);

        Assert.That(errors, Is.Empty);
        Assert.That(on, Is.EqualTo(RetryOn.ServerError | RetryOn.GatewayError | RetryOn.Reset | RetryOn.ConnectFailure | RetryOn.RetriableStatusCodes | RetryOn.Retriable4xx));
    }

    [Test]
    public void Parse_UnknownNames_ReportsEachWithTheValidOnes()
    {
        var errors = new List<string>();

        var on = RetryPolicy.Parse("5xx,timeout,refused-stream", "Mesh:Services:backend:Routes[0]:Retries:RetryOn", errors);

        const string Valid = "valid conditions are 5xx, cancelled, connect-failure, deadline-exceeded, gateway-error, internal, reset, resource-exhausted, retriable-4xx, retriable-status-codes, unavailable";
        Assert.That(on, Is.EqualTo(RetryOn.ServerError));
        Assert.That(errors, Is.EqualTo(new[]
        {
            $"Mesh:Services:backend:Routes[0]:Retries:RetryOn = '5xx,timeout,refused-stream': 'timeout' is not a retry condition; {Valid}",
            $"Mesh:Services:backend:Routes[0]:Retries:RetryOn = '5xx,timeout,refused-stream': 'refused-stream' is not a retry condition; {Valid}",
        }));
    }

    private static TimeSpan Expected(int retry, double draw, TimeSpan backoffBase, TimeSpan backoffMax)
    {
        // The range in ticks, computed with Math.Pow rather than shifts.
        var ceiling = Math.Min((long)(backoffBase.Ticks * (Math.Pow(2, retry) - 1)), backoffMax.Ticks);
        return TimeSpan.FromTicks((long)(draw * ceiling));
    }

    private static RetryPolicy Policy(RetryOn on, params int[] codes) =>
        new(1, null, on, codes.ToFrozenSet(), EnvoyBase, EnvoyMax);

    private static RetryPolicy CreateRetry(RetryOptions options)
    {
        var errors = new List<string>();
        var policy = RoutePolicy.Create(new RouteOptions { Retries = options }, "route", errors);
        Assert.That(errors, Is.Empty);
        return policy.Retry!;
    }
}
