using System.Globalization;
using System.Text;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.ControlPlane.Tests.Security.Interop;

/// <summary>
/// A control plane on a temporary manifest directory with its CA enabled (bootstrap tokens for the service accounts
/// <c>backend</c>, <c>frontend</c> and <c>node-client</c> of namespace <see cref="Namespace"/>), the mesh root written to
/// a PEM file, and the manifests of one Service, <c>backend</c>, whose single WorkloadEntry (service account
/// <c>backend</c>) is written once the backend listens. Everything the control plane and the workloads log is kept.
/// </summary>
internal sealed class SecureMesh : IAsyncDisposable
{
    public const string Namespace = "interop";
    public const string TrustDomain = "cluster.local";
    public const int ServicePort = 8080;
    public const string Host = "backend." + Namespace + ".svc.cluster.local";
    public const string Target = Host + ":8080";
    public const string Cluster = "outbound|8080||" + Host;
    public const string BackendToken = "backend-token-5c1e";
    public const string FrontendToken = "frontend-token-93ab";
    public const string NodeClientToken = "node-client-token-7d20";
    public const string BackendId = "spiffe://" + TrustDomain + "/ns/" + Namespace + "/sa/backend";
    public const string FrontendId = "spiffe://" + TrustDomain + "/ns/" + Namespace + "/sa/frontend";
    public const string NodeClientId = "spiffe://" + TrustDomain + "/ns/" + Namespace + "/sa/node-client";
    public const string SomeoneElseId = "spiffe://" + TrustDomain + "/ns/" + Namespace + "/sa/someone-else";

    private readonly ILoggerFactory _loggerFactory;

    private SecureMesh(ManifestTestDirectory manifests, ManifestTestDirectory files, FakeLoggerProvider logs, ILoggerFactory loggerFactory)
    {
        Manifests = manifests;
        Files = files;
        LogProvider = logs;
        _loggerFactory = loggerFactory;
    }

    /// <summary>The directory the control plane watches.</summary>
    public ManifestTestDirectory Manifests { get; }

    /// <summary>The tokens file, the root PEM and other files of the workloads (not watched by the control plane).</summary>
    public ManifestTestDirectory Files { get; }

    /// <summary>Collects the logs of the control plane and of every workload that adds it.</summary>
    public FakeLoggerProvider LogProvider { get; }

    public ControlPlaneApp ControlPlane { get; private set; } = null!;

    /// <summary>The PEM file with the root the control plane's CA serves at <c>/ca/root-cert.pem</c>.</summary>
    public string RootFile => Files.FullPath("root-cert.pem");

    /// <summary>The root PEM the CA serves.</summary>
    public string RootPem { get; private set; } = string.Empty;

    /// <summary>The CA's address, the xDS port (as istiod serves both on one port).</summary>
    public string CaAddress => ControlPlane.XdsAddress.ToString();

    /// <summary>
    /// Writes the Service and <paramref name="policies"/> (file name → YAML) to the manifest directory and starts the
    /// control plane on it with its CA.
    /// </summary>
    public static async Task<SecureMesh> StartAsync(IReadOnlyDictionary<string, string>? policies = null)
    {
        var manifests = new ManifestTestDirectory();
        var files = new ManifestTestDirectory();
        var logs = new FakeLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning).AddFilter("System", LogLevel.Warning).AddProvider(logs));
        var mesh = new SecureMesh(manifests, files, logs, loggerFactory);
        try
        {
            files.Write("tokens", $"""
                # token namespace serviceAccount
                {BackendToken} {Namespace} backend
                {FrontendToken} {Namespace} frontend
                {NodeClientToken} {Namespace} node-client
                """);
            manifests.Write("service.yaml", ServiceYaml);
            foreach (var (name, yaml) in policies ?? new Dictionary<string, string>())
            {
                manifests.Write(name, yaml);
            }

            var options = new ControlPlaneOptions
            {
                ManifestsDirectory = manifests.Path,
                XdsListen = "127.0.0.1:0",
                AdminListen = "127.0.0.1:0",
                LoggerFactory = loggerFactory,
            };
            options.Ca.Enabled = true;
            options.Ca.TrustDomain = TrustDomain;
            options.Ca.BootstrapTokensFile = files.FullPath("tokens");

            mesh.ControlPlane = await ControlPlaneApp.StartAsync(options).WaitAsync(TestWait.Timeout);
            using var http = new HttpClient { Timeout = TestWait.Timeout };
            mesh.RootPem = await http.GetStringAsync(new Uri(mesh.ControlPlane.AdminAddress, "/ca/root-cert.pem")).WaitAsync(TestWait.Timeout);
            files.Write("root-cert.pem", mesh.RootPem);
        }
        catch
        {
            await mesh.DisposeAsync();
            throw;
        }

        return mesh;
    }

    /// <summary>Writes the WorkloadEntry of the backend listening on 127.0.0.1:<paramref name="port"/>.</summary>
    public void AddBackend(int port) => Manifests.Write("workload.yaml", $"""
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata:
          name: backend-1
          namespace: {Namespace}
        spec:
          address: 127.0.0.1
          ports:
            grpc: {port.ToString(CultureInfo.InvariantCulture)}
          labels:
            app: backend
          serviceAccount: backend
        """);

    /// <summary>A gRPC xDS bootstrap naming this control plane (insecure xDS channel).</summary>
    public string Bootstrap(string nodeId) =>
        $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{ControlPlane.XdsPort.ToString(CultureInfo.InvariantCulture)}}", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": "{{nodeId}}", "cluster": "{{nodeId}}", "locality": { "zone": "local" } } }""";

    /// <summary>A DestinationRule for the backend with <c>trafficPolicy.tls</c> mode <paramref name="mode"/> and, when given, the server names to expect.</summary>
    public static string DestinationRule(string mode, params string[] subjectAltNames)
    {
        var yaml = new StringBuilder($"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: backend
              namespace: {Namespace}
            spec:
              host: backend
              trafficPolicy:
                tls:
                  mode: {mode}

            """);
        if (subjectAltNames.Length > 0)
        {
            yaml.Append("      subjectAltNames:\n");
            foreach (var san in subjectAltNames)
            {
                yaml.Append("        - \"").Append(san).Append("\"\n");
            }
        }

        return yaml.ToString();
    }

    /// <summary>The namespace-wide PeerAuthentication with mTLS mode <paramref name="mode"/>.</summary>
    public static string PeerAuthentication(string mode) => $"""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: {Namespace}
        spec:
          mtls:
            mode: {mode}
        """;

    /// <summary>Writes what was logged, for the test's output.</summary>
    public async Task WriteLogsAsync()
    {
        foreach (var record in LogProvider.Collector.GetSnapshot())
        {
            await TestContext.Out.WriteLineAsync($"{record.Timestamp:HH:mm:ss.fff} {record.Level} {record.Category}: {record.Message}{(record.Exception is null ? string.Empty : " | " + record.Exception.Message)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (ControlPlane is not null)
        {
            await ControlPlane.DisposeAsync().AsTask().WaitAsync(TestWait.Timeout);
        }

        _loggerFactory.Dispose();
        Manifests.Dispose();
        Files.Dispose();
    }

    private const string ServiceYaml = $"""
        apiVersion: v1
        kind: Service
        metadata:
          name: backend
          namespace: {Namespace}
        spec:
          selector:
            app: backend
          ports:
            - name: grpc
              port: 8080
              targetPort: grpc
        """;
}
