using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Grpc.Core;
using Mesh.Authorization;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Grpc.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Xds.Tests.Interop;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Tests.Security.Interop;

/// <summary>
/// A .NET workload on real Kestrel (127.0.0.1, port chosen by the OS) serving the mesh's TLS (<c>UseMeshTls()</c>) with
/// the PeerAuthentication mode it is given, its identity issued by the control plane's CA (<c>AddWorkloadIdentity</c>
/// with a bootstrap token). It serves <c>mesh.test.TestService</c>, <c>helloworld.Greeter</c> and <c>GET /whoami</c>,
/// each answering with what the server saw of its peer, and records every call.
/// </summary>
internal sealed class MeshTlsBackend : IAsyncDisposable
{
    /// <summary>What the server puts in place of a peer identity when the client presented none.</summary>
    public const string Anonymous = "anonymous";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _peers = new();
    private readonly ConcurrentDictionary<string, int> _clientSerials = new();
    private int _calls;

    private MeshTlsBackend(SecureMesh mesh, PeerAuthenticationMode mode, HttpProtocols protocols, TimeSpan certificateTtl)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning).AddFilter("System", LogLevel.Warning).AddProvider(mesh.LogProvider);
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = protocols;
            listen.UseMeshTls();
        }));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        builder.Services.AddMesh().AddWorkloadIdentity(o =>
        {
            o.CaAddress = mesh.CaAddress;
            o.Token = SecureMesh.BackendToken;
            o.RootCertificateFile = mesh.RootFile;
            o.CertificateTtl = certificateTtl;
            o.RequestTimeout = TestWait.Timeout;
        }).AddIstioMetrics(o =>
        {
            o.SourceWorkload = "backend";
            o.SourceWorkloadNamespace = SecureMesh.Namespace;
        });
        builder.Services.AddMeshServer(o => o.PeerAuthentication = mode);
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        _app = builder.Build();
        _app.UseMeshIstioMetrics();
        _app.MapGrpcService<TestServiceImpl>();
        _app.MapGrpcService<GreeterImpl>();
        _app.MapGet("/whoami", (HttpContext context) => Results.Text(Record(context)));
    }

    public int Port { get; private set; }

    /// <summary>How many calls reached a handler.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>The peer each call saw (a SPIFFE ID or <see cref="Anonymous"/>), with <c>|tls</c> or <c>|plaintext</c>.</summary>
    public IReadOnlyList<string> Peers => [.. _peers];

    /// <summary>The serial numbers of the client certificates of the calls, with how many calls each served.</summary>
    public IReadOnlyDictionary<string, int> ClientSerials => _clientSerials;

    /// <summary>The server's services (its meters: it reports Istio's metrics as destination).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The workload identity the server presents.</summary>
    public IWorkloadIdentityProvider Identity => _app.Services.GetRequiredService<IWorkloadIdentityProvider>();

    /// <summary>Starts the server and waits until its certificate has been issued.</summary>
    public static async Task<MeshTlsBackend> StartAsync(SecureMesh mesh, PeerAuthenticationMode mode, HttpProtocols protocols = HttpProtocols.Http2, TimeSpan? certificateTtl = null)
    {
        var backend = new MeshTlsBackend(mesh, mode, protocols, certificateTtl ?? TimeSpan.FromHours(1));
        try
        {
            await backend._app.StartAsync().WaitAsync(TestWait.Timeout);
            var address = backend._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
            backend.Port = new Uri(address).Port;
            using var timeout = new CancellationTokenSource(TestWait.Timeout);
            await backend.Identity.WaitForIdentityAsync(timeout.Token).WaitAsync(TestWait.Timeout);
        }
        catch
        {
            await backend.DisposeAsync();
            throw;
        }

        return backend;
    }

    public override string ToString() => $"backend on 127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TestWait.Timeout);
        await _app.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
    }

    /// <summary>Records one call and returns what the server saw: <c>peer|tls</c> or <c>peer|plaintext</c>.</summary>
    private string Record(HttpContext context)
    {
        Interlocked.Increment(ref _calls);
        var seen = $"{context.GetPeerIdentity()?.Value ?? Anonymous}|{(context.Request.IsHttps ? "tls" : "plaintext")}";
        _peers.Enqueue(seen);
        if (context.Connection.ClientCertificate is { } certificate)
        {
            _clientSerials.AddOrUpdate(certificate.SerialNumber, 1, static (_, n) => n + 1);
        }

        return seen;
    }

    private sealed class TestServiceImpl(MeshTlsBackend backend) : TestService.TestServiceBase
    {
        public override Task<SimpleResponse> UnaryCall(SimpleRequest request, ServerCallContext context) =>
            Task.FromResult(new SimpleResponse { ServerId = "backend", Payload = backend.Record(context.GetHttpContext()) });
    }

    private sealed class GreeterImpl(MeshTlsBackend backend) : Greeter.GreeterBase
    {
        public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
        {
            var seen = backend.Record(context.GetHttpContext());
            return Task.FromResult(new HelloReply { Message = $"Hello {request.Name}: {seen}", Backend = seen });
        }
    }
}
