using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Mesh.Configuration;
using Mesh.Identity;
using Mesh.TlsLoad.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.TlsLoad.Clients;

/// <summary>
/// Builds every variant the same way: a container of its own, <c>AddHttpClient</c> with a <see cref="SocketsHttpHandler"/>
/// of the same settings as primary handler and an infinite handler lifetime. The plain variants set the handler's TLS
/// callbacks themselves; the mesh variants add <c>services.AddMesh(...)</c> with a TLS cluster and <c>.AddMesh()</c>.
/// </summary>
internal static class VariantFactory
{
    public const string Path = "/hello";
    public const string Service = "backend";

    /// <summary>
    /// The host name the plain variants address. .NET's client keeps TLS sessions for resumption only under a host name
    /// (it is the SNI the session is filed under), never for an IP address; the connection still goes to 127.0.0.1.
    /// </summary>
    public const string ServerName = "tlsload.test";

    /// <summary>
    /// tls: the server's chain is checked against the root, no client certificate. mtls: the client certificate is
    /// presented from <c>LocalCertificateSelectionCallback</c> and the server is checked as an X509-SVID with the
    /// expected SPIFFE ID.
    /// </summary>
    public static Variant CreatePlain(string name, bool mutual, Version version, ServerPorts ports, Certificates certificates, bool connectionClose = false, bool allowResume = true)
    {
        var server = certificates.ServerIdentity();
        var root = server.TrustBundle.GetRoots(Certificates.TrustDomain)![0];
        var client = mutual ? certificates.ClientIdentity() : null;
        var counters = new CallbackCounters();
        var services = new ServiceCollection();
        AddClient(services, name, version, handler =>
        {
            handler.ConnectCallback = ConnectLoopbackAsync;
            handler.SslOptions.AllowTlsResume = allowResume;
            handler.SslOptions.RemoteCertificateValidationCallback = mutual
                ? (_, certificate, chain, _) =>
                {
                    Interlocked.Increment(ref counters.ServerValidations);
                    return certificate is X509Certificate2 leaf
                        && SpiffeValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, server.TrustBundle, DateTimeOffset.UtcNow) is { IsValid: true } result
                        && result.SpiffeId!.ToString() == Certificates.ServerId;
                }
                : (_, certificate, _, _) =>
                {
                    Interlocked.Increment(ref counters.ServerValidations);
                    return certificate is X509Certificate2 leaf && ChainsTo(leaf, root);
                };
            if (client is not null)
            {
                handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) =>
                {
                    Interlocked.Increment(ref counters.ClientCertificateSelections);
                    return client.Certificate;
                };
            }
        });
        var provider = services.BuildServiceProvider();
        var http = CreateClient(provider, name);
        http.DefaultRequestHeaders.ConnectionClose = connectionClose;
        return new Variant(name, mutual ? "mtls" : "tls", http, new Uri($"https://{ServerName}:{(mutual ? ports.Mtls : ports.Tls)}{Path}"), counters, provider);
    }

    /// <summary>Through the mesh: service <c>backend</c> with one endpoint and a Mutual (mtls listener) or Simple (tls listener) cluster.</summary>
    public static Variant CreateMesh(string name, bool mutual, Version version, ServerPorts ports, Certificates certificates)
    {
        var tls = new TlsOptions { Mode = mutual ? TlsMode.Mutual : TlsMode.Simple };
        tls.SubjectAltNames.Add(new StringMatchOptions { Exact = Certificates.ServerId });
        var service = new ServiceOptions { Tls = tls };
        service.Endpoints.Add(new EndpointOptions { Address = $"http://127.0.0.1:{(mutual ? ports.Mtls : ports.Tls)}" });
        var services = new ServiceCollection();
        services.AddSingleton<IWorkloadIdentityProvider>(new FixedIdentityProvider(certificates.ClientIdentity()));
        services.AddMesh(o => o.Services[Service] = service);
        AddClient(services, name, version, static _ => { }).AddMesh();
        var provider = services.BuildServiceProvider();
        return new Variant(name, mutual ? "mtls" : "tls", CreateClient(provider, name), new Uri($"http://{Service}{Path}"), null, provider);
    }

    /// <summary>Connects to 127.0.0.1 at the request's port, whatever its host name (<see cref="ServerName"/>).</summary>
    internal static async ValueTask<Stream> ConnectLoopbackAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 root)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    private static IHttpClientBuilder AddClient(IServiceCollection services, string name, Version version, Action<SocketsHttpHandler> configure) =>
        services.AddHttpClient(name, c =>
            {
                c.DefaultRequestVersion = version;
                c.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
                c.Timeout = TimeSpan.FromSeconds(30);
            })
            .ConfigurePrimaryHttpMessageHandler(() =>
            {
                var handler = new SocketsHttpHandler
                {
                    // Enough connections that the pool never limits the closed loop (HTTP/1.1 needs one per request in flight).
                    MaxConnectionsPerServer = 256,
                    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
                    PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
                    ConnectTimeout = TimeSpan.FromSeconds(5),
                    UseProxy = false,
                    UseCookies = false,
                    AllowAutoRedirect = false,
                    AutomaticDecompression = DecompressionMethods.None,
                };
                configure(handler);
                return handler;
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);

    private static HttpClient CreateClient(IServiceProvider provider, string name) =>
        provider.GetRequiredService<IHttpClientFactory>().CreateClient(name);
}
