using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Mesh.Benchmarking;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.LoadTest.Serving;

/// <summary>
/// The server process (<c>Mesh.LoadTest --serve</c>): three trivial Kestrel backends, each with an HTTP/1.1 and an
/// h2c port, and YARP as a separate <see cref="WebApplication"/> balancing round robin over the backends' HTTP/1.1
/// ports (as nginx does). It prints <c>READY {ports}</c>, answers <c>stats</c> on standard input with
/// <c>STATS {requests per backend}</c>, and stops on <c>quit</c>, at the end of standard input (the load test is
/// gone) or after <c>--max-seconds</c>, whichever comes first.
/// </summary>
internal static class ServeCommand
{

    /// <summary>The backends' answer: small and constant, so that the backends cost as little as possible.</summary>
    private static readonly byte[] Body = "hello from mesh\n"u8.ToArray();

    public static async Task<int> RunAsync(string[] args)
    {
        var maxSeconds = 3600.0;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--max-seconds")
            {
                maxSeconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
        }

        var counters = new long[3];
        var backends = new List<(WebApplication App, ListenOptions Http11, ListenOptions Http2)>();
        WebApplication? yarp = null;
        try
        {
            for (var i = 0; i < counters.Length; i++)
            {
                backends.Add(await StartBackendAsync(i, counters));
            }

            var ports = new ServerPorts(
                backends.Select(b => b.Http11.IPEndPoint!.Port).ToArray(),
                backends.Select(b => b.Http2.IPEndPoint!.Port).ToArray(),
                0,
                0);
            var (app, yarpHttp11, yarpHttp2) = await StartYarpAsync(ports.BackendsHttp11);
            yarp = app;
            ports = ports with { YarpHttp11 = yarpHttp11.IPEndPoint!.Port, YarpHttp2 = yarpHttp2.IPEndPoint!.Port };
            Console.Out.WriteLine(ServeProtocol.ReadyPrefix + JsonSerializer.Serialize(ports));
            Console.Out.Flush();

            // Console.In blocks (its ReadLineAsync too, and ignores the token): a thread of its own reads it.
            var lines = Channel.CreateUnbounded<string>();
            var reader = new Thread(() =>
            {
                while (Console.In.ReadLine() is { } l)
                {
                    lines.Writer.TryWrite(l);
                }

                lines.Writer.TryComplete();
            })
            {
                IsBackground = true,
                Name = "stdin",
            };
            reader.Start();

            using var lifetime = new CancellationTokenSource(TimeSpan.FromSeconds(maxSeconds));
            while (true)
            {
                string? line;
                try
                {
                    line = await lines.Reader.WaitToReadAsync(lifetime.Token) && lines.Reader.TryRead(out var l) ? l : null;
                }
                catch (OperationCanceledException)
                {
                    await Console.Error.WriteLineAsync($"server: stopping after --max-seconds {maxSeconds}");
                    break;
                }

                if (line is null or "quit")
                {
                    break;
                }

                if (line == "stats")
                {
                    var stats = new ServerStats([.. counters.Select(c => Interlocked.Read(ref c))]);
                    Console.Out.WriteLine(ServeProtocol.ReplyPrefix + JsonSerializer.Serialize(stats));
                    Console.Out.Flush();
                }
            }

            return 0;
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            if (yarp is not null)
            {
                await StopQuietlyAsync(yarp, stop.Token);
            }

            foreach (var backend in backends)
            {
                await StopQuietlyAsync(backend.App, stop.Token);
            }
        }
    }

    private static async Task<(WebApplication, ListenOptions, ListenOptions)> StartBackendAsync(int index, long[] counters)
    {
        ListenOptions? http11 = null;
        ListenOptions? http2 = null;
        var builder = CreateBuilder();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0, o => (http11 = o).Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, 0, o => (http2 = o).Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();

        // No routing, no middleware: the cheapest answer Kestrel can give, so the client side dominates.
        app.Run(context =>
        {
            Interlocked.Increment(ref counters[index]);
            var response = context.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/plain";
            response.ContentLength = Body.Length;
            return response.Body.WriteAsync(Body).AsTask();
        });
        await app.StartAsync();
        return (app, http11!, http2!);
    }

    private static async Task<(WebApplication, ListenOptions, ListenOptions)> StartYarpAsync(int[] backendPorts)
    {
        ListenOptions? http11 = null;
        ListenOptions? http2 = null;
        var builder = CreateBuilder();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0, o => (http11 = o).Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, 0, o => (http2 = o).Protocols = HttpProtocols.Http2);
        });

        var destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < backendPorts.Length; i++)
        {
            destinations[$"backend{i}"] = new DestinationConfig { Address = $"http://127.0.0.1:{backendPorts[i]}/" };
        }

        var route = new RouteConfig
        {
            RouteId = "all",
            ClusterId = "backends",
            Match = new RouteMatch { Path = "{**catch-all}" },

            // nginx's configuration adds no X-Forwarded-* headers, so YARP does not either: both hops do the same work.
            Transforms = [new Dictionary<string, string> { ["X-Forwarded"] = "Off" }],
        };
        var cluster = new ClusterConfig
        {
            ClusterId = "backends",
            LoadBalancingPolicy = "RoundRobin",
            Destinations = destinations,

            // HTTP/1.1 with keep-alive to the backends, as nginx (which cannot speak HTTP/2 upstream).
            HttpRequest = new ForwarderRequestConfig { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact, ActivityTimeout = TimeSpan.FromSeconds(30) },
        };
        builder.Services.AddReverseProxy().LoadFromMemory([route], [cluster]);
        var app = builder.Build();
        app.MapReverseProxy();
        await app.StartAsync();
        return (app, http11!, http2!);
    }

    private static WebApplicationBuilder CreateBuilder()
    {
        var builder = WebApplication.CreateSlimBuilder();

        // Per-request logging would be the main cost of a trivial server: warnings and errors only, on standard error.
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddSimpleConsole();
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        return builder;
    }

    private static async Task StopQuietlyAsync(WebApplication app, CancellationToken cancellationToken)
    {
        try
        {
            await app.StopAsync(cancellationToken);
            await app.DisposeAsync();
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            Debug.WriteLine(ex);
        }
    }
}
