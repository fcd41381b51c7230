using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Http.Tests.Infrastructure;

/// <summary>A request as a <see cref="TestBackend"/> saw it.</summary>
/// <param name="Sequence">Position among the requests seen by every backend of the test run (one global counter).</param>
/// <param name="Host">The <c>Host</c> header (<c>:authority</c> in HTTP/2).</param>
/// <param name="Protocol"><c>HTTP/1.1</c> or <c>HTTP/2</c>.</param>
/// <param name="Path">The request path.</param>
/// <param name="Tag">The value of <see cref="TestBackend.TagHeader"/>, if the client sent one.</param>
internal sealed record SeenRequest(long Sequence, string Host, string Protocol, string Path, string? Tag);

/// <summary>
/// A real Kestrel server on 127.0.0.1 with a port chosen by the OS. It answers every request with its
/// id (body and <see cref="IdHeader"/>) and version, and records what it saw. <c>/status/{code}</c> answers
/// with that status; <c>/hold</c> waits until <see cref="ReleaseHeld"/> (or the client gives up).
/// </summary>
internal sealed class TestBackend : IAsyncDisposable
{
    public const string IdHeader = "x-backend-id";
    public const string VersionHeader = "x-backend-version";
    public const string TagHeader = "x-test-tag";

    private static long _sequence;

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SeenRequest> _seen = new();
    private TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TestBackend(string id, string version, HttpProtocols protocols)
    {
        Id = id;
        Version = version;
        Protocols = protocols;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = protocols));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(5));
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public string Id { get; }

    public string Version { get; }

    public HttpProtocols Protocols { get; }

    public int Port { get; private set; }

    /// <summary>The endpoint address for mesh configuration, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Address => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The current global sequence number; requests seen later have a larger <see cref="SeenRequest.Sequence"/>.</summary>
    public static long CurrentSequence => Interlocked.Read(ref _sequence);

    public IReadOnlyList<SeenRequest> Requests => [.. _seen];

    public int RequestCount => _seen.Count;

    public static async Task<TestBackend> StartAsync(string id, string version = "v1", HttpProtocols protocols = HttpProtocols.Http1)
    {
        var backend = new TestBackend(id, version, protocols);
        await backend._app.StartAsync().WaitAsync(Timeouts.Default);
        var addresses = backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
        backend.Port = new Uri(addresses.Single()).Port;
        return backend;
    }

    /// <summary>A port on 127.0.0.1 that nothing listens on (bound and released at once), for refused connections.</summary>
    public static int GetClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public void Reset() => _seen.Clear();

    /// <summary>Lets every request waiting on <c>/hold</c> complete.</summary>
    public void ReleaseHeld() =>
        Interlocked.Exchange(ref _held, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public async ValueTask DisposeAsync()
    {
        ReleaseHeld();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token).WaitAsync(Timeouts.Default);
        await _app.DisposeAsync().AsTask().WaitAsync(Timeouts.Default);
    }

    public override string ToString() => $"{Id} ({Version}) at {Address}";

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        string? tag = request.Headers.TryGetValue(TagHeader, out var values) ? values.ToString() : null;
        var held = Volatile.Read(ref _held).Task;
        _seen.Enqueue(new SeenRequest(Interlocked.Increment(ref _sequence), request.Host.Value ?? string.Empty, request.Protocol, request.Path.Value ?? "/", tag));

        var response = context.Response;
        response.Headers[IdHeader] = Id;
        response.Headers[VersionHeader] = Version;
        var path = request.Path.Value ?? "/";
        if (path == "/hold")
        {
            await held.WaitAsync(context.RequestAborted);
        }
        else if (path.StartsWith("/status/", StringComparison.Ordinal) && int.TryParse(path.AsSpan("/status/".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            response.StatusCode = status;
        }
        else if (path.StartsWith("/header/", StringComparison.Ordinal))
        {
            // Answers with the value of the named request header (empty when absent).
            await response.WriteAsync(request.Headers[path["/header/".Length..]].ToString(), context.RequestAborted);
            return;
        }
        else if (path.StartsWith("/bytes/", StringComparison.Ordinal) && int.TryParse(path.AsSpan("/bytes/".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            // A body of exactly that many bytes, with its Content-Length.
            response.ContentLength = size;
            await response.Body.WriteAsync(new byte[size], context.RequestAborted);
            return;
        }

        await response.WriteAsync(Id, context.RequestAborted);
    }
}
