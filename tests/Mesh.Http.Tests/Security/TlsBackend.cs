using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Http.Tests.Security;

/// <summary>A request as the TLS backend saw it: the client certificate's SPIFFE ID and serial number, if it presented one.</summary>
internal sealed record TlsSeenRequest(string Host, string Path, string? ClientSpiffeId, string? ClientSerial);

/// <summary>
/// A real Kestrel server on 127.0.0.1 (port chosen by the OS) that speaks only TLS, with a certificate the test gives
/// it, and asks for client certificates as told. It counts the TCP connections it accepted, so a test can prove a
/// client never connected at all.
/// </summary>
internal sealed class TlsBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<TlsSeenRequest> _seen = new();
    private int _connections;

    private TlsBackend(X509Certificate2 certificate, ClientCertificateMode mode, HttpProtocols protocols)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = protocols;
            listen.Use(next => context =>
            {
                Interlocked.Increment(ref _connections);
                return next(context);
            });
            listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = certificate,
                ClientCertificateMode = mode,

                // The test's handler reads the client's SPIFFE ID; the chain is the mesh server side's business, not this backend's.
                ClientCertificateValidation = static (_, _, _) => true,
            });
        }));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(5));
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public int Port { get; private set; }

    /// <summary>The endpoint address for mesh configuration. The mesh picks the scheme by the cluster's TLS mode.</summary>
    public string Address => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public IReadOnlyList<TlsSeenRequest> Requests => [.. _seen];

    public int ConnectionCount => Volatile.Read(ref _connections);

    public static async Task<TlsBackend> StartAsync(X509Certificate2 certificate, ClientCertificateMode mode, HttpProtocols protocols = HttpProtocols.Http1AndHttp2)
    {
        var backend = new TlsBackend(certificate, mode, protocols);
        await backend._app.StartAsync().WaitAsync(Timeouts.Default);
        var addresses = backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
        backend.Port = new Uri(addresses.Single()).Port;
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token).WaitAsync(Timeouts.Default);
        await _app.DisposeAsync().AsTask().WaitAsync(Timeouts.Default);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var client = context.Connection.ClientCertificate;
        string? id = client is not null && SpiffeCertificates.TryGetSpiffeId(client, out var spiffe, out _) ? spiffe.Value : null;
        _seen.Enqueue(new TlsSeenRequest(context.Request.Host.Value ?? string.Empty, context.Request.Path.Value ?? "/", id, client?.SerialNumber));
        await context.Response.WriteAsync(id ?? "anonymous", context.RequestAborted);
    }
}
