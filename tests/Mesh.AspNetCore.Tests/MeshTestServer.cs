using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.AspNetCore.Authentication;
using Mesh.Authorization;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.AspNetCore.Tests;

/// <summary>
/// A real Kestrel server on 127.0.0.1 (port 0) with <c>UseMeshTls</c>, the Mesh authentication scheme and
/// <c>UseMeshAuthorization</c>, plus clients that present a chosen certificate.
/// </summary>
internal sealed class MeshTestServer : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private readonly WebApplication _app;

    private MeshTestServer(WebApplication app, TestIdentityProvider identity, ReloadableConfiguration configuration, int port)
    {
        _app = app;
        Identity = identity;
        Configuration = configuration;
        Port = port;
    }

    public TestIdentityProvider Identity { get; }

    public ReloadableConfiguration Configuration { get; }

    public int Port { get; }

    public Uri Https => new($"https://127.0.0.1:{Port}");

    public Uri Http => new($"http://127.0.0.1:{Port}");

    public FakeLogCollector Logs => _app.Services.GetFakeLogCollector();

    public IServerPolicySource Policy => _app.Services.GetRequiredService<IServerPolicySource>();

    public static async Task<MeshTestServer> StartAsync(
        WorkloadIdentity? serverIdentity,
        IEnumerable<KeyValuePair<string, string?>> configuration,
        Action<MeshServerOptions>? configure = null,
        HttpProtocols protocols = HttpProtocols.Http1AndHttp2)
    {
        var builder = WebApplication.CreateSlimBuilder();
        var config = new ReloadableConfiguration(configuration);
        ((IConfigurationBuilder)builder.Configuration).Add(config);
        builder.Logging.ClearProviders().SetMinimumLevel(LogLevel.Debug).AddFakeLogging();
        var identity = new TestIdentityProvider(serverIdentity);
        builder.Services.AddSingleton<IWorkloadIdentityProvider>(identity);
        builder.Services.AddMeshServer(configure);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = protocols;
            l.UseMeshTls();
        }));
        var app = builder.Build();
        app.UseAuthentication();
        app.UseMeshAuthorization();
        app.MapGet("/whoami", static (HttpContext context) =>
            (context.User.FindFirst(MeshAuthenticationDefaults.SpiffeIdClaimType)?.Value ?? "anonymous")
            + "|" + (context.GetPeerIdentity()?.Value ?? "none")
            + "|" + context.Request.Protocol);
        app.MapGet("/{**path}", static () => "ok");
        app.MapPost("/{**path}", static () => "ok");
        try
        {
            await app.StartAsync().WaitAsync(Timeout).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new MeshTestServer(app, identity, config, new Uri(address).Port);
    }

    /// <summary>An HTTP/2 client over TLS that checks the server SVID against <paramref name="serverTrust"/>, presents <paramref name="clientCertificate"/> (or none) and reports the server's certificate.</summary>
    public static HttpClient CreateTlsClient(
        TrustBundle serverTrust,
        X509Certificate2? clientCertificate,
        Action<X509Certificate2>? serverCertificate = null,
        X509Certificate2Collection? intermediates = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = Timeout,
            SslOptions =
            {
                ClientCertificateContext = clientCertificate is null ? null : SslStreamCertificateContext.Create(clientCertificate, intermediates, offline: true),
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                {
                    if (certificate is not X509Certificate2 server)
                    {
                        return false;
                    }

                    serverCertificate?.Invoke(server);
                    return SpiffeValidator.Validate(server, chain?.ChainPolicy.ExtraStore, serverTrust, DateTimeOffset.UtcNow).IsValid;
                },
            },
        };
        return new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = Timeout };
    }

    /// <summary>An HTTP/1.1 plaintext client.</summary>
    public static HttpClient CreatePlaintextClient()
        => new(new SocketsHttpHandler { ConnectTimeout = Timeout }) { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = Timeout };

    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient client, Uri uri)
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var response = await client.GetAsync(uri, cts.Token).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false));
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _app.StopAsync(cts.Token).WaitAsync(Timeout).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Configuration keys for the <c>Mesh:Server</c> section.</summary>
    public static List<KeyValuePair<string, string?>> Settings(string mode, params (string Key, string Value)[] policies)
    {
        var data = new List<KeyValuePair<string, string?>> { new("Mesh:Server:PeerAuthentication", mode) };
        foreach (var (key, value) in policies)
        {
            data.Add(new("Mesh:Server:AuthorizationPolicies:" + key, value));
        }

        return data;
    }
}
