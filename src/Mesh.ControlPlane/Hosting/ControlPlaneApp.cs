using System.Net;
using System.Net.Security;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Configuration.Kubernetes;
using Mesh.ControlPlane.Configuration.Manifests;
using Mesh.ControlPlane.Model;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Telemetry;
using Mesh.Xds.Server;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Metrics;

namespace Mesh.ControlPlane.Hosting;

/// <summary>
/// The control plane, runnable in-process: an xDS server (ADS over HTTP/2) and an admin server
/// (<c>/healthz</c>, <c>/readyz</c>, <c>/debug/config_dump</c>, <c>/debug/clients</c>, and Prometheus <c>/metrics</c>), fed by the configured sources;
/// with the certificate authority enabled, Istio's certificate-signing service on the xDS address and <c>/ca/root-cert.pem</c> on the admin one.
/// </summary>
/// <example><code>
/// await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { ManifestsDirectory = "samples/manifests", XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" });
/// Console.WriteLine(controlPlane.XdsAddress);
/// </code></example>
public sealed class ControlPlaneApp : IAsyncDisposable
{
    private readonly WebApplication _xds;
    private readonly WebApplication _admin;
    private readonly List<IHostedService> _sources;
    private readonly ControlPlaneHost _host;
    private readonly ControlPlaneTelemetry _telemetry;
    private CertificateAuthorityServices? _certificateAuthority;
    private int _stopped;

    private ControlPlaneApp(WebApplication xds, WebApplication admin, List<IHostedService> sources, ControlPlaneHost host, IConfigStore store, ControlPlaneTelemetry telemetry)
    {
        _telemetry = telemetry;
        _xds = xds;
        _admin = admin;
        _sources = sources;
        _host = host;
        Store = store;
        XdsAddress = Address(xds);
        AdminAddress = Address(admin);
    }

    /// <summary>The xDS server's address, e.g. <c>http://127.0.0.1:18000</c>.</summary>
    public Uri XdsAddress { get; }

    /// <summary>The admin server's address.</summary>
    public Uri AdminAddress { get; }

    /// <summary>The bound xDS port.</summary>
    public int XdsPort => XdsAddress.Port;

    /// <summary>The bound admin port.</summary>
    public int AdminPort => AdminAddress.Port;

    /// <summary>The store the sources write to and the translator reads.</summary>
    public IConfigStore Store { get; }

    internal ControlPlaneHost Host => _host;

    /// <summary>The certificate authority served on the xDS address, or null when it is not enabled.</summary>
    internal CertificateAuthority? CertificateAuthority => _certificateAuthority?.Authority;

    internal XdsSnapshotCache Cache => _xds.Services.GetRequiredService<XdsSnapshotCache>();

    /// <summary>Starts the servers, then the sources; returns once both servers listen and the sources have started.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message says which and why).</exception>
    /// <exception cref="CertificateAuthorityException">The CA's files, Secret or bootstrap tokens are missing or wrong (the message names each and the fix).</exception>
    public static async Task<ControlPlaneApp> StartAsync(ControlPlaneOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;

        // The CA loads first: a missing or wrong key stops the start before anything listens.
        var certificateAuthority = options.Ca.IsEnabled
            ? await CertificateAuthorityServices.CreateAsync(options.Ca, KubernetesConfiguration(options), loggerFactory, TimeProvider.System, cancellationToken).ConfigureAwait(false)
            : null;
        try
        {
            var app = await StartAsync(options, loggerFactory, certificateAuthority, cancellationToken).ConfigureAwait(false);
            app._certificateAuthority = certificateAuthority;
            return app;
        }
        catch
        {
            certificateAuthority?.Dispose();
            throw;
        }
    }

    private static async Task<ControlPlaneApp> StartAsync(ControlPlaneOptions options, ILoggerFactory loggerFactory, CertificateAuthorityServices? certificateAuthority, CancellationToken cancellationToken)
    {
        var store = options.Store ?? new ConfigStore();
        var cache = new XdsSnapshotCache(new XdsServerOptions { NodeHash = XdsNodeHash.Constant(ControlPlaneHost.SnapshotKey) }, TimeProvider.System, loggerFactory);
        var telemetry = new ControlPlaneTelemetry(cache, store);
        var host = new ControlPlaneHost(store, cache, loggerFactory.CreateLogger<ControlPlaneHost>(), TimeProvider.System, options.Debounce, options.MaxDebounce, telemetry, options.Ca.TrustDomain, options.ClusterId);

        var xdsBuilder = WebApplication.CreateSlimBuilder();
        var serving = options.XdsTls ? CreateServingCertificate(options, certificateAuthority!.Authority, loggerFactory) : null;
        Configure(xdsBuilder, loggerFactory, options.XdsListen, HttpProtocols.Http2, serving);
        xdsBuilder.Services.AddSingleton(cache);
        xdsBuilder.Services.AddGrpc();
        xdsBuilder.Services.AddXdsServer();
        if (certificateAuthority is not null)
        {
            xdsBuilder.Services.AddSingleton(certificateAuthority.Authority);
            xdsBuilder.Services.AddSingleton(certificateAuthority.Authenticator);
        }

        var xds = xdsBuilder.Build();
        xds.MapGrpcService<XdsAdsService>();
        if (certificateAuthority is not null)
        {
            xds.MapGrpcService<IstioCertificateService>();
        }

        var adminBuilder = WebApplication.CreateSlimBuilder();
        Configure(adminBuilder, loggerFactory, options.AdminListen, HttpProtocols.Http1);

        // Mesh.ControlPlane and the xDS server's Mesh.Xds meter (both matched by Mesh.*), scraped at /metrics.
        adminBuilder.Services.AddOpenTelemetry().WithMetrics(static metrics => metrics.AddMeshInstrumentation().AddPrometheusExporter());
        var admin = adminBuilder.Build();
        admin.MapPrometheusScrapingEndpoint();
        var sources = new List<IHostedService>();
        ManifestSource? manifests = null;
        if (options.ManifestsDirectory is { } directory)
        {
            manifests = new ManifestSource(directory, store, loggerFactory.CreateLogger<ManifestSource>(), TimeProvider.System, MeshConfigReader.Validate);
            sources.Add(manifests);
        }

        // A file the manifest source rejects never reaches the store; its problems are shown beside the translation's.
        AdminEndpoints.Map(admin, store, host, cache, () => manifests?.Problems.Select(static p => p.ToString()) ?? []);
        if (certificateAuthority is not null)
        {
            AdminEndpoints.MapCertificateAuthority(admin, certificateAuthority.Authority);
        }

        if (options.KubeconfigPath is not null || options.InCluster)
        {
            var kubernetes = new KubernetesSourceOptions { KubeconfigPath = options.KubeconfigPath, InCluster = options.InCluster };
            options.ConfigureKubernetes?.Invoke(kubernetes);
            sources.Add(KubernetesSource.Create(kubernetes, store, loggerFactory));
        }

        var app = new ControlPlaneApp(await StartServer(xds, cancellationToken).ConfigureAwait(false), await StartServer(admin, cancellationToken).ConfigureAwait(false), sources, host, store, telemetry);
        try
        {
            host.Start();
            foreach (var source in sources)
            {
                await source.StartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return app;
    }

    /// <summary>Translates and publishes now, without waiting for the debounce (tests, and after a bulk load).</summary>
    public void Publish() => _host.Rebuild();

    private static KubernetesClientConfiguration? KubernetesConfiguration(ControlPlaneOptions options) =>
        options.InCluster ? KubernetesClientConfiguration.InClusterConfig()
        : options.KubeconfigPath is { } path ? KubernetesClientConfiguration.BuildConfigFromConfigFile(path)
        : null;

    private static void Configure(WebApplicationBuilder builder, ILoggerFactory loggerFactory, string listen, HttpProtocols protocols, ServingCertificate? tls = null)
    {
        var endpoint = IPEndPoint.Parse(listen);
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        builder.WebHost.UseKestrel(o => o.Listen(endpoint, l =>
        {
            l.Protocols = protocols;
            if (tls is not null)
            {
                // The certificate context is read per handshake, so a renewed certificate applies to the next connection.
                l.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = tls.Current,
                        ApplicationProtocols = [SslApplicationProtocol.Http2],
                    }),
                });
            }
        }));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(5));
    }

    /// <summary>The xDS port's certificate: the configured DNS names (or the defaults) and the listen address when it is a specific one.</summary>
    private static ServingCertificate CreateServingCertificate(ControlPlaneOptions options, CertificateAuthority authority, ILoggerFactory loggerFactory)
    {
        var listen = IPEndPoint.Parse(options.XdsListen).Address;
        IReadOnlyList<IPAddress> addresses = listen.Equals(IPAddress.Any) || listen.Equals(IPAddress.IPv6Any) ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : [listen];
        var names = options.XdsTlsNames.Count > 0 ? options.XdsTlsNames : ControlPlaneOptions.DefaultXdsTlsNames;
        return new ServingCertificate(authority, names, addresses, TimeProvider.System, loggerFactory.CreateLogger<ServingCertificate>());
    }

    private static async Task<WebApplication> StartServer(WebApplication app, CancellationToken cancellationToken)
    {
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }

    private static Uri Address(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());

    /// <summary>Stops the sources, then the servers (open xDS streams end).</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        foreach (var source in _sources)
        {
            await source.StopAsync(cancellationToken).ConfigureAwait(false);
        }

        _host.Dispose();
        await _xds.StopAsync(cancellationToken).ConfigureAwait(false);
        await _admin.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        foreach (var source in _sources)
        {
            switch (source)
            {
                case IAsyncDisposable asyncDisposable: await asyncDisposable.DisposeAsync().ConfigureAwait(false); break;
                case IDisposable disposable: disposable.Dispose(); break;
                default: break;
            }
        }

        await _xds.DisposeAsync().ConfigureAwait(false);
        await _admin.DisposeAsync().ConfigureAwait(false);
        _telemetry.Dispose();
        _certificateAuthority?.Dispose();
    }
}

/// <summary>
/// A lifetime that leaves Ctrl-C and SIGTERM alone: the control plane's servers are embedded (two in one process, or
/// inside the demo), so the caller owns shutdown; the default console lifetime would stop a server behind its back.
/// </summary>
internal sealed class EmbeddedHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
