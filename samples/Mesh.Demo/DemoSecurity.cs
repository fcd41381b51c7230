using System.Net;
using System.Security.Cryptography;
using Mesh.Identity;
using Mesh.Model;
using Mesh.Telemetry;

namespace Mesh.Demo;

/// <summary>
/// The xDS mode's zero trust: a bootstrap token per service account for the control plane's CA, the CA's root
/// fetched from the control plane, and the calls that must be refused (another identity; plaintext).
/// </summary>
internal sealed class DemoSecurity : IDisposable
{
    public const string FrontendAccount = "frontend";
    private const string BackendAccount = "backend";
    private const string IntruderAccount = "intruder";

    private readonly string _directory = Directory.CreateTempSubdirectory("mesh-demo-").FullName;
    private readonly Dictionary<string, string> _tokens = new()
    {
        [FrontendAccount] = NewToken(),
        [BackendAccount] = NewToken(),
        [IntruderAccount] = NewToken(),
    };

    public DemoSecurity()
    {
        File.WriteAllLines(TokensFile, _tokens.Select(t => $"{t.Value} demo {t.Key}"));
    }

    /// <summary>The CA's bootstrap tokens: one line per token, its namespace and service account.</summary>
    public string TokensFile => Path.Combine(_directory, "bootstrap-tokens");

    /// <summary>The mesh's root certificate, as fetched from the control plane.</summary>
    public string RootFile => Path.Combine(_directory, "root-cert.pem");

    public string FrontendToken => _tokens[FrontendAccount];

    /// <summary>A bootstrap for the control plane's TLS port (--xds-tls), trusting the mesh's root: xDS and the CA both.</summary>
    public string Bootstrap(int xdsPort, string nodeId) =>
        $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{xdsPort}}", "channel_creds": [ { "type": "tls", "config": { "ca_certificate_file": {{System.Text.Json.JsonSerializer.Serialize(RootFile)}} } } ] } ], "node": { "id": "{{nodeId}}", "cluster": "{{nodeId}}" } }""";

    /// <summary>Fetches the CA's root from the control plane's admin address (public; in a cluster it comes from a ConfigMap).</summary>
    public async Task FetchRootAsync(Uri adminAddress)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await File.WriteAllTextAsync(RootFile, await http.GetStringAsync(new Uri(adminAddress, "/ca/root-cert.pem")));
    }

    /// <summary>
    /// A backend's identity (service account "backend") and what it enforces: its server listener from the control
    /// plane (gRFC A36), built from samples/manifests/security.yaml: STRICT mutual TLS, only the frontend allowed.
    /// </summary>
    public void ConfigureBackend(IServiceCollection services, int xdsPort, string listeningAddress, EndpointWorkload? workload)
    {
        services.AddMesh()
            .AddXds(o => o.Bootstrap = Bootstrap(xdsPort, $"demo-backend-{listeningAddress}"))
            .AddWorkloadIdentity(o => o.Token = _tokens[BackendAccount])
            .AddXdsServerPolicy(o => o.ListeningAddress = listeningAddress)
            .AddIstioMetrics(o =>
            {
                // The backend is the workload the control plane named in its endpoint's metadata.
                o.SourceWorkload = workload?.Name ?? IstioMetrics.Unknown;
                o.SourceWorkloadNamespace = workload?.Namespace ?? IstioMetrics.Unknown;
                o.SourceApp = workload?.App ?? IstioMetrics.Unknown;
                o.SourceVersion = workload?.Version ?? IstioMetrics.Unknown;
            });
        services.AddMeshServer();
    }

    /// <summary>
    /// Calls the backend as another workload of the mesh (its own certificate, service account "intruder") and
    /// in plaintext without the mesh; both must be refused. Returns whether they were.
    /// </summary>
    public async Task<bool> ShowDeniedCallAsync(int xdsPort, string target, string backendAddress)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddMesh()
            .AddXds(o =>
            {
                o.Targets.Add(target);
                o.Bootstrap = Bootstrap(xdsPort, "demo-intruder");
                })
            .AddWorkloadIdentity(o => o.Token = _tokens[IntruderAccount]);
        builder.Services.AddHttpClient("backend", c => c.BaseAddress = new Uri($"http://{target}")).AddMesh();
        using var intruder = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await intruder.StartAsync(timeout.Token);
        var identity = await intruder.Services.GetRequiredService<IWorkloadIdentityProvider>().WaitForIdentityAsync(timeout.Token);
        using var response = await intruder.Services.GetRequiredService<IHttpClientFactory>().CreateClient("backend").GetAsync("/", timeout.Token);
        var body = await response.Content.ReadAsStringAsync(timeout.Token);
        await intruder.StopAsync(timeout.Token);
        var denied = response.StatusCode == HttpStatusCode.Forbidden;
        Console.WriteLine($"Denied call: GET / as {identity.SpiffeId} (mutual TLS, but not the frontend)");
        Console.WriteLine($"  -> {(int)response.StatusCode} {response.StatusCode}: {body}{(denied ? "" : "   <- expected 403")}");

        string plaintext;
        bool refused;
        using (var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            try
            {
                using var answer = await plain.GetAsync(backendAddress, timeout.Token);
                plaintext = $"{(int)answer.StatusCode} {answer.StatusCode}   <- expected the connection to be refused";
                refused = false;
            }
            catch (HttpRequestException ex)
            {
                plaintext = $"refused ({ex.HttpRequestError}: the backend accepts only mutual TLS)";
                refused = true;
            }
        }

        Console.WriteLine($"Denied call: GET {backendAddress} in plaintext, without the mesh");
        Console.WriteLine($"  -> {plaintext}");
        Console.WriteLine();
        return denied && refused;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
}
