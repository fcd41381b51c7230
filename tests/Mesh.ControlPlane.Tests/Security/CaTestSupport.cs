using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using IstioCa = Istio.V1.Auth;

namespace Mesh.ControlPlane.Tests.Security;

/// <summary>CSRs, CA files, and a control plane with its CA plus a gRPC client of the certificate service.</summary>
internal static class CaTestSupport
{
    /// <summary>A CSR for a new P-256 key that asks for <paramref name="uris"/> and <paramref name="dnsNames"/> (which the CA must ignore).</summary>
    public static string Csr(IReadOnlyList<string>? uris = null, IReadOnlyList<string>? dnsNames = null, string subject = "CN=asks-for-anything")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var uri in uris ?? [])
        {
            san.AddUri(new Uri(uri));
        }

        foreach (var dns in dnsNames ?? [])
        {
            san.AddDnsName(dns);
        }

        if (uris is { Count: > 0 } || dnsNames is { Count: > 0 })
        {
            request.CertificateExtensions.Add(san.Build());
        }

        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSigningRequestPem();
    }

    /// <summary>Writes Istio's plug-in CA files: <paramref name="signer"/> (with its key) signs, under <paramref name="pki"/>'s root.</summary>
    public static ManifestTestDirectory WriteCaFiles(TestPki pki, X509Certificate2? signer = null)
    {
        var directory = new ManifestTestDirectory();
        foreach (var (name, text) in CaFilesOf(pki, signer))
        {
            directory.Write(name, text);
        }

        return directory;
    }

    /// <summary>The plug-in CA keys and PEM texts for a signer under <paramref name="pki"/>'s root (the root itself when null).</summary>
    public static Dictionary<string, string> CaFilesOf(TestPki pki, X509Certificate2? signer = null)
    {
        signer ??= pki.Root;
        var files = new Dictionary<string, string>
        {
            ["ca-cert.pem"] = signer.ExportCertificatePem() + "\n",
            ["ca-key.pem"] = signer.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(),
            ["root-cert.pem"] = pki.RootPem,
        };
        if (!ReferenceEquals(signer, pki.Root))
        {
            files["cert-chain.pem"] = signer.ExportCertificatePem() + "\n" + pki.RootPem + "\n";
        }

        return files;
    }

    /// <summary>Whether <paramref name="certificate"/> chains to <paramref name="root"/> alone.</summary>
    public static bool ChainsTo(X509Certificate? certificate, X509Certificate2 root)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    /// <summary>The certificates of a PEM chain.</summary>
    public static X509Certificate2[] Certificates(IEnumerable<string> pems) => [.. pems.Select(static pem => X509Certificate2.CreateFromPem(pem))];
}

/// <summary>A running control plane with the CA enabled, its logs, and a client of <c>IstioCertificateService</c>.</summary>
internal sealed class CaControlPlane : IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly GrpcChannel _channel;

    private CaControlPlane(ControlPlaneApp app, ILoggerFactory loggerFactory, FakeLogCollector logs)
    {
        App = app;
        _loggerFactory = loggerFactory;
        Logs = logs;
        // Over TLS (--xds-tls) the port's certificate chains to the CA's root, which this client trusts.
        var handler = new SocketsHttpHandler();
        if (app.CertificateAuthority is { } authority)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => CaTestSupport.ChainsTo(certificate, authority.Root);
        }

        _channel = GrpcChannel.ForAddress(app.XdsAddress, new GrpcChannelOptions { HttpHandler = handler });
        Client = new IstioCa.IstioCertificateService.IstioCertificateServiceClient(_channel);
    }

    public ControlPlaneApp App { get; }

    public FakeLogCollector Logs { get; }

    public IstioCa.IstioCertificateService.IstioCertificateServiceClient Client { get; }

    /// <summary>Starts a control plane (an in-memory store, no other source) after <paramref name="configure"/> sets its CA options.</summary>
    public static async Task<CaControlPlane> StartAsync(Action<ControlPlaneOptions> configure, IReadOnlyList<ConfigObject>? seed = null)
    {
        var provider = new FakeLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning).AddProvider(provider));
        var options = new ControlPlaneOptions { XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0", LoggerFactory = loggerFactory };
        options.Ca.Enabled = true;
        configure(options);
        if (options.KubeconfigPath is null)
        {
            var store = new ConfigStore();
            if (seed is not null)
            {
                store.Register("test");
                store.Replace("test", seed);
                store.MarkSynced("test");
            }

            options.Store = store;
        }

        try
        {
            var app = await ControlPlaneApp.StartAsync(options).WaitAsync(TestWait.Timeout);
            return new CaControlPlane(app, loggerFactory, provider.Collector);
        }
        catch
        {
            loggerFactory.Dispose();
            throw;
        }
    }

    /// <summary>Asks for a certificate, with a bearer token when given, and other metadata.</summary>
    public async Task<IstioCa.IstioCertificateResponse> CreateAsync(string csr, string? token = null, long ttlSeconds = 0, params (string Key, string Value)[] metadata)
    {
        var headers = new Metadata();
        if (token is not null)
        {
            headers.Add("authorization", "Bearer " + token);
        }

        foreach (var (key, value) in metadata)
        {
            headers.Add(key, value);
        }

        var request = new IstioCa.IstioCertificateRequest { Csr = csr, ValidityDuration = ttlSeconds };
        return await Client.CreateCertificateAsync(request, headers, deadline: DateTime.UtcNow + TestWait.Timeout).ResponseAsync.WaitAsync(TestWait.Timeout);
    }

    /// <summary>The roots the admin address serves at <c>/ca/root-cert.pem</c>.</summary>
    public async Task<string> RootPemAsync()
    {
        using var http = new HttpClient { Timeout = TestWait.Timeout };
        return await http.GetStringAsync(new Uri(App.AdminAddress, "/ca/root-cert.pem")).WaitAsync(TestWait.Timeout);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await App.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
        _loggerFactory.Dispose();
    }
}
