using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Telemetry;
using Polly;
using Polly.CircuitBreaker;
using Polly.Hedging;
using Polly.Timeout;

namespace Mesh.Resilience;

/// <summary>
/// Runs one logical request through its route's and cluster's resilience, in the order a sidecar applies them:
/// local rate limits (service, then route); fault injection (abort, delay); the total timeout; retries (Envoy
/// conditions, jittered backoff, budget) or hedging; the per-try timeout; then each attempt: pick an endpoint not
/// yet tried, pass the cluster's connection-pool admission and breakers, send, and report the outcome to outlier
/// detection and the breakers. Refusals by the mesh itself (overflow, open circuit, rate limit) fail fast as
/// <see cref="MeshException"/> and are never retried.
/// </summary>
/// <remarks>
/// Without hedging, all of it runs in <see cref="ExecuteAsync"/> itself, with both timeouts on one pooled token
/// source (<see cref="RequestTimeouts"/>): when the transport completes later, that method's state machine is the
/// only object the executor puts on the heap. Hedging, which runs attempts side by side, stays on Polly.
/// </remarks>
internal sealed class ResilientExecutor<TRequest, TResponse>
{
    private static readonly ResiliencePropertyKey<Call> CallKey = new("mesh.call");

    private readonly IAttemptTransport<TRequest, TResponse> _transport;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly MeshTelemetry _telemetry;
    private readonly ConditionalWeakTable<RouteModel, ResiliencePipeline<TResponse>> _hedgingPipelines = [];

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
                return _transport.CreateLocalReply(request, fault);
            }
        }

        // Not idempotent or not replayable: hedging would send the request twice, so it is skipped (the route's timeout still applies).
        if (route.Policy.Hedging is not null && replayable && idempotent)
        {
            return await ExecuteHedgedAsync(service, route, cluster, request, pick, cancellationToken).ConfigureAwait(false);
        }

        // Route, cluster and policy are read through their owners below rather than kept in locals: every local that lives
        // across an await is a field of the state machine, which goes to the heap when the transport completes later.
        var retry = route.Policy.Retry;
        var retries = replayable && retry is not null ? retry.Retries : 0;
        var timeouts = new RequestTimeouts(route.Policy.Timeout, retry?.PerTryTimeout, _time, cancellationToken);
        var tried = default(TriedEndpoints);
        var attempts = 0;
        var retryReserved = false;
        try
        {
            while (true)
            {
                if (!timeouts.TryStartAttempt(out var token))
                {
                    throw TotalTimeoutFailure(service, route, route.Policy.Timeout!.Value, null, attempts);
                }

                attempts++;
                EndpointModel? endpoint = null;
                var admitted = false;
                var sent = false;
                long start = 0;
                TResponse? response = default;
                Exception? failure = null;
                AttemptOutcome outcome = default;
                try
                {
                    endpoint = tried.Pick(_transport, cluster, in pick) ?? throw NoUsableEndpointFailure(service, route, cluster);

                    // Admission comes before the breakers, so an overflow never counts in a breaker's window.
                    if (!cluster.State.TryAdmit() && !(_transport.QueuesOverflow ? await cluster.State.AdmitAsync(token).ConfigureAwait(false) : cluster.State.RefuseOverflow()))
                    {
                        throw OverflowFailure(service, cluster);
                    }

                    admitted = true;
                    start = _time.GetTimestamp();
                    if (cluster.State.Breakers?.TryPass(start) is { } refusal)
                    {
                        throw CircuitOpenFailure(service, cluster, refusal);
                    }

                    endpoint.State.OnRequestStarted();
                    sent = true;
                    var parent = Activity.Current;
                    try
                    {
                        response = await _transport.SendAsync(request, endpoint, attempts - 1, token).ConfigureAwait(false);
                    }
                    finally
                    {
                        // The transport may make its attempt span the current activity; the retry's event and the next
                        // attempt's span belong to the request's span.
                        if (Activity.Current != parent)
                        {
                            Activity.Current = parent;
                        }
                    }

                    outcome = _transport.Classify(response);
                }
                catch (Exception ex) when (ex is not MeshException && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
                {
                    // A cancellation the caller did not ask for is a timeout (per-try or total).
                    failure = ex;
                    if (sent)
                    {
                        outcome = AttemptOutcome.FromFailure(Classify(ex));
                    }
                }
                finally
                {
                    // Refusals, and cancellations by the caller (outcome default: neither the endpoint's fault nor a success), pass through here.
                    if (sent)
                    {
                        FinishAttempt(cluster, endpoint!, start, outcome, failure);
                    }

                    if (admitted)
                    {
                        cluster.State.Release();
                    }

                    if (retryReserved)
                    {
                        retryReserved = false;
                        cluster.State.EndRetry();
                    }
                }

                var expired = timeouts.Expired;
                if (failure is OperationCanceledException cancelled && expired != TimeoutKind.None)
                {
                    if (expired == TimeoutKind.Total)
                    {
                        throw TotalTimeoutFailure(service, route, route.Policy.Timeout!.Value, cancelled, attempts);
                    }

                    CountTimeout("per_try");
                    var perTry = retry!.PerTryTimeout!.Value;
                    failure = new TimeoutRejectedException(TimeoutMessage(perTry), perTry, cancelled);
                }

                var retriable = attempts <= retries
                    && !cancellationToken.IsCancellationRequested
                    && retry!.IsRetriable(failure is null ? outcome : AttemptOutcome.FromFailure(Classify(failure)));
                var backoffToken = CancellationToken.None;
                if (retriable && (expired == TimeoutKind.Total || !timeouts.TryStartBackoff(out backoffToken)))
                {
                    // The route's timeout passed while the attempt ended some other way: no time is left to retry.
                    DisposeReplaced(response);
                    throw TotalTimeoutFailure(service, route, route.Policy.Timeout!.Value, failure, attempts);
                }

                if (!retriable || !cluster.State.TryBeginRetry())
                {
                    if (failure is null)
                    {
                        return response!;
                    }

                    if (failure is TimeoutRejectedException perTryTimeout)
                    {
                        throw TimeoutFailure(service, route, total: false, perTryTimeout, attempts);
                    }

                    ExceptionDispatchInfo.Throw(failure);
                }

                // Held from here until the retry's attempt ends.
                retryReserved = true;
                var backoff = retry!.GetBackoff(attempts, _random);
                _telemetry.Retries.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.Route, route.Name));
                MeshTelemetry.AddEvent("mesh.retry", "mesh.attempt", attempts, "mesh.retry.backoff_ms", backoff.TotalMilliseconds);
                DisposeReplaced(response);
                if (backoff > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(backoff, _time, backoffToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException ex) when (timeouts.Expired == TimeoutKind.Total)
                    {
                        throw TotalTimeoutFailure(service, route, route.Policy.Timeout!.Value, ex, attempts);
                    }
                }
            }
        }
        finally
        {
            if (retryReserved)
            {
                cluster.State.EndRetry();
            }

            timeouts.Dispose();
        }
    }

    /// <summary>
    /// Whether a request can skip the pipeline: no rate limit, fault, timeout, retry or hedging on its
    /// route and service, and no breakers on its cluster. The transport then runs the single attempt
    /// itself with <see cref="TryBeginAttempt"/> and <see cref="EndAttempt"/>, saving the executor's
    /// state machine on the most common request.
    /// </summary>
    public static bool IsSingleAttempt(ServiceModel service, RouteModel route, ClusterModel cluster) =>
        service.RateLimiter is null && ReferenceEquals(route.Policy, RoutePolicy.None) && cluster.State.Breakers is null;

    /// <summary>Picks and admits at once, or returns false: the request then takes <see cref="ExecuteAsync"/>, which waits for admission or explains the failure.</summary>
    public bool TryBeginAttempt(ClusterModel cluster, in PickContext pick, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EndpointModel? endpoint, out long start)
    {
        start = 0;
        endpoint = _transport.Pick(cluster, in pick);
        if (endpoint is null || !cluster.State.TryAdmit())
        {
            endpoint = null;
            return false;
        }

        endpoint.State.OnRequestStarted();
        start = _time.GetTimestamp();
        return true;
    }

    /// <summary>Draws an injected abort for a request that does not go through <see cref="ExecuteAsync"/> (a stream), counting it.</summary>
    public bool TryInjectAbort(ServiceModel service, FaultPolicy fault)
    {
        if (!fault.HasAbort || !Chance(fault.AbortPercentage))
        {
            return false;
        }

        CountFault(service, "abort");
        return true;
    }

    /// <summary>Ends an attempt begun with <see cref="TryBeginAttempt"/>: returns the admission and reports the outcome (<c>default</c> when the caller cancelled).</summary>
    public void EndAttempt(ClusterModel cluster, EndpointModel endpoint, long start, AttemptOutcome outcome)
    {
        cluster.State.Release();
        FinishAttempt(cluster, endpoint, start, outcome, null);
    }

    /// <summary>The outcome of an attempt that threw; <c>default</c> (not reported) when the caller cancelled it.</summary>
    public AttemptOutcome Classify(Exception exception, CancellationToken callerToken) => exception switch
    {
        OperationCanceledException when callerToken.IsCancellationRequested => default,
        _ => AttemptOutcome.FromFailure(Classify(exception)),
    };

    /// <summary>A failed attempt's failure: a cancellation the caller did not ask for, or a rejection by a timeout, is a timeout.</summary>
    private AttemptFailure Classify(Exception exception) =>
        exception is OperationCanceledException or TimeoutRejectedException ? AttemptFailure.Timeout : _transport.Classify(exception);

    /// <summary>Reports an attempt's end to the endpoint, outlier detection and the cluster's breakers.</summary>
    private void FinishAttempt(ClusterModel cluster, EndpointModel endpoint, long start, AttemptOutcome outcome, Exception? failure)
    {
        var end = _time.GetTimestamp();
        var elapsed = _time.GetElapsedTime(start, end);
        endpoint.State.OnRequestCompleted(elapsed, answered: outcome != default && !outcome.IsLocalFailure);
        if (outcome != default)
        {
            cluster.Detector?.Report(endpoint, outcome);
        }

        cluster.State.Breakers?.Report(outcome, elapsed, end, failure);
    }

    /// <summary>Hedging on Polly: the route's timeout, then attempts after the hedging delay, each through <see cref="AttemptAsync"/>.</summary>
    private async ValueTask<TResponse> ExecuteHedgedAsync(ServiceModel service, RouteModel route, ClusterModel cluster, TRequest request, PickContext pick, CancellationToken cancellationToken)
    {
        if (!_hedgingPipelines.TryGetValue(route, out var pipeline))
        {
            pipeline = _hedgingPipelines.GetValue(route, CreateHedgingPipeline);
        }

        var call = new Call(service, route, cluster, request, pick, cancellationToken);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(CallKey, call);
        try
        {
            var outcome = await pipeline.ExecuteOutcomeAsync(
                static async (ctx, state) =>
                {
                    try
                    {
                        return Outcome.FromResult(await state.Executor.AttemptAsync(state.Call, ctx.CancellationToken).ConfigureAwait(false));
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
                throw TimeoutFailure(service, route, call.TotalTimeoutExpired, timeout, Volatile.Read(ref call.Attempts));
            }

            outcome.ThrowIfException();
            return outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>One hedged attempt: pick, admit, pass the breakers, send, classify, report.</summary>
    private async ValueTask<TResponse> AttemptAsync(Call call, CancellationToken cancellationToken)
    {
        var index = Interlocked.Increment(ref call.Attempts) - 1;
        var cluster = call.Cluster;
        var endpoint = call.PickEndpoint(_transport) ?? throw NoUsableEndpointFailure(call.Service, call.Route, cluster);

        // Admission comes before the breakers, so an overflow never counts in a breaker's window.
        var clusterState = cluster.State;
        if (!clusterState.TryAdmit() && !(_transport.QueuesOverflow ? await clusterState.AdmitAsync(cancellationToken).ConfigureAwait(false) : clusterState.RefuseOverflow()))
        {
            throw OverflowFailure(call.Service, cluster);
        }

        try
        {
            var start = _time.GetTimestamp();
            if (clusterState.Breakers?.TryPass(start) is { } refusal)
            {
                throw CircuitOpenFailure(call.Service, cluster, refusal);
            }

            endpoint.State.OnRequestStarted();
            return await SendAsync(call, endpoint, index, start, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            clusterState.Release();
        }
    }

    private async ValueTask<TResponse> SendAsync(Call call, EndpointModel endpoint, int index, long start, CancellationToken cancellationToken)
    {
        AttemptOutcome outcome = default;
        Exception? failure = null;
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
            // A cancellation the caller did not ask for is a timeout.
            outcome = AttemptOutcome.FromFailure(Classify(ex));
            failure = ex;
            throw;
        }
        finally
        {
            FinishAttempt(call.Cluster, endpoint, start, outcome, failure);
        }
    }

    private ResiliencePipeline<TResponse> CreateHedgingPipeline(RouteModel route)
    {
        var policy = route.Policy;
        var hedging = policy.Hedging!;
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

                    CountTimeout("total");
                    return ValueTask.CompletedTask;
                },
            });
        }

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
        return builder.Build();
    }

    private AttemptOutcome Classify(Outcome<TResponse> outcome) => outcome.Exception switch
    {
        null => _transport.Classify(outcome.Result!),
        var ex => AttemptOutcome.FromFailure(Classify(ex)),
    };

    internal static MeshException OverflowFailure(ServiceModel service, ClusterModel cluster) => new(
        service.Name,
        MeshFailureReason.Overflow,
        $"Service '{service.Name}': cluster '{cluster.Name}' is at its limit of {cluster.State.Settings.MaxRequests} requests in flight and {cluster.State.Settings.MaxPendingRequests} waiting (ConnectionPool); the request failed fast and is not retried.");

    private static MeshException NoUsableEndpointFailure(ServiceModel service, RouteModel route, ClusterModel cluster) => new(
        service.Name,
        MeshFailureReason.NoUsableEndpoint,
        $"Service '{service.Name}' (route '{route.Name}') cannot send: {cluster.DescribeUnavailability()}.");

    private static MeshException CircuitOpenFailure(ServiceModel service, ClusterModel cluster, BrokenCircuitException broken)
    {
        MeshTelemetry.AddEvent("mesh.circuit_open", MeshTelemetry.Tags.Cluster, cluster.Name);
        return new MeshException(service.Name, MeshFailureReason.CircuitOpen, $"Service '{service.Name}': the circuit breaker of cluster '{cluster.Name}' is open ({broken.Message}); requests fail fast until it lets a probe through.", broken);
    }

    /// <summary>Disposes a response that a retry replaces, as Polly's retry did.</summary>
    private static void DisposeReplaced(TResponse? response)
    {
        if (response is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }

    private bool Chance(double percentage) => percentage >= 100 || _random.NextDouble() * 100 < percentage;

    private void CountFault(ServiceModel service, string kind) => _telemetry.Faults.Add(
        1,
        new KeyValuePair<string, object?>(MeshTelemetry.Tags.Service, service.Name),
        new KeyValuePair<string, object?>(MeshTelemetry.Tags.FaultKind, kind));

    private void CountTimeout(string kind)
    {
        _telemetry.Timeouts.Add(1, new KeyValuePair<string, object?>(MeshTelemetry.Tags.TimeoutKind, kind));
        MeshTelemetry.AddEvent("mesh.timeout", MeshTelemetry.Tags.TimeoutKind, kind);
    }

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

    /// <summary>The route's timeout expired: counted, and wrapped as Polly's timeout strategy did.</summary>
    private MeshException TotalTimeoutFailure(ServiceModel service, RouteModel route, TimeSpan timeout, Exception? cause, int attempts)
    {
        CountTimeout("total");
        var rejection = cause is null ? new TimeoutRejectedException(TimeoutMessage(timeout), timeout) : new TimeoutRejectedException(TimeoutMessage(timeout), timeout, cause);
        return TimeoutFailure(service, route, total: true, rejection, attempts);
    }

    private static string TimeoutMessage(TimeSpan timeout) => $"The operation didn't complete within the allowed timeout of '{timeout}'.";

    private static MeshException TimeoutFailure(ServiceModel service, RouteModel route, bool total, TimeoutRejectedException timeout, int attempts)
    {
        var limit = total
            ? $"the route timeout of {SettingRules.Format(timeout.Timeout)} ({attempts} attempt(s))"
            : $"the per-try timeout of {SettingRules.Format(timeout.Timeout)} (the last of {attempts} attempt(s) timed out)";
        return new MeshException(service.Name, MeshFailureReason.Timeout, $"Service '{service.Name}' (route '{route.Name}') did not answer within {limit}.", timeout);
    }

    /// <summary>
    /// The first three endpoints a request tried, for Envoy's previous_hosts retry predicate: a pick that lands on
    /// one of them is picked again, up to three times. For attempts one after another (hedges use <see cref="Call"/>).
    /// </summary>
    private struct TriedEndpoints
    {
        private EndpointModel? _first;
        private EndpointModel? _second;
        private EndpointModel? _third;

        public EndpointModel? Pick(IAttemptTransport<TRequest, TResponse> transport, ClusterModel cluster, in PickContext pick)
        {
            EndpointModel? endpoint = null;
            for (var i = 0; i < 4; i++)
            {
                endpoint = transport.Pick(cluster, in pick);
                if (endpoint is null || _first is null || !WasTried(endpoint))
                {
                    break;
                }
            }

            // The first three endpoints tried fill the slots; later ones take the last.
            if (endpoint is not null)
            {
                if (_first is null)
                {
                    _first = endpoint;
                }
                else if (_second is null)
                {
                    _second = endpoint;
                }
                else
                {
                    _third = endpoint;
                }
            }

            return endpoint;
        }

        private readonly bool WasTried(EndpointModel endpoint) => ReferenceEquals(endpoint, _first) || ReferenceEquals(endpoint, _second) || ReferenceEquals(endpoint, _third);
    }

    /// <summary>One hedged request's state across its attempts, which run side by side.</summary>
    private sealed class Call(ServiceModel service, RouteModel route, ClusterModel cluster, TRequest request, PickContext pick, CancellationToken callerToken)
    {
        private readonly PickContext _pick = pick;
        private EndpointModel? _tried0;
        private EndpointModel? _tried1;
        private EndpointModel? _tried2;
        public int Attempts;
        public bool TotalTimeoutExpired;
        public bool Answered;

        public ServiceModel Service { get; } = service;

        public RouteModel Route { get; } = route;

        public ClusterModel Cluster { get; } = cluster;

        public TRequest Request { get; } = request;

        public CancellationToken CallerToken { get; } = callerToken;

        /// <summary>Picks an endpoint, preferring one this request has not tried yet (Envoy's previous_hosts retry predicate, up to three re-picks).</summary>
        public EndpointModel? PickEndpoint(IAttemptTransport<TRequest, TResponse> transport)
        {
            EndpointModel? endpoint = null;
            for (var i = 0; i < 4; i++)
            {
                endpoint = transport.Pick(Cluster, in _pick);
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
