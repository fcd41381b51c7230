using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Threading.Channels;
using Mesh.Configuration;
using Mesh.Model;
using Mesh.Resilience;
using Mesh.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Resilience;

/// <summary>The bound on every await in the resilience tests: far longer than any test needs, so hitting it means a hang.</summary>
internal static class Bound
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
}

/// <summary>
/// A <see cref="FakeTimeProvider"/> that reports every timer it creates, so a test can wait until a delay or
/// timeout is armed before it advances the clock (otherwise an advance can run before the timer exists).
/// </summary>
internal sealed class TestTime : FakeTimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<TimeSpan> _armed = [];
    private readonly Channel<bool> _signal = Channel.CreateUnbounded<bool>();

    public TestTime()
        : base(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        lock (_gate)
        {
            _armed.Add(dueTime);
        }

        _signal.Writer.TryWrite(true);
        return timer;
    }

    /// <summary>Waits until a timer with this due time has been created (each created timer satisfies one wait).</summary>
    public async Task WaitForTimerAsync(TimeSpan dueTime)
    {
        using var bound = new CancellationTokenSource(Bound.Timeout);
        while (true)
        {
            lock (_gate)
            {
                var index = _armed.IndexOf(dueTime);
                if (index >= 0)
                {
                    _armed.RemoveAt(index);
                    return;
                }
            }

            try
            {
                await _signal.Reader.ReadAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                lock (_gate)
                {
                    Assert.Fail($"no timer due in {dueTime} was created; pending: {string.Join(", ", _armed)}");
                }
            }
        }
    }
}

/// <summary>A random source with fixed answers: every <see cref="NextDouble"/> returns <c>doubleValue</c>, every <see cref="Next(int)"/> returns <c>intValue</c> (below the bound).</summary>
internal sealed class ConstantRandom(double doubleValue = 0, int intValue = 0) : Random
{
    public override double NextDouble() => doubleValue;

    public override int Next() => intValue;

    public override int Next(int maxValue) => Math.Min(intValue, maxValue - 1);

    public override int Next(int minValue, int maxValue) => Math.Min(minValue + intValue, maxValue - 1);

    public override long NextInt64(long maxValue) => Math.Min(intValue, maxValue - 1);
}

/// <summary>A random source that answers from scripts and fails the test when a script runs out (an unexpected draw).</summary>
internal sealed class ScriptedRandom(IEnumerable<double>? doubles = null, IEnumerable<int>? ints = null) : Random
{
    private readonly Queue<double> _doubles = new(doubles ?? []);
    private readonly Queue<int> _ints = new(ints ?? []);

    public override double NextDouble()
    {
        lock (_doubles)
        {
            return _doubles.TryDequeue(out var value) ? value : throw new InvalidOperationException("NextDouble was called more often than scripted");
        }
    }

    public override int Next(int maxValue)
    {
        lock (_ints)
        {
            return _ints.TryDequeue(out var value) ? value : throw new InvalidOperationException("Next was called more often than scripted");
        }
    }
}

/// <summary>One attempt the executor handed to the fake transport.</summary>
internal sealed record SentAttempt(string Request, EndpointModel Endpoint, int Index, CancellationToken Token);

/// <summary>A local failure the fake transport throws; classified as <see cref="Failure"/>.</summary>
internal sealed class FakeFailureException(AttemptFailure failure) : Exception($"fake {failure}")
{
    public AttemptFailure Failure { get; } = failure;
}

/// <summary>
/// A transport whose responses are status codes. <see cref="Respond"/> decides each answer; every attempt is
/// recorded and announced, so tests can wait for an attempt to start. Exceptions other than
/// <see cref="FakeFailureException"/> are classified as resets, so a refusal that reached the retry
/// conditions would be retried (the executor must filter refusals itself).
/// </summary>
internal sealed class FakeTransport : IAttemptTransport<string, int>
{
    private readonly Channel<SentAttempt> _started = Channel.CreateUnbounded<SentAttempt>();
    private readonly ConcurrentQueue<SentAttempt> _sent = new();
    private int _localReplies;

    public Func<SentAttempt, ValueTask<int>> Respond { get; set; } = static _ => ValueTask.FromResult(200);

    public IReadOnlyList<SentAttempt> Sent => [.. _sent];

    public int LocalReplies => Volatile.Read(ref _localReplies);

    /// <summary>Answers by endpoint: the status for the endpoint's index in <paramref name="endpoints"/>.</summary>
    public static Func<SentAttempt, ValueTask<int>> ByEndpoint(ImmutableArray<EndpointModel> endpoints, params int[] statuses) =>
        a => ValueTask.FromResult(statuses[endpoints.IndexOf(a.Endpoint)]);

    /// <summary>Never answers; fails with the attempt's cancellation.</summary>
    public static async ValueTask<int> Hang(SentAttempt attempt)
    {
        await Task.Delay(Timeout.InfiniteTimeSpan, attempt.Token);
        throw new InvalidOperationException("unreachable");
    }

    public ValueTask<int> SendAsync(string request, EndpointModel endpoint, int attempt, CancellationToken cancellationToken)
    {
        var sent = new SentAttempt(request, endpoint, attempt, cancellationToken);
        _sent.Enqueue(sent);
        try
        {
            return Respond(sent);
        }
        finally
        {
            // Announced once the responder has started, so whatever it arms synchronously (a delay) exists when a test advances the clock.
            _started.Writer.TryWrite(sent);
        }
    }

    /// <summary>Waits for the next attempt to reach the transport.</summary>
    public async Task<SentAttempt> NextAttemptAsync() => await _started.Reader.ReadAsync().AsTask().WaitAsync(Bound.Timeout);

    public AttemptOutcome Classify(int response) => AttemptOutcome.FromStatus(response);

    public AttemptFailure Classify(Exception exception) => exception is FakeFailureException fake ? fake.Failure : AttemptFailure.Reset;

    public int CreateLocalReply(string request, FaultPolicy fault)
    {
        Interlocked.Increment(ref _localReplies);
        return fault.AbortStatus;
    }
}

/// <summary>
/// A mesh built by the real <see cref="MeshState"/> (so reloads keep runtime state as in production) on a
/// <see cref="TestTime"/>, and a <see cref="ResilientExecutor{TRequest, TResponse}"/> over a <see cref="FakeTransport"/>.
/// </summary>
internal sealed class ExecutorHarness : IDisposable
{
    public const string ServiceName = "backend";

    public ExecutorHarness(MeshOptions options, Random? meshRandom = null, Random? executorRandom = null)
    {
        Telemetry = new MeshTelemetry(new DetachedMeterFactory());
        State = new MeshState(TestMesh.Policies(), meshRandom ?? new ConstantRandom(), Time, Telemetry, NullLoggerFactory.Instance, NullLogger<MeshState>.Instance);
        Executor = new ResilientExecutor<string, int>(Transport, Time, executorRandom ?? new ConstantRandom(), Telemetry);
        var result = State.Apply(options, "test");
        Assert.That(result.Errors, Is.Empty, "the options should be valid");
    }

    public TestTime Time { get; } = new();

    public MeshTelemetry Telemetry { get; }

    public FakeTransport Transport { get; } = new();

    public MeshState State { get; }

    public ResilientExecutor<string, int> Executor { get; }

    public ServiceModel Service => State.Current.TryGetService(ServiceName, out var service) ? service : throw new InvalidOperationException("no service");

    public RouteModel Route => Service.Routes[0];

    public ClusterModel Cluster => Route.Destinations[0].Cluster;

    public ImmutableArray<EndpointModel> Endpoints => Cluster.Endpoints;

    /// <summary>Stops the mesh's detector and rate-limit timers.</summary>
    public void Dispose() => State.Dispose();

    /// <summary>Starts one request through the first route of the service.</summary>
    public Task<int> SendAsync(string request = "request", bool replayable = true, bool idempotent = true, CancellationToken cancellationToken = default) =>
        Executor.ExecuteAsync(Service, Route, Cluster, request, default, replayable, idempotent, cancellationToken).AsTask();

    /// <summary>Sends and waits for the answer (bounded).</summary>
    public Task<int> SendAndWaitAsync(string request = "request", bool replayable = true, bool idempotent = true) =>
        SendAsync(request, replayable, idempotent).WaitAsync(Bound.Timeout);

    /// <summary>
    /// Options for service <c>backend</c> with <paramref name="endpoints"/> endpoints http://10.0.0.1:80, http://10.0.0.2:80, ...
    /// and, when <paramref name="route"/> is given, one route <c>api</c> to the service itself configured by it.
    /// </summary>
    public static MeshOptions Options(int endpoints = 3, Action<ServiceOptions>? service = null, Action<RouteOptions>? route = null)
    {
        var options = new ServiceOptions();
        for (var i = 1; i <= endpoints; i++)
        {
            options.Endpoints.Add(new EndpointOptions { Address = $"http://10.0.0.{i}:80" });
        }

        if (route is not null)
        {
            var routeOptions = new RouteOptions { Name = "api", Destinations = { new DestinationOptions() } };
            route(routeOptions);
            options.Routes.Add(routeOptions);
        }

        service?.Invoke(options);
        var mesh = new MeshOptions();
        mesh.Services[ServiceName] = options;
        return mesh;
    }
}
