using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Mesh.Http.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Http.Tests.Resilience;

/// <summary>What a <see cref="FaultyBackend"/> does with every request: wait (held or delayed), then reset the connection or answer with a status.</summary>
internal sealed record BackendBehavior(int Status = 200, TimeSpan Delay = default, bool Reset = false, bool Hold = false)
{
    public static BackendBehavior Ok { get; } = new();

    /// <summary>Always 503.</summary>
    public static BackendBehavior Unavailable { get; } = new(Status: 503);

    /// <summary>Aborts the connection without an answer (<c>HttpContext.Abort()</c>): a reset for the client.</summary>
    public static BackendBehavior ResetConnection { get; } = new(Reset: true);

    /// <summary>Waits until <see cref="FaultyBackend.ReleaseHeld"/>, then answers 200.</summary>
    public static BackendBehavior HoldUntilReleased { get; } = new(Hold: true);

    /// <summary>Answers 200 after <paramref name="delay"/> (the backend's behaviour, cut short if the client gives up).</summary>
    public static BackendBehavior Slow(TimeSpan delay) => new(Delay: delay);
}

/// <summary>
/// A real Kestrel server on 127.0.0.1 (port chosen by the OS) whose behaviour the test switches at any
/// time. It counts the attempts it receives, as the mesh's retries, hedges and ejections are seen from
/// the backend side, and the most requests it had in flight at once.
/// </summary>
internal sealed class FaultyBackend : IAsyncDisposable
{
    public const string IdHeader = "x-backend-id";

    private readonly WebApplication _app;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private BackendBehavior _behavior;
    private int _attempts;
    private int _inFlight;
    private int _maxInFlight;

    private FaultyBackend(string id, BackendBehavior behavior)
    {
        Id = id;
        _behavior = behavior;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(5));
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public string Id { get; }

    public int Port { get; private set; }

    /// <summary>The endpoint address for mesh configuration, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Address => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public BackendBehavior Behavior
    {
        get => Volatile.Read(ref _behavior);
        set => Volatile.Write(ref _behavior, value);
    }

    /// <summary>Requests received (every attempt the mesh sent here), whatever the answer.</summary>
    public int Attempts => Volatile.Read(ref _attempts);

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The most requests this backend was handling at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public static async Task<FaultyBackend> StartAsync(string id, BackendBehavior? behavior = null)
    {
        var backend = new FaultyBackend(id, behavior ?? BackendBehavior.Ok);
        await backend._app.StartAsync().WaitAsync(Timeouts.Default);
        var addresses = backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
        backend.Port = new Uri(addresses.Single()).Port;
        return backend;
    }

    /// <summary>An address on 127.0.0.1 whose port was bound and released at once, so connecting to it is refused.</summary>
    public static string RefusedAddress()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>Lets held requests (and any later ones) complete.</summary>
    public void ReleaseHeld() => _released.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        ReleaseHeld();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token).WaitAsync(Timeouts.Default);
        await _app.DisposeAsync().AsTask().WaitAsync(Timeouts.Default);
    }

    public override string ToString() => $"{Id} at {Address}";

    private async Task HandleAsync(HttpContext context)
    {
        var behavior = Behavior;
        Interlocked.Increment(ref _attempts);
        var inFlight = Interlocked.Increment(ref _inFlight);
        for (var max = Volatile.Read(ref _maxInFlight); inFlight > max; max = Volatile.Read(ref _maxInFlight))
        {
            if (Interlocked.CompareExchange(ref _maxInFlight, inFlight, max) == max)
            {
                break;
            }
        }

        try
        {
            context.Response.Headers[IdHeader] = Id;
            if (behavior.Reset)
            {
                context.Abort();
                return;
            }

            if (behavior.Hold)
            {
                await _released.Task.WaitAsync(context.RequestAborted);
            }

            if (behavior.Delay > TimeSpan.Zero)
            {
                await Task.Delay(behavior.Delay, context.RequestAborted);
            }

            context.Response.StatusCode = behavior.Status;
            await context.Response.WriteAsync(Id, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client gave up (per-try timeout, hedge lost, route timeout): nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
