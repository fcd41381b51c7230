using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Grpc.Tests.Security;

/// <summary>
/// A real gRPC server (Kestrel, HTTP/2 over TLS only, 127.0.0.1) with a certificate the test gives it, asking for client
/// certificates as told. Each answer carries the client's SPIFFE ID and certificate serial in its payload
/// (<c>id|serial</c>, or <c>anonymous</c>); the <c>close</c> behaviour asks the connection to close after the call.
/// </summary>
internal sealed class TlsTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _calls;

    private TlsTestServer(string id, X509Certificate2 certificate, ClientCertificateMode mode)
    {
        Id = id;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = certificate,
                ClientCertificateMode = mode,

                // The service reads the client's SPIFFE ID; checking it is the mesh server side's business, not this test server's.
                ClientCertificateValidation = static (_, _, _) => true,
            });
        }));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(1));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        _app = builder.Build();
        _app.MapGrpcService<Service>();
    }

    public string Id { get; }

    public int Port { get; private set; }

    public string Address => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public int Calls => Volatile.Read(ref _calls);

    public static async Task<TlsTestServer> StartAsync(string id, X509Certificate2 certificate, ClientCertificateMode mode)
    {
        var server = new TlsTestServer(id, certificate, mode);
        await server._app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        server.Port = new Uri(server._app.Urls.Single()).Port;
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _app.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    private SimpleResponse Handle(ServerCallContext context)
    {
        Interlocked.Increment(ref _calls);
        var http = context.GetHttpContext();
        var client = http.Connection.ClientCertificate;
        var payload = client is not null && SpiffeCertificates.TryGetSpiffeId(client, out var spiffe, out _) ? $"{spiffe.Value}|{client.SerialNumber}" : "anonymous";
        if (context.RequestHeaders.GetValue("rpc-behavior") == "close")
        {
            http.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
        }

        return new SimpleResponse { ServerId = Id, Payload = payload };
    }

    private sealed class Service(TlsTestServer server) : TestService.TestServiceBase
    {
        public override Task<SimpleResponse> UnaryCall(SimpleRequest request, ServerCallContext context) => Task.FromResult(server.Handle(context));
    }
}
