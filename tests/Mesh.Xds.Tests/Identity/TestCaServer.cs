using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Istio.V1.Auth;
using Mesh.Testing;
using Mesh.Xds.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Tests.Identity;

/// <summary>
/// A certificate authority speaking Istio's <c>IstioCertificateService</c> on 127.0.0.1 (real Kestrel, h2c, real
/// gRPC): it accepts one bearer token, signs with the test root and records what each request carried.
/// </summary>
internal sealed class TestCaServer : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly WebApplication _app;

    private TestCaServer(WebApplication app, TestPki pki, int port, bool tls)
    {
        _app = app;
        Pki = pki;
        Port = port;
        Address = tls
            ? $"https://localhost:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    public TestPki Pki { get; }

    public int Port { get; }

    /// <summary><c>http://127.0.0.1:port</c>, or <c>https://localhost:port</c> with TLS.</summary>
    public string Address { get; }

    /// <summary>The token the CA accepts (as <c>authorization: Bearer &lt;token&gt;</c>).</summary>
    public string AcceptedToken { get; set; } = "token-1";

    /// <summary>What each request carried, in order.</summary>
    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>Starts the CA; with <paramref name="serverCertificate"/> it serves TLS with that certificate.</summary>
    public static async Task<TestCaServer> StartAsync(TestPki pki, X509Certificate2? serverCertificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (serverCertificate is not null)
            {
                listen.UseHttps(serverCertificate);
            }
        }));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        builder.Services.AddGrpc();
        var holder = new Holder();
        builder.Services.AddSingleton(holder);
        var app = builder.Build();
        app.MapGrpcService<CaService>();
        await app.StartAsync().WaitAsync(Timeout);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        var server = new TestCaServer(app, pki, new Uri(address).Port, serverCertificate is not null);
        holder.Server = server;
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(Timeout);
        await _app.DisposeAsync();
    }

    private IstioCertificateResponse Handle(IstioCertificateRequest request, ServerCallContext context)
    {
        var authorization = context.RequestHeaders.GetValue("authorization");
        var ns = context.RequestHeaders.GetValue(CaCertificateSigner.NamespaceHeader);
        var sa = context.RequestHeaders.GetValue(CaCertificateSigner.ServiceAccountHeader);
        Requests.Enqueue(new ReceivedRequest(authorization, ns, sa, request.ValidityDuration, request.Csr));
        if (authorization != "Bearer " + AcceptedToken)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "the token is not valid"));
        }

        var id = Pki.IdOf(ns ?? "shop", sa ?? "frontend");
        var csr = CertificateRequest.LoadSigningRequestPem(request.Csr, HashAlgorithmName.SHA256);
        csr.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        csr.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(id));
        csr.CertificateExtensions.Add(names.Build(critical: true));
        csr.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Pki.Root, true, false));
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-1);
        var lifetime = request.ValidityDuration > 0 ? TimeSpan.FromSeconds(request.ValidityDuration) : TimeSpan.FromHours(24);
        using var leaf = csr.Create(Pki.Root, notBefore, notBefore + lifetime, RandomNumberGenerator.GetBytes(8));
        return new IstioCertificateResponse { CertChain = { leaf.ExportCertificatePem(), Pki.RootPem } };
    }

    internal sealed record ReceivedRequest(string? Authorization, string? Namespace, string? ServiceAccount, long ValidityDuration, string Csr);

    private sealed class Holder
    {
        public TestCaServer? Server { get; set; }
    }

    private sealed class CaService(Holder holder) : IstioCertificateService.IstioCertificateServiceBase
    {
        public override Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context)
            => Task.FromResult(holder.Server!.Handle(request, context));
    }
}
