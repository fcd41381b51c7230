using System.Net;
using BenchmarkDotNet.Attributes;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Benchmarks.Grpc;

/// <summary>
/// One unary call over real HTTP/2 to a Kestrel server on 127.0.0.1, through a plain <see cref="GrpcChannel"/> to the
/// server's address (the baseline), the same through grpc-dotnet's <c>dns:///</c> resolver (what any resolver costs: the
/// request's URI is rewritten to the picked address on every call), the same from <c>AddGrpcClient</c> (the client factory's
/// own cost) with a static address and with <c>dns:///</c> (the mesh channel without the mesh: factory and resolver), and through the mesh: an <c>xds:///</c> channel from <c>AddGrpcClient(...).AddMeshGrpc()</c>
/// on the static configuration, with a route and no policy (routing and picking only), and with a route timeout and
/// retries (the resilience pipeline on every call). Each operation is 64 calls, 8 at a time (one at a time, loopback
/// latency on a shared 2-core machine swamps the differences); Mean is per call, so calls per second are 1 / Mean.
/// Allocations are per call, client and server together (the server is in the process), so the difference to the
/// baseline is the client's.
/// </summary>
[MemoryDiagnoser]
public class MeshGrpcChannelBenchmarks
{
    private const int Calls = 64;
    private const int Concurrency = 8;
    private static readonly EchoMessage Message = new() { Text = "ping" };
    private WebApplication? _server;
    private GrpcChannel? _channel;
    private ServiceProvider? _services;
    private Echo.EchoClient _client = null!;

    [GlobalSetup(Target = nameof(PlainChannel))]
    public async Task SetupPlain()
    {
        var port = await StartServerAsync();
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        _client = new Echo.EchoClient(_channel);
        await _client.SayAsync(Message);
    }

    [GlobalSetup(Target = nameof(PlainChannel_DnsResolver))]
    public async Task SetupPlainDns()
    {
        var port = await StartServerAsync();
        _channel = GrpcChannel.ForAddress($"dns:///127.0.0.1:{port}", new GrpcChannelOptions { Credentials = ChannelCredentials.Insecure });
        _client = new Echo.EchoClient(_channel);
        await _client.SayAsync(Message);
    }

    [GlobalSetup(Target = nameof(PlainClientFactory))]
    public async Task SetupPlainFactory()
    {
        var port = await StartServerAsync();
        var services = new ServiceCollection();
        services.AddGrpcClient<Echo.EchoClient>(o => o.Address = new Uri($"http://127.0.0.1:{port}"));
        _services = services.BuildServiceProvider();
        _client = _services.GetRequiredService<Echo.EchoClient>();
        await _client.SayAsync(Message);
    }

    [GlobalSetup(Target = nameof(PlainClientFactory_DnsResolver))]
    public async Task SetupPlainFactoryDns()
    {
        var port = await StartServerAsync();
        var services = new ServiceCollection();
        services.AddGrpcClient<Echo.EchoClient>(o => o.Address = new Uri($"dns:///127.0.0.1:{port}"))
            .ConfigureChannel(o => o.Credentials = ChannelCredentials.Insecure);
        _services = services.BuildServiceProvider();
        _client = _services.GetRequiredService<Echo.EchoClient>();
        await _client.SayAsync(Message);
    }

    [GlobalSetup(Target = nameof(MeshChannel_Routing))]
    public Task SetupMeshRouting() => SetupMeshAsync(pipeline: false);

    [GlobalSetup(Target = nameof(MeshChannel_FullPipeline))]
    public Task SetupMeshPipeline() => SetupMeshAsync(pipeline: true);

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _channel?.Dispose();
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls)]
    public Task PlainChannel() => RunAsync();

    [Benchmark(OperationsPerInvoke = Calls)]
    public Task PlainChannel_DnsResolver() => RunAsync();

    [Benchmark(OperationsPerInvoke = Calls)]
    public Task PlainClientFactory() => RunAsync();

    [Benchmark(OperationsPerInvoke = Calls)]
    public Task PlainClientFactory_DnsResolver() => RunAsync();

    [Benchmark(OperationsPerInvoke = Calls)]
    public Task MeshChannel_Routing() => RunAsync();

    [Benchmark(OperationsPerInvoke = Calls)]
    public Task MeshChannel_FullPipeline() => RunAsync();

    /// <summary><see cref="Calls"/> calls, <see cref="Concurrency"/> at a time, as a busy client sends them; results are per call.</summary>
    private Task RunAsync()
    {
        var workers = new Task[Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = WorkerAsync(_client);
        }

        return Task.WhenAll(workers);

        static async Task WorkerAsync(Echo.EchoClient client)
        {
            for (var i = 0; i < Calls / Concurrency; i++)
            {
                await client.SayAsync(Message);
            }
        }
    }

    private async Task SetupMeshAsync(bool pipeline)
    {
        var port = await StartServerAsync();
        var services = new ServiceCollection();
        services.AddMesh(o =>
        {
            o.Clusters["echo"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = $"http://127.0.0.1:{port}" } } };
            var route = new RouteOptions { Match = { new RouteMatchOptions { PathPrefix = "/mesh.bench.Echo/" } }, Destinations = { new DestinationOptions { Cluster = "echo" } } };
            if (pipeline)
            {
                route.Timeout = TimeSpan.FromSeconds(10);
                route.Retries = new RetryOptions { Attempts = 2, RetryOn = "unavailable" };
            }

            o.Services["echo.bench"] = new ServiceOptions { Routes = { route } };
        }).AddGrpc();
        services.AddGrpcClient<Echo.EchoClient>(o => o.Address = new Uri("xds:///echo.bench:50051")).AddMeshGrpc();
        _services = services.BuildServiceProvider();
        _client = _services.GetRequiredService<Echo.EchoClient>();
        await _client.SayAsync(Message);
    }

    private async Task<int> StartServerAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        _server = builder.Build();
        _server.MapGrpcService<EchoService>();
        await _server.StartAsync();
        return new Uri(_server.Urls.Single()).Port;
    }

    private sealed class EchoService : Echo.EchoBase
    {
        public override Task<EchoMessage> Say(EchoMessage request, ServerCallContext context) => Task.FromResult(request);
    }
}
