// The Mesh gRPC demo: the seed scenario with proxyless gRPC. Three gRPC backends (two v1, one v2) start on the
// addresses the "Mesh" section of appsettings.json names; a Greeter client from AddGrpcClient(...).AddMeshGrpc() calls
// xds:///greeter.demo:50051, split 80/20 between the subsets v1 and v2, and with the x-canary metadata to v2 only.
// One v1 backend fails a share of its calls with UNAVAILABLE: the route's retry policy (unavailable, 2 attempts)
// hides those failures from the caller, within the cluster's retry budget (ConnectionPool: at most max(MinRetryConcurrency,
// 20 % of the calls in flight) retries at once, backoff included, as Envoy counts them; raised here for 16 callers).
// No proxy, no control plane: the channel's resolver, load balancer and call
// interceptor do it in-process. It prints what reached whom, and exits non-zero if a share or a call is off.
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Grpc.Core;
using Mesh.GrpcDemo;
using Microsoft.AspNetCore.Server.Kestrel.Core;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
builder.Services.AddMesh(builder.Configuration);
builder.Services.AddGrpcClient<Greeter.GreeterClient>(o => o.Address = new Uri("xds:///greeter.demo:50051")).AddMeshGrpc();
var settings = builder.Configuration.GetSection("Demo").Get<DemoSettings>() ?? new DemoSettings();

using var host = builder.Build();
await host.StartAsync();
var mesh = host.Services.GetRequiredService<Mesh.MeshState>();
if (!mesh.Current.TryGetService("greeter.demo", out var service))
{
    Console.WriteLine("FAILED: the mesh has no configuration for greeter.demo (see the log above).");
    return 1;
}

var endpoints = service.Routes.SelectMany(r => r.Destinations).SelectMany(d => d.Cluster.Endpoints).DistinctBy(e => e.Key).ToList();
var backends = new List<WebApplication>();
foreach (var endpoint in endpoints)
{
    backends.Add(await GreeterBackend.StartAsync(endpoint.Address, endpoint.Labels.GetValueOrDefault("version", "-"), endpoint.Key == settings.FlakyBackend?.TrimEnd('/') ? settings.FlakyPercent : 0));
}

Console.WriteLine($"Mesh gRPC demo: {backends.Count} gRPC backends on 127.0.0.1; the client calls xds:///greeter.demo:50051 through the mesh (snapshot v{mesh.Current.Version}); {settings.FlakyBackend} fails {settings.FlakyPercent}% of its calls with UNAVAILABLE.");
Console.WriteLine();

var client = host.Services.GetRequiredService<Greeter.GreeterClient>();
var split = await Load.RunAsync(client, settings.Calls, settings.Concurrency, canary: false);
var canary = await Load.RunAsync(client, settings.CanaryCalls, settings.Concurrency, canary: true);
var ok = Load.Print($"Route 'split': {settings.Calls} unary calls, {settings.Concurrency} concurrent, 80/20 between subsets v1 and v2, retried on UNAVAILABLE", split, new() { ["v1"] = 80, ["v2"] = 20 });
ok &= Load.Print($"Route 'canary': {settings.CanaryCalls} calls with x-canary: 1, all to subset v2", canary, new() { ["v2"] = 100 });
Console.WriteLine($"The flaky backend refused {GreeterBackend.Refused} call(s); the mesh retried them on another endpoint.");

await host.StopAsync();
foreach (var backend in backends)
{
    await backend.DisposeAsync();
}

Console.WriteLine(ok ? "Every call succeeded and every share is within 5 points of its weight." : "FAILED: see above.");
return ok ? 0 : 1;

namespace Mesh.GrpcDemo
{
    internal sealed class DemoSettings
    {
        public int Calls { get; set; } = 2000;

        public int CanaryCalls { get; set; } = 200;

        public int Concurrency { get; set; } = 16;

        public string? FlakyBackend { get; set; }

        public int FlakyPercent { get; set; }
    }

    /// <summary>A gRPC backend on one endpoint's address, answering with its address and version.</summary>
    internal static class GreeterBackend
    {
        private static int _refused;

        public static int Refused => Volatile.Read(ref _refused);

        public static async Task<WebApplication> StartAsync(Uri address, string version, int failPercent)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Parse(address.Host), address.Port, l => l.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpc();
            builder.Services.AddSingleton(new Identity(address.GetLeftPart(UriPartial.Authority), version, failPercent));
            var app = builder.Build();
            app.MapGrpcService<Service>();
            try
            {
                await app.StartAsync();
            }
            catch (IOException ex)
            {
                throw new InvalidOperationException($"Cannot start the demo backend on {address} ({ex.Message}); free the port or change the address in samples/Mesh.GrpcDemo/appsettings.json.", ex);
            }

            return app;
        }

        private sealed record Identity(string Address, string Version, int FailPercent);

        private sealed class Service(Identity identity) : Greeter.GreeterBase
        {
            public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
            {
                if (identity.FailPercent > 0 && Random.Shared.Next(100) < identity.FailPercent)
                {
                    Interlocked.Increment(ref _refused);
                    throw new RpcException(new Status(StatusCode.Unavailable, $"{identity.Address} is overloaded"));
                }

                return Task.FromResult(new HelloReply { Message = $"Hello {request.Name}", Backend = identity.Address, Version = identity.Version });
            }
        }
    }

    internal readonly record struct Outcome(string Backend, string Version, bool Failed);

    internal static class Load
    {
        public static async Task<List<Outcome>> RunAsync(Greeter.GreeterClient client, int count, int concurrency, bool canary)
        {
            var outcomes = new ConcurrentBag<Outcome>();
            var next = -1;
            var headers = canary ? new Metadata { { "x-canary", "1" } } : null;
            var workers = Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (Interlocked.Increment(ref next) < count)
                {
                    try
                    {
                        var reply = await client.SayHelloAsync(new HelloRequest { Name = "mesh" }, headers, deadline: DateTime.UtcNow.AddSeconds(10));
                        outcomes.Add(new Outcome(reply.Backend, reply.Version, false));
                    }
                    catch (RpcException ex)
                    {
                        Console.WriteLine($"call failed: {ex.Status}");
                        outcomes.Add(new Outcome("-", "-", true));
                    }
                }
            });
            await Task.WhenAll(workers);
            return [.. outcomes];
        }

        public static bool Print(string title, List<Outcome> outcomes, Dictionary<string, int> expected)
        {
            var ok = true;
            var total = outcomes.Count;
            Console.WriteLine(title);
            Console.WriteLine($"  {"version",-9}{"calls",10}{"share",9}{"weight",9}");
            foreach (var version in expected.Keys.Union(outcomes.Where(o => !o.Failed).Select(o => o.Version)).Order())
            {
                var n = outcomes.Count(o => o.Version == version);
                var share = 100.0 * n / total;
                var weight = expected.GetValueOrDefault(version);
                var within = Math.Abs(share - weight) <= 5;
                ok &= within;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {version,-9}{n,10}{share,8:F1}%{weight,8}%{(within ? "" : "   <- off by more than 5 points")}"));
            }

            foreach (var group in outcomes.Where(o => !o.Failed).GroupBy(o => o.Backend).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {group.Key,-24}{group.Count(),10}"));
            }

            var failed = outcomes.Count(o => o.Failed);
            ok &= failed == 0 && total > 0;
            Console.WriteLine($"  failed: {failed}");
            Console.WriteLine();
            return ok;
        }
    }
}
