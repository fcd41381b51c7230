using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Grpc.Tests.Infrastructure;

/// <summary>
/// A real gRPC server (Kestrel, h2c, 127.0.0.1) answering <c>mesh.test.TestService</c> with its id. Behaviours,
/// as gRPC's xDS interop servers take them in the <c>rpc-behavior</c> metadata (comma separated):
/// <c>sleep-N</c> (milliseconds), <c>error-code-N</c> (fail with status N), <c>succeed-on-attempt-N</c> (fail with
/// UNAVAILABLE until the N-th call carrying the same <c>x-request-id</c>), <c>hostname=ID</c> (apply the rest only on
/// server ID). <see cref="FailWith"/> makes every call fail (an unhealthy replica). The server can stop and start
/// again on the same port.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<string, int> AttemptsByRequest = new(StringComparer.Ordinal);
    private WebApplication? _app;
    private int _calls;
    private int _inFlight;
    private int _maxInFlight;

    private TestServer(string id)
    {
        Id = id;
    }

    public string Id { get; }

    public int Port { get; private set; }

    public string Address => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public int Calls => Volatile.Read(ref _calls);

    public int InFlight => Volatile.Read(ref _inFlight);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>When set, every call fails with this status (the replica is unhealthy).</summary>
    public StatusCode? FailWith { get; set; }

    /// <summary>The request headers of the last call.</summary>
    public Metadata? LastHeaders { get; private set; }

    public static async Task<TestServer> StartAsync(string id)
    {
        var server = new TestServer(id);
        await server.StartAsync(0);
        return server;
    }

    /// <summary>Starts again on the same port after <see cref="StopAsync"/>.</summary>
    public Task RestartAsync() => StartAsync(Port);

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public void ResetCounters()
    {
        Interlocked.Exchange(ref _calls, 0);
        Interlocked.Exchange(ref _maxInFlight, 0);
    }

    public override string ToString() => $"{Id} on 127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public ValueTask DisposeAsync() => new(StopAsync());

    private async Task StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(1));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync();
        Port = new Uri(app.Urls.Single()).Port;
        _app = app;
    }

    private async Task<SimpleResponse> HandleAsync(string payload, ServerCallContext context)
    {
        Interlocked.Increment(ref _calls);
        LastHeaders = context.RequestHeaders;
        var inFlight = Interlocked.Increment(ref _inFlight);
        for (var max = Volatile.Read(ref _maxInFlight); inFlight > max && Interlocked.CompareExchange(ref _maxInFlight, inFlight, max) != max; max = Volatile.Read(ref _maxInFlight))
        {
        }

        try
        {
            if (FailWith is { } failure)
            {
                throw new RpcException(new Status(failure, $"{Id} is failing"));
            }

            foreach (var behavior in Behaviors(context.RequestHeaders))
            {
                if (behavior.StartsWith("answer-peer-metadata=", StringComparison.Ordinal))
                {
                    // Answers with Istio's metadata exchange header, as a sidecar or a mesh server does.
                    await context.WriteResponseHeadersAsync(new Metadata { { "x-envoy-peer-metadata", behavior["answer-peer-metadata=".Length..] } });
                }
                else if (behavior.StartsWith("sleep-", StringComparison.Ordinal))
                {
                    await Task.Delay(int.Parse(behavior.AsSpan(6), CultureInfo.InvariantCulture), context.CancellationToken);
                }
                else if (behavior.StartsWith("error-code-", StringComparison.Ordinal))
                {
                    throw new RpcException(new Status((StatusCode)int.Parse(behavior.AsSpan(11), CultureInfo.InvariantCulture), $"{Id} was asked to fail"));
                }
                else if (behavior.StartsWith("succeed-on-attempt-", StringComparison.Ordinal))
                {
                    var key = context.RequestHeaders.GetValue("x-request-id") ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "succeed-on-attempt needs x-request-id"));
                    var attempt = AttemptsByRequest.AddOrUpdate(key, 1, static (_, n) => n + 1);
                    if (attempt < int.Parse(behavior.AsSpan(19), CultureInfo.InvariantCulture))
                    {
                        throw new RpcException(new Status(StatusCode.Unavailable, $"{Id}: attempt {attempt.ToString(CultureInfo.InvariantCulture)} fails"));
                    }
                }
            }

            return new SimpleResponse { ServerId = Id, Payload = payload };
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private IEnumerable<string> Behaviors(Metadata headers)
    {
        foreach (var entry in headers)
        {
            if (entry.Key != "rpc-behavior")
            {
                continue;
            }

            var parts = entry.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length > 0 && parts[0].StartsWith("hostname=", StringComparison.Ordinal))
            {
                if (parts[0].AsSpan(9).SequenceEqual(Id))
                {
                    foreach (var part in parts.Skip(1))
                    {
                        yield return part;
                    }
                }

                continue;
            }

            foreach (var part in parts)
            {
                yield return part;
            }
        }
    }

    private sealed class Service(TestServer server) : TestService.TestServiceBase
    {
        public override Task<SimpleResponse> UnaryCall(SimpleRequest request, ServerCallContext context) => server.HandleAsync(request.Payload, context);

        public override Task<SimpleResponse> EmptyCall(SimpleRequest request, ServerCallContext context) => server.HandleAsync(request.Payload, context);

        public override async Task StreamingOutputCall(StreamingRequest request, IServerStreamWriter<SimpleResponse> responseStream, ServerCallContext context)
        {
            for (var i = 0; i < request.Count; i++)
            {
                await responseStream.WriteAsync(await server.HandleAsync(i.ToString(CultureInfo.InvariantCulture), context));
            }
        }
    }
}
