using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Threading.Channels;
using Envoy.Service.Discovery.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>
/// A scripted ADS server: real Kestrel (h2c) on 127.0.0.1 with real gRPC. Each ADS stream the client opens shows
/// up as a <see cref="FakeAdsStream"/> (<see cref="NextStreamAsync"/>) whose requests the test awaits and whose
/// responses the test sends. It can refuse streams, drop them, stop, and start again on the same port.
/// </summary>
internal sealed class FakeAdsServer : IAsyncDisposable
{
    private readonly Channel<FakeAdsStream> _streams = Channel.CreateUnbounded<FakeAdsStream>();
    private readonly ConcurrentDictionary<FakeAdsStream, byte> _active = new();
    private WebApplication? _app;
    private int _streamCount;

    private FakeAdsServer()
    {
    }

    public int Port { get; private set; }

    /// <summary>The <c>server_uri</c> for a bootstrap, e.g. <c>127.0.0.1:41234</c>.</summary>
    public string ServerUri => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Streams opened so far, refused ones included.</summary>
    public int StreamCount => Volatile.Read(ref _streamCount);

    /// <summary>When set, every new stream fails at once with this status, without a response.</summary>
    public StatusCode? RefuseStreamsWith { get; set; }

    public bool IsRunning => _app is not null;

    public static async Task<FakeAdsServer> StartAsync()
    {
        var server = new FakeAdsServer();
        await server.StartOnPortAsync(0);
        return server;
    }

    /// <summary>A bootstrap JSON pointing at this server, with the given server features.</summary>
    public string BootstrapJson(params string[] serverFeatures)
    {
        var features = string.Join(", ", serverFeatures.Select(f => $"\"{f}\""));
        return $$"""
            {
              "xds_servers": [ { "server_uri": "{{ServerUri}}", "channel_creds": [ { "type": "insecure" } ], "server_features": [ {{features}} ] } ],
              "node": { "id": "test-node", "cluster": "test-cluster", "locality": { "zone": "zone-a" } }
            }
            """;
    }

    /// <summary>The next stream the client opens (in order), waiting up to the default timeout.</summary>
    public async Task<FakeAdsStream> NextStreamAsync()
    {
        using var cts = new CancellationTokenSource(ClientTestTimeouts.Default);
        try
        {
            return await _streams.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"No new ADS stream within {ClientTestTimeouts.Default.TotalSeconds} s (streams so far: {StreamCount}).");
            throw;
        }
    }

    /// <summary>The next stream the client opens that is still open (skipping ones cut by a stop or refused).</summary>
    public async Task<FakeAdsStream> NextOpenStreamAsync()
    {
        while (true)
        {
            var stream = await NextStreamAsync();
            if (!stream.Ended.IsCompleted)
            {
                return stream;
            }
        }
    }

    /// <summary>Whether a stream arrives within <paramref name="wait"/> (for "nothing happens" checks; keep it short).</summary>
    public async Task<bool> StreamArrivesWithinAsync(TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        try
        {
            await _streams.Reader.WaitToReadAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Aborts every open stream and stops listening; <see cref="RestartAsync"/> listens again on the same port.</summary>
    public async Task StopAsync()
    {
        if (_app is null)
        {
            return;
        }

        foreach (var stream in _active.Keys)
        {
            stream.Abort();
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token).WaitAsync(ClientTestTimeouts.Default);
        await _app.DisposeAsync();
        _app = null;
    }

    /// <summary>Listens again on the port of the first start.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        // The port was just released; retry briefly in case the OS holds it for a moment.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await StartOnPortAsync(Port);
                return;
            }
            catch (IOException) when (attempt < 50)
            {
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    internal async Task HandleAsync(IAsyncStreamReader<DiscoveryRequest> requests, IServerStreamWriter<DiscoveryResponse> responses, ServerCallContext context)
    {
        Interlocked.Increment(ref _streamCount);
        if (RefuseStreamsWith is { } refusal)
        {
            var refused = new FakeAdsStream(context);
            refused.MarkEnded();
            _streams.Writer.TryWrite(refused);
            throw new RpcException(new Status(refusal, "refused by the test"));
        }

        var stream = new FakeAdsStream(context);
        _active.TryAdd(stream, 0);
        _streams.Writer.TryWrite(stream);
        // Not awaited: the client keeps its request stream open, and the reads end with the call.
        _ = stream.ReadRequestsAsync(requests);
        try
        {
            await stream.RunCommandsAsync(responses);
        }
        finally
        {
            _active.TryRemove(stream, out _);
            stream.MarkEnded();
        }
    }

    private async Task StartOnPortAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        var app = builder.Build();
        app.MapGrpcService<FakeAdsService>();
        await app.StartAsync().WaitAsync(ClientTestTimeouts.Default);
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Port = new Uri(address).Port;
    }

    /// <summary>The gRPC service; one instance per call, forwarding to the server object.</summary>
    private sealed class FakeAdsService(FakeAdsServer server) : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
    {
        public override Task StreamAggregatedResources(IAsyncStreamReader<DiscoveryRequest> requestStream, IServerStreamWriter<DiscoveryResponse> responseStream, ServerCallContext context) =>
            server.HandleAsync(requestStream, responseStream, context);
    }
}

/// <summary>One ADS stream on the <see cref="FakeAdsServer"/>: the requests it received and a script of what to send.</summary>
internal sealed class FakeAdsStream
{
    private readonly ServerCallContext _context;
    private readonly Channel<DiscoveryRequest> _requests = Channel.CreateUnbounded<DiscoveryRequest>();
    private readonly ConcurrentDictionary<string, Channel<DiscoveryRequest>> _requestsByType = new(StringComparer.Ordinal);
    private readonly Channel<object> _commands = Channel.CreateUnbounded<object>();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _nonce;

    public FakeAdsStream(ServerCallContext context) => _context = context;

    /// <summary>Completes when the call is over on the server.</summary>
    public Task Ended => _ended.Task;

    /// <summary>
    /// The next request the client sent on this stream, of any type. Requests are also queued per type
    /// (<see cref="NextRequestAsync(string)"/>); use one style per stream.
    /// </summary>
    public Task<DiscoveryRequest> NextRequestAsync() => ReadAsync(_requests);

    /// <summary>The next request of one type URL the client sent on this stream.</summary>
    public Task<DiscoveryRequest> NextRequestAsync(string typeUrl) => ReadAsync(ForType(typeUrl));

    /// <summary>A request of <paramref name="typeUrl"/> arriving within <paramref name="wait"/>, or null (for "nothing is sent" checks; keep it short).</summary>
    public async Task<DiscoveryRequest?> RequestWithinAsync(string typeUrl, TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        try
        {
            return await ForType(typeUrl).Reader.ReadAsync(cts.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            return null;
        }
    }

    private static async Task<DiscoveryRequest> ReadAsync(Channel<DiscoveryRequest> channel)
    {
        using var cts = new CancellationTokenSource(ClientTestTimeouts.Default);
        try
        {
            return await channel.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"No DiscoveryRequest within {ClientTestTimeouts.Default.TotalSeconds} s.");
            throw;
        }
        catch (ChannelClosedException)
        {
            Assert.Fail("The stream ended before the expected DiscoveryRequest.");
            throw;
        }
    }

    /// <summary>Sends a response with a fresh nonce (<c>n1</c>, <c>n2</c>, ...) and returns it.</summary>
    public DiscoveryResponse Send(string typeUrl, string version, params IMessage[] resources)
    {
        var response = new DiscoveryResponse
        {
            TypeUrl = typeUrl,
            VersionInfo = version,
            Nonce = "n" + Interlocked.Increment(ref _nonce).ToString(CultureInfo.InvariantCulture),
        };
        response.Resources.Add(resources.Select(Any.Pack));
        Send(response);
        return response;
    }

    public void Send(DiscoveryResponse response) => _commands.Writer.TryWrite(response);

    /// <summary>Ends the call with a status (OK: a clean close by the server).</summary>
    public void Close(StatusCode code = StatusCode.OK, string detail = "") => _commands.Writer.TryWrite(new Status(code, detail));

    /// <summary>Resets the HTTP/2 stream, as a crashing server or a broken connection would.</summary>
    public void Abort()
    {
        try
        {
            _context.GetHttpContext().Abort();
        }
        catch (ObjectDisposedException)
        {
            // Already over.
        }

        _commands.Writer.TryComplete();
    }

    internal void MarkEnded()
    {
        CompleteRequests();
        _commands.Writer.TryComplete();
        _ended.TrySetResult();
    }

    internal async Task ReadRequestsAsync(IAsyncStreamReader<DiscoveryRequest> requests)
    {
        try
        {
            await foreach (var request in requests.ReadAllAsync(_context.CancellationToken))
            {
                _requests.Writer.TryWrite(request);
                ForType(request.TypeUrl).Writer.TryWrite(request);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException or RpcException)
        {
            // The call ended.
        }
        finally
        {
            CompleteRequests();
        }
    }

    private Channel<DiscoveryRequest> ForType(string typeUrl) =>
        _requestsByType.GetOrAdd(typeUrl, static _ => Channel.CreateUnbounded<DiscoveryRequest>());

    private void CompleteRequests()
    {
        _requests.Writer.TryComplete();
        foreach (var channel in _requestsByType.Values)
        {
            channel.Writer.TryComplete();
        }
    }

    internal async Task RunCommandsAsync(IServerStreamWriter<DiscoveryResponse> responses)
    {
        try
        {
            await foreach (var command in _commands.Reader.ReadAllAsync(_context.CancellationToken))
            {
                switch (command)
                {
                    case DiscoveryResponse response:
                        await responses.WriteAsync(response);
                        break;
                    case Status { StatusCode: StatusCode.OK }:
                        return;
                    case Status status:
                        throw new RpcException(status);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away or the stream was aborted.
        }
    }
}
