using System.Runtime.CompilerServices;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Telemetry;
using Polly;
using Polly.CircuitBreaker;
using Polly.Hedging;
using Polly.Retry;
using Polly.Timeout;

namespace Mesh.Resilience;

/// <summary>
/// Runs one logical request through its route's and cluster's resilience, on Polly v8, in the order a
/// sidecar applies them: local rate limits (service, then route); fault injection (abort, delay); the
/// total timeout; retries (Envoy conditions, jittered backoff, budget) or hedging; the per-try timeout;
/// then each attempt: pick an endpoint not yet tried, pass the cluster's breakers and connection-pool
/// admission, send, and report the outcome to outlier detection. Refusals by the mesh itself
/// (overflow, open circuit, rate limit) fail fast as <see cref="MeshException"/> and are never retried.
/// </summary>
internal sealed class ResilientExecutor<TRequest, TResponse>
{
    private static readonly ResiliencePropertyKey<Call> CallKey = new("mesh.call");

    private readonly IAttemptTransport<TRequest, TResponse> _transport;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly MeshTelemetry _telemetry;
    private readonly ConditionalWeakTable<RouteModel, Pipelines> _pipelines = [];

    public ResilientExecutor(IAttemptTransport<TRequest, TResponse> transport, TimeProvider time, Random random, MeshTelemetry telemetry)
    {
        _transport = transport;
        _time = time;
        _random = random;
        _telemetry = telemetry;
    }

    /// <summary>
    /// Sends a request for a route to a cluster (chosen once per request). <c>replayable</c> says whether the
    /// request can be sent more than once (its body can be re-read), which retries and hedges need;
    /// <c>idempotent</c> whether it may be hedged (sent twice at once).
    /// </summary>
    public async ValueTask<TResponse> ExecuteAsync(ServiceModel service, RouteModel route, ClusterModel cluster, TRequest request, PickContext pick, bool replayable, bool idempotent, CancellationToken cancellationToken)
    {
        var policy = route.Policy;
        if (service.RateLimiter is { } serviceLimit && !serviceLimit.TryAcquire())
        {
            throw RateLimitedFailure(service, route, "service");
        }

        if (route.RateLimiter is { } routeLimit && !routeLimit.TryAcquire())
        {
            throw RateLimitedFailure(service, route, "route");
        }

        if (policy.Fault is { } fault)
        {
            // Envoy's order: the delay first, then the abort.
            if (fault.HasDelay && Chance(fault.DelayPercentage))
            {
                CountFault(service, "delay");
                MeshTelemetry.AddEvent("mesh.fault", MeshTelemetry.Tags.FaultKind, "delay", "mesh.fault.delay_ms", fault.Delay.TotalMilliseconds);
                await Task.Delay(fault.Delay, _time, cancellationToken).ConfigureAwait(false);
            }

            if (fault.HasAbort && Chance(fault.AbortPercentage))
            {
                CountFault(service, "abort");
                MeshTelemetry.AddEvent("mesh.fault", MeshTelemetry.Tags.FaultKind, "abort", MeshTelemetry.Tags.StatusCode, MeshTelemetry.StatusCode(fault.AbortStatus));
                return _transport.CreateLocalReply(request, fault.AbortStatus);
            }
        }

        var call = new Call(service, route, cluster, request, pick, replayable, cancellationToken);
        try
        {
            if (!policy.NeedsPipeline)
            {
                return await AttemptAsync(call, null, cancellationToken).ConfigureAwait(false);
            }

            var pipeline = _pipelines.GetValue(route, static _ => new Pipelines()).Get(this, route, hedgeable: replayable && idempotent);
            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            context.Properties.Set(CallKey, call);
            try
            {
                var outcome = await pipeline.ExecuteOutcomeAsync(
                    static async (ctx, state) =>
                    {
                        try
                        {
                            return Outcome.FromResult(await state.Executor.AttemptAsync(state.Call, ctx, ctx.CancellationToken).ConfigureAwait(false));
                        }
                        catch (Exception ex)
                        {
                            return Outcome.FromException<TResponse>(ex);
                        }
                    },
                    context,
                    (Executor: this, Call: call)).ConfigureAwait(false);
                if (outcome.Exception is TimeoutRejectedException timeout)
                {
                    throw TimeoutFailure(call, timeout);
                }

                outcome.ThrowIfException();
                return outcome.Result!;
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
        finally
        {
            for (; call.PendingRetries > 0; call.PendingRetries--)
            {
                cluster.State.EndRetry();
            }
        }
    }

    /// <summary>One attempt: pick, admit, pass the breakers, send, classify, report.</summary>
    private async ValueTask<TResponse> AttemptAsync(Call call, ResilienceContext? context, CancellationToken cancellationToken)
    {
        var index = Interlocked.Increment(ref call.Attempts) - 1;
        var isRetry = index > 0 && call.Route.Policy.Retry is not null;
        try
        {
            var cluster = call.Cluster;
            var endpoint = call.PickEndpoint()
                ?? throw new MeshException(call.Service.Name, MeshFailureReason.NoUsableEndpoint, $"Service '{call.Service.Name}' (route '{call.Route.Name}') cannot send: {cluster.DescribeUnavailability()}.");
            // Admission comes before the breakers, so an overflow never counts in a breaker's window.
            var clusterState = cluster.State;
            if (!await clusterState.AdmitAsync(cancellationToken).ConfigureAwait(false))
            {
                throw OverflowFailure(call.Service, cluster);
            }

            try
            {
                var breakers = clusterState.Breakers;
                return breakers is null
                    ? await SendAsync(call, endpoint, index, attempt: null, cancellationToken).ConfigureAwait(false)
                    : await SendThroughBreakersAsync(breakers, call, endpoint, index, context, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                clusterState.Release();
            }
        }
        finally
        {
            // Retries run one after another, so the call's reservation count needs no atomics.
            if (isRetry && call.PendingRetries > 0)
            {
                call.PendingRetries--;
                call.Cluster.State.EndRetry();
            }
        }
    }

    private async ValueTask<TResponse> SendThroughBreakersAsync(ResiliencePipeline breakers, Call call, EndpointModel endpoint, int index, ResilienceContext? context, CancellationToken cancellationToken)
    {
        var ownContext = context is null;
        context ??= ResilienceContextPool.Shared.Get(cancellationToken);
        var attempt = new AttemptRecord();
        context.Properties.Set(AttemptRecord.Key, attempt);
        try
        {
            var outcome = await breakers.ExecuteOutcomeAsync(
                static async (ctx, s) =>
                {
                    try
                    {
                        return Outcome.FromResult(await s.Executor.SendAsync(s.Call, s.Endpoint, s.Index, s.Attempt, ctx.CancellationToken).ConfigureAwait(false));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<TResponse>(ex);
                    }
                },
                context,
                (Executor: this, Call: call, Endpoint: endpoint, Index: index, Attempt: attempt)).ConfigureAwait(false);
            if (outcome.Exception is BrokenCircuitException broken)
            {
                MeshTelemetry.AddEvent("mesh.circuit_open", MeshTelemetry.Tags.Cluster, call.Cluster.Name);
                throw new MeshException(call.Service.Name, MeshFailureReason.CircuitOpen, $"Service '{call.Service.Name}': the circuit breaker of cluster '{call.Cluster.Name}' is open ({broken.Message}); requests fail fast until it lets a probe through.", broken);
            }

            outcome.ThrowIfException();
            return outcome.Result!;
        }
        finally
        {
            if (ownContext)
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    /// <summary>
    /// Whether a request can skip the pipeline: no rate limit, fault, timeout, retry or hedging on its
    /// route and service, and no breakers on its cluster. The transport then runs the single attempt
    /// itself with <see cref="TryBeginAttempt"/> and <see cref="EndAttempt"/>, saving the pipeline's
    /// allocations on the most common request.
    /// </summary>
    public static bool IsSingleAttempt(ServiceModel service, RouteModel route, ClusterModel cluster) =>
        service.RateLimiter is null && ReferenceEquals(route.Policy, RoutePolicy.None) && cluster.State.Breakers is null;

    /// <summary>Picks and admits at once, or returns false: the request then takes <see cref="ExecuteAsync"/>, which waits for admission or explains the failure.</summary>
    public bool TryBeginAttempt(ClusterModel cluster, in PickContext pick, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EndpointModel? endpoint, out long start)
    {
        start = 0;
        endpoint = cluster.Pick(in pick);
        if (endpoint is null || !cluster.State.TryAdmit())
        {
            endpoint = null;
            return false;
        }

        start = StartAttempt(endpoint);
        return true;
    }

    /// <summary>Ends an attempt begun with <see cref="TryBeginAttempt"/>: returns the admission and reports the outcome (<c>default</c> when the caller cancelled).</summary>
    public void EndAttempt(ClusterModel cluster, EndpointModel endpoint, long start, AttemptOutcome outcome)
    {
        cluster.State.Release();
        FinishAttempt(cluster, endpoint, start, outcome);
    }

    /// <summary>The outcome of an attempt that threw; <c>default</c> (not reported) when the caller cancelled it.</summary>
    public AttemptOutcome Classify(Exception exception, CancellationToken callerToken) => exception switch
    {
        OperationCanceledException when callerToken.IsCancellationRequested => default,
        OperationCanceledException => AttemptOutcome.FromFailure(AttemptFailure.Timeout),
        _ => AttemptOutcome.FromFailure(_transport.Classify(exception)),
    };

    private long StartAttempt(EndpointModel endpoint)
    {
        endpoint.State.OnRequestStarted();
        return _time.GetTimestamp();
    }

    private TimeSpan FinishAttempt(ClusterModel cluster, EndpointModel endpoint, long start, AttemptOutcome outcome)
    {
        var elapsed = _time.GetElapsedTime(start);
        endpoint.State.OnRequestCompleted(elapsed, answered: outcome != default && !outcome.IsLocalFailure);
        if (outcome != default)
        {
            cluster.Detector?.Report(endpoint, outcome);
        }

        return elapsed;
    }

    private async ValueTask<TResponse> SendAsync(Call call, EndpointModel endpoint, int index, AttemptRecord? attempt, CancellationToken cancellationToken)
    {
        var start = StartAttempt(endpoint);
        AttemptOutcome outcome = default;
        try
        {
            var response = await _transport.SendAsync(call.Request, endpoint, index, cancellationToken).ConfigureAwait(false);
            outcome = _transport.Classify(response);
            if (outcome.IsSuccess)
            {
                Volatile.Write(ref call.Answered, true);
            }

            return response;
        }
        catch (OperationCanceledException) when (call.CallerToken.IsCancellationRequested || Volatile.Read(ref call.Answered))
        {
            // Cancelled by the caller, or a hedge cancelled because another attempt already answered: neither the
            // endpoint's fault nor a success, so not reported.
            throw;
        }
        catch (Exception ex)
        {
            // A cancellation the caller did not ask for is a timeout (per-try or total).
            outcome = AttemptOutcome.FromFailure(ex is OperationCanceledException ? AttemptFailure.Timeout : _transport.Classify(ex));
            throw;
        }
        finally
        {
            var elapsed = FinishAttempt(call.Cluster, endpoint, start, outcome);
            if (outcome != default && attempt is not null)
            {
                attempt.Outcome = outcome;
                attempt.Duration = elapsed;
                attempt.Reported = true;
            }
        }
    }

    private ResiliencePipeline<TResponse> CreatePipeline(RouteModel route, bool hedgeable)
    {
        var policy = route.Policy;
        var builder = new ResiliencePipelineBuilder<TResponse> { TimeProvider = _time, Name = route.Name };
        if (policy.Timeout is { } total)
        {
            builder.AddTimeout(new TimeoutStrategyOptions
            {
                Timeout = total,
                OnTimeout = args =>
                {
                    if (args.Context.Properties.TryGetValue(CallKey, out var call))
                    {
                        call.TotalTimeoutExpired = true;
                    }

                    _telemetry.Timeouts.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.TimeoutKind, "total"));
                    MeshTelemetry.AddEvent("mesh.timeout", MeshTelemetry.Tags.TimeoutKind, "total");
                    return ValueTask.CompletedTask;
                },
            });
        }

        if (policy.Hedging is { } hedging)
        {
            // Not idempotent or not replayable: hedging would send the request twice, so it is skipped.
            if (hedgeable)
            {
                builder.AddHedging(new HedgingStrategyOptions<TResponse>
                {
                    Delay = hedging.Delay,
                    MaxHedgedAttempts = hedging.MaxAttempts - 1,
                    // A refused hedge (overflow, open circuit) is one more failed attempt: the others keep running.
                    ShouldHandle = args => ValueTask.FromResult(!Classify(args.Outcome).IsSuccess),
                    OnHedging = args =>
                    {
                        _telemetry.Hedges.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.Route, route.Name));
                        MeshTelemetry.AddEvent("mesh.hedge", "mesh.attempt", args.AttemptNumber + 1);
                        return ValueTask.CompletedTask;
                    },
                });
            }
        }
        else if (policy.Retry is { } retry)
        {
            builder.AddRetry(new RetryStrategyOptions<TResponse>
            {
                MaxRetryAttempts = retry.Retries,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args, retry)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(retry.GetBackoff(args.AttemptNumber + 1, _random)),
                OnRetry = args =>
                {
                    _telemetry.Retries.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.Route, route.Name));
                    MeshTelemetry.AddEvent("mesh.retry", "mesh.attempt", args.AttemptNumber + 1, "mesh.retry.backoff_ms", args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            });
        }

        var perTry = policy.Retry?.PerTryTimeout;
        if (perTry is { } perTryTimeout)
        {
            builder.AddTimeout(new TimeoutStrategyOptions
            {
                Timeout = perTryTimeout,
                OnTimeout = _ =>
                {
                    _telemetry.Timeouts.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.TimeoutKind, "per_try"));
                    MeshTelemetry.AddEvent("mesh.timeout", MeshTelemetry.Tags.TimeoutKind, "per_try");
                    return ValueTask.CompletedTask;
                },
            });
        }

        return builder.Build();
    }

    private bool ShouldRetry(RetryPredicateArguments<TResponse> args, RetryPolicy retry)
    {
        if (args.AttemptNumber >= retry.Retries || !args.Context.Properties.TryGetValue(CallKey, out var call) || !call.Replayable)
        {
            return false;
        }

        if (IsMeshRefusal(args.Outcome) || call.CallerToken.IsCancellationRequested || !retry.IsRetriable(Classify(args.Outcome)))
        {
            return false;
        }

        if (!call.Cluster.State.TryBeginRetry())
        {
            return false;
        }

        Interlocked.Increment(ref call.PendingRetries);
        return true;
    }

    private AttemptOutcome Classify(Outcome<TResponse> outcome) => outcome.Exception switch
    {
        null => _transport.Classify(outcome.Result!),
        TimeoutRejectedException or OperationCanceledException => AttemptOutcome.FromFailure(AttemptFailure.Timeout),
        var ex => AttemptOutcome.FromFailure(_transport.Classify(ex)),
    };

    internal static MeshException OverflowFailure(ServiceModel service, ClusterModel cluster) => new(
        service.Name,
        MeshFailureReason.Overflow,
        $"Service '{service.Name}': cluster '{cluster.Name}' is at its limit of {cluster.State.Settings.MaxRequests} requests in flight and {cluster.State.Settings.MaxPendingRequests} waiting (ConnectionPool); the request failed fast and is not retried.");

    private static bool IsMeshRefusal(Outcome<TResponse> outcome) => outcome.Exception is MeshException or BrokenCircuitException;

    private bool Chance(double percentage) => percentage >= 100 || _random.NextDouble() * 100 < percentage;

    private void CountFault(ServiceModel service, string kind) => _telemetry.Faults.Add(
        1,
        new KeyValuePair<string, object?>(MeshTelemetry.Tags.Service, service.Name),
        new KeyValuePair<string, object?>(MeshTelemetry.Tags.FaultKind, kind));

    private MeshException RateLimitedFailure(ServiceModel service, RouteModel route, string scope)
    {
        MeshTelemetry.AddEvent("mesh.rate_limited", "mesh.rate_limit.scope", scope);
        _telemetry.RateLimited.Add(
            1,
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.Service, service.Name),
            new KeyValuePair<string, object?>(MeshTelemetry.Tags.Route, route.Name));
        var settings = scope == "service" ? service.RateLimiter!.Settings : route.RateLimiter!.Settings;
        return new MeshException(service.Name, MeshFailureReason.RateLimited, $"Service '{service.Name}': the local rate limit of the {scope}{(scope == "route" ? $" '{route.Name}'" : "")} ({settings.TokensPerPeriod} per {SettingRules.Format(settings.Period)}, burst {settings.Burst}) refused the request.");
    }

    private static MeshException TimeoutFailure(Call call, TimeoutRejectedException timeout)
    {
        var limit = call.TotalTimeoutExpired
            ? $"the route timeout of {SettingRules.Format(timeout.Timeout)} ({call.Attempts} attempt(s))"
            : $"the per-try timeout of {SettingRules.Format(timeout.Timeout)} (the last of {call.Attempts} attempt(s) timed out)";
        return new MeshException(call.Service.Name, MeshFailureReason.Timeout, $"Service '{call.Service.Name}' (route '{call.Route.Name}') did not answer within {limit}.", timeout);
    }

    /// <summary>The route's pipelines: with hedging (idempotent, replayable requests) and without.</summary>
    private sealed class Pipelines
    {
        private ResiliencePipeline<TResponse>? _hedged;
        private ResiliencePipeline<TResponse>? _plain;

        public ResiliencePipeline<TResponse> Get(ResilientExecutor<TRequest, TResponse> executor, RouteModel route, bool hedgeable) => hedgeable
            ? _hedged ??= executor.CreatePipeline(route, hedgeable: true)
            : _plain ??= executor.CreatePipeline(route, hedgeable: false);
    }

    /// <summary>One logical request's state across its attempts.</summary>
    private sealed class Call(ServiceModel service, RouteModel route, ClusterModel cluster, TRequest request, PickContext pick, bool replayable, CancellationToken callerToken)
    {
        private readonly PickContext _pick = pick;
        private EndpointModel? _tried0;
        private EndpointModel? _tried1;
        private EndpointModel? _tried2;
        public int Attempts;
        public int PendingRetries;
        public bool TotalTimeoutExpired;
        public bool Answered;

        public ServiceModel Service { get; } = service;

        public RouteModel Route { get; } = route;

        public ClusterModel Cluster { get; } = cluster;

        public TRequest Request { get; } = request;

        public bool Replayable { get; } = replayable;

        public CancellationToken CallerToken { get; } = callerToken;

        /// <summary>Picks an endpoint, preferring one this request has not tried yet (Envoy's previous_hosts retry predicate, up to three re-picks).</summary>
        public EndpointModel? PickEndpoint()
        {
            EndpointModel? endpoint = null;
            for (var i = 0; i < 4; i++)
            {
                endpoint = Cluster.Pick(in _pick);
                if (endpoint is null || _tried0 is null || !WasTried(endpoint))
                {
                    break;
                }
            }

            // The first three endpoints tried fill the slots (lock-free: hedges pick concurrently); later ones take the last.
            if (endpoint is not null
                && Interlocked.CompareExchange(ref _tried0, endpoint, null) is not null
                && Interlocked.CompareExchange(ref _tried1, endpoint, null) is not null)
            {
                Volatile.Write(ref _tried2, endpoint);
            }

            return endpoint;
        }

        private bool WasTried(EndpointModel endpoint) => ReferenceEquals(endpoint, _tried0) || ReferenceEquals(endpoint, _tried1) || ReferenceEquals(endpoint, _tried2);
    }
}

/// <summary>An attempt's outcome and duration, for the cluster breakers' predicates.</summary>
internal sealed class AttemptRecord
{
    public static readonly ResiliencePropertyKey<AttemptRecord> Key = new("mesh.attempt");

    public AttemptOutcome Outcome;
    public TimeSpan Duration;
    public bool Reported;
}
