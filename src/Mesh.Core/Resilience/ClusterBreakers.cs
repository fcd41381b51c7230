using Polly.CircuitBreaker;

namespace Mesh.Resilience;

/// <summary>
/// A cluster's error-rate and slow-call breakers around each attempt, in the order the Polly pipeline had them:
/// the error-rate breaker outside, the slow-call breaker inside. An attempt passes both before it is sent and
/// reports its outcome to both when it ends; nothing is allocated unless a breaker refuses.
/// </summary>
internal sealed class ClusterBreakers
{
    private readonly TimeSpan _slowCallDuration;

    public ClusterBreakers(CircuitBreakerState? errorRate, CircuitBreakerState? slowCall)
    {
        ErrorRate = errorRate;
        SlowCall = slowCall;
        _slowCallDuration = slowCall?.Settings.SlowCallDuration ?? TimeSpan.MaxValue;
    }

    public CircuitBreakerState? ErrorRate { get; }

    public CircuitBreakerState? SlowCall { get; }

    /// <summary>Lets an attempt through both breakers (null), or returns the refusal of the first that is open.</summary>
    public BrokenCircuitException? TryPass(long timestamp)
    {
        var errorRate = ErrorRate;
        if (errorRate is not null && !errorRate.TryPass(timestamp))
        {
            return errorRate.CreateRefusal(timestamp);
        }

        var slowCall = SlowCall;
        if (slowCall is not null && !slowCall.TryPass(timestamp))
        {
            // The nested Polly breakers did this: the outer error-rate breaker saw the inner refusal as an outcome it does not handle.
            errorRate?.OnSuccess(timestamp);
            return slowCall.CreateRefusal(timestamp);
        }

        return null;
    }

    /// <summary>
    /// Reports an attempt that passed: its outcome (<c>default</c> when it was not reported, e.g. cancelled by the
    /// caller, which the breakers count as a success, as Polly's predicates did), its duration, the timestamp at its
    /// end, and its exception if it threw.
    /// </summary>
    public void Report(AttemptOutcome outcome, TimeSpan duration, long timestamp, Exception? exception)
    {
        var reported = outcome != default;
        if (SlowCall is { } slowCall)
        {
            if (reported && duration > _slowCallDuration)
            {
                slowCall.OnFailure(timestamp, exception);
            }
            else
            {
                slowCall.OnSuccess(timestamp);
            }
        }

        if (ErrorRate is { } errorRate)
        {
            if (reported && !outcome.IsSuccess)
            {
                errorRate.OnFailure(timestamp, exception);
            }
            else
            {
                errorRate.OnSuccess(timestamp);
            }
        }
    }
}
