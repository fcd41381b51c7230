using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Mesh.AspNetCore;
using Mesh.Authorization;
using Mesh.Benchmarking;
using Mesh.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.TlsLoad.Serving;

/// <summary>
/// The server process (<c>Mesh.TlsLoad --serve</c>): one Kestrel on 127.0.0.1 with two listeners serving the same
/// certificate and the same tiny handler. <b>tls</b>: Kestrel's own <c>UseHttps</c>, no client certificate asked for.
/// <b>mtls</b>: <c>UseMeshTls()</c> with <c>PeerAuthentication = Strict</c>, so a client certificate is required and
/// checked as an X509-SVID. Reads the certificates as one JSON line on standard input, prints <c>READY {ports}</c>,
/// answers <c>stats</c> with <c>STATS {counters}</c>, and stops on <c>quit</c>, at the end of standard input or after
/// <c>--max-seconds</c>.
/// </summary>
internal static class ServeCommand
{

    private static readonly byte[] Body = "ok\n"u8.ToArray();

    public static async Task<int> RunAsync(string[] args)
    {
        var maxSeconds = 900.0;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--max-seconds")
            {
                maxSeconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
        }

        var certificates = JsonSerializer.Deserialize<Certificates>(Console.In.ReadLine() ?? string.Empty)
            ?? throw new InvalidOperationException("expected the certificates as JSON on the first line of standard input");
        var identity = certificates.ServerIdentity();
        var tls = new Counters();
        var mtls = new Counters();
        ListenOptions? tlsListen = null, mtlsListen = null;

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders().AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<IWorkloadIdentityProvider>(new FixedIdentityProvider(identity));
        builder.Services.AddMeshServer(o => o.PeerAuthentication = PeerAuthenticationMode.Strict);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0, listen =>
            {
                tlsListen = listen;
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(next => context => tls.OnConnection(context, next));
                listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = identity.Certificate, ClientCertificateMode = ClientCertificateMode.NoCertificate });
                listen.Use(next => context => tls.AfterHandshake(context, next));
            });
            k.Listen(IPAddress.Loopback, 0, listen =>
            {
                mtlsListen = listen;
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(next => context => mtls.OnConnection(context, next));
                listen.UseMeshTls();
                listen.Use(next => context => mtls.AfterHandshake(context, next));
            });
        });

        await using var app = builder.Build();
        app.Run(context =>
        {
            if (context.Request.Path == PeerPath)
            {
                return DescribePeerAsync(context);
            }

            var counters = context.Connection.LocalPort == mtls.Port ? mtls : tls;
            Interlocked.Increment(ref counters.Requests);
            if (context.GetPeerIdentity() is not null)
            {
                Interlocked.Increment(ref counters.PeerValidatedRequests);
            }

            context.Response.StatusCode = 200;
            context.Response.ContentLength = Body.Length;
            return context.Response.Body.WriteAsync(Body).AsTask();
        });

        await app.StartAsync();

        // Kestrel writes the bound port back into each listener's options.
        tls.Port = tlsListen!.IPEndPoint!.Port;
        mtls.Port = mtlsListen!.IPEndPoint!.Port;
        Console.Out.WriteLine(ServeProtocol.ReadyPrefix + JsonSerializer.Serialize(new ServerPorts(tls.Port, mtls.Port)));
        Console.Out.Flush();

        // Console.In blocks (its ReadLineAsync too): a thread of its own reads it.
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
        try
        {
            await foreach (var line in lines.Reader.ReadAllAsync(lifetime.Token))
            {
                if (line == "quit")
                {
                    break;
                }

                if (line == "stats")
                {
                    Console.Out.WriteLine(ServeProtocol.ReplyPrefix + JsonSerializer.Serialize(new ServerStats(tls.Snapshot(), mtls.Snapshot())));
                    Console.Out.Flush();
                }
            }
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"the server process stops after its maximum lifetime of {maxSeconds} s");
        }

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(stop.Token);
        return 0;
    }

    /// <summary>Only the resumption check asks this path: "serial of the client certificate seen|resumed|validated SPIFFE ID".</summary>
    public const string PeerPath = "/peer";

    private const string ResumedItem = "tlsload.resumed";

    private static Task DescribePeerAsync(HttpContext context)
    {
        var resumed = context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ResumedItem, out var value) == true ? value?.ToString() : "?";
        var text = $"{context.Connection.ClientCertificate?.SerialNumber ?? "none"}|{resumed}|{context.GetPeerIdentity()?.ToString() ?? "none"}";
        return context.Response.WriteAsync(text);
    }

    private sealed class Counters
    {
        public long Connections;
        public long Requests;
        public long Resumed;
        public long FullHandshakes;
        public long ResumeUnknown;
        public long WithClientCertificate;
        public long PeerValidatedRequests;

        public int Port { get; set; }

        public Task OnConnection(ConnectionContext context, ConnectionDelegate next)
        {
            Interlocked.Increment(ref Connections);
            return next(context);
        }

        /// <summary>Runs once per connection after the handshake: was the session resumed, and did the client present a certificate?</summary>
        public Task AfterHandshake(ConnectionContext context, ConnectionDelegate next)
        {
            if (context.Features.Get<ISslStreamFeature>()?.SslStream is { } ssl)
            {
                var resumed = TlsSessionProbe.IsResumed(ssl);
                context.Items[ResumedItem] = resumed?.ToString() ?? "?";
                switch (resumed)
                {
                    case true:
                        Interlocked.Increment(ref Resumed);
                        break;
                    case false:
                        Interlocked.Increment(ref FullHandshakes);
                        break;
                    default:
                        Interlocked.Increment(ref ResumeUnknown);
                        break;
                }
            }

            if (context.Features.Get<ITlsConnectionFeature>()?.ClientCertificate is not null)
            {
                Interlocked.Increment(ref WithClientCertificate);
            }

            return next(context);
        }

        public ListenerStats Snapshot() => new(
            Volatile.Read(ref Connections),
            Volatile.Read(ref Requests),
            Volatile.Read(ref Resumed),
            Volatile.Read(ref FullHandshakes),
            Volatile.Read(ref ResumeUnknown),
            Volatile.Read(ref WithClientCertificate),
            Volatile.Read(ref PeerValidatedRequests));
    }
}
