using System.Collections.Frozen;
using System.Globalization;

namespace Mesh.Resilience;

/// <summary>Retry conditions (Envoy <c>retry_on</c>).</summary>
[Flags]
public enum RetryOn
{
    /// <summary>Nothing is retried.</summary>
    None = 0,

    /// <summary><c>5xx</c>: any 5xx response, connect failure, reset or per-try timeout.</summary>
    ServerError = 1,

    /// <summary><c>gateway-error</c>: 502, 503, 504, connect failure, reset or per-try timeout.</summary>
    GatewayError = 2,

    /// <summary><c>reset</c>: the endpoint did not answer (reset, disconnect, per-try timeout).</summary>
    Reset = 4,

    /// <summary><c>connect-failure</c>: no connection could be made.</summary>
    ConnectFailure = 8,

    /// <summary><c>retriable-status-codes</c>: the listed status codes.</summary>
    RetriableStatusCodes = 16,

    /// <summary><c>retriable-4xx</c>: 409 Conflict.</summary>
    Retriable4xx = 32,

    /// <summary><c>cancelled</c>: a gRPC call ended with CANCELLED.</summary>
    Cancelled = 64,

    /// <summary><c>deadline-exceeded</c>: a gRPC call ended with DEADLINE_EXCEEDED (or its per-try timeout passed).</summary>
    DeadlineExceeded = 128,

    /// <summary><c>internal</c>: a gRPC call ended with INTERNAL.</summary>
    Internal = 256,

    /// <summary><c>resource-exhausted</c>: a gRPC call ended with RESOURCE_EXHAUSTED.</summary>
    ResourceExhausted = 512,

    /// <summary><c>unavailable</c>: a gRPC call ended with UNAVAILABLE, which is also how gRPC reports a failed connection.</summary>
    Unavailable = 1024,
}

/// <summary>A route's validated retry settings: conditions, count, per-try timeout and Envoy's jittered exponential backoff.</summary>
public sealed class RetryPolicy
{
    private static readonly FrozenDictionary<string, RetryOn> Names = new Dictionary<string, RetryOn>(StringComparer.OrdinalIgnoreCase)
    {
        ["5xx"] = RetryOn.ServerError,
        ["gateway-error"] = RetryOn.GatewayError,
        ["reset"] = RetryOn.Reset,
        ["connect-failure"] = RetryOn.ConnectFailure,
        ["retriable-status-codes"] = RetryOn.RetriableStatusCodes,
        ["retriable-4xx"] = RetryOn.Retriable4xx,
        ["cancelled"] = RetryOn.Cancelled,
        ["deadline-exceeded"] = RetryOn.DeadlineExceeded,
        ["internal"] = RetryOn.Internal,
        ["resource-exhausted"] = RetryOn.ResourceExhausted,
        ["unavailable"] = RetryOn.Unavailable,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    internal RetryPolicy(int retries, TimeSpan? perTryTimeout, RetryOn retryOn, FrozenSet<int> retriableStatusCodes, TimeSpan backoffBase, TimeSpan backoffMax)
    {
        Retries = retries;
        PerTryTimeout = perTryTimeout;
        RetryOn = retryOn;
        RetriableStatusCodes = retriableStatusCodes;
        BackoffBaseInterval = backoffBase;
        BackoffMaxInterval = backoffMax;
    }

    /// <summary>The most retries after the first try.</summary>
    public int Retries { get; }

    /// <summary>The timeout of each try, if any.</summary>
    public TimeSpan? PerTryTimeout { get; }

    /// <summary>The retry conditions.</summary>
    public RetryOn RetryOn { get; }

    /// <summary>Status codes retried under <see cref="Resilience.RetryOn.RetriableStatusCodes"/>.</summary>
    public FrozenSet<int> RetriableStatusCodes { get; }

    /// <summary>The backoff base.</summary>
    public TimeSpan BackoffBaseInterval { get; }

    /// <summary>The backoff cap.</summary>
    public TimeSpan BackoffMaxInterval { get; }

    /// <summary>
    /// Whether the outcome meets one of the retry conditions. A gRPC call's status is matched by the gRPC
    /// conditions only (gRFC A44), as Envoy does: the HTTP status of a gRPC error is 200. gRPC reports a call
    /// that never reached a server (refused, reset) as UNAVAILABLE, so <c>unavailable</c> retries those too.
    /// </summary>
    public bool IsRetriable(AttemptOutcome outcome)
    {
        var on = RetryOn;
        if (outcome.IsLocalFailure)
        {
            var anyNoAnswer = (on & (RetryOn.ServerError | RetryOn.GatewayError | RetryOn.Reset)) != 0;
            return outcome.Failure switch
            {
                AttemptFailure.ConnectFailure => anyNoAnswer || (on & (RetryOn.ConnectFailure | RetryOn.Unavailable)) != 0,
                AttemptFailure.Reset => anyNoAnswer || (on & RetryOn.Unavailable) != 0,
                AttemptFailure.Timeout => anyNoAnswer || (on & RetryOn.DeadlineExceeded) != 0,
                _ => false,
            };
        }

        if (outcome.GrpcStatus is { } grpc)
        {
            return grpc switch
            {
                1 => (on & RetryOn.Cancelled) != 0,
                4 => (on & RetryOn.DeadlineExceeded) != 0,
                8 => (on & RetryOn.ResourceExhausted) != 0,
                13 => (on & RetryOn.Internal) != 0,
                14 => (on & RetryOn.Unavailable) != 0,
                _ => false,
            };
        }

        var status = outcome.StatusCode;
        return ((on & RetryOn.ServerError) != 0 && status >= 500)
            || ((on & RetryOn.GatewayError) != 0 && status is 502 or 503 or 504)
            || ((on & RetryOn.Retriable4xx) != 0 && status == 409)
            || ((on & RetryOn.RetriableStatusCodes) != 0 && RetriableStatusCodes.Contains(status));
    }

    /// <summary>
    /// Envoy's fully jittered exponential backoff: retry n (1-based) waits a uniform random time in
    /// [0, (2^n − 1) × base], capped at the maximum interval.
    /// </summary>
    public TimeSpan GetBackoff(int retry, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var exponent = Math.Clamp(retry, 1, 30);
        var ceiling = Math.Min(BackoffBaseInterval.Ticks * ((1L << exponent) - 1), BackoffMaxInterval.Ticks);
        return TimeSpan.FromTicks((long)(random.NextDouble() * ceiling));
    }

    /// <summary>Parses an Envoy-style <c>retry_on</c> list; unknown names are reported.</summary>
    internal static RetryOn Parse(string value, string path, List<string> errors)
    {
        var result = RetryOn.None;
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (Names.TryGetValue(part, out var flag))
            {
                result |= flag;
            }
            else
            {
                errors.Add($"{path} = '{value}': '{part}' is not a retry condition; valid conditions are {string.Join(", ", Names.Keys.Order(StringComparer.Ordinal))}");
            }
        }

        return result;
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Retries} retries on {RetryOn}");
}
