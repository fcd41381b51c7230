// The Mesh demo: the seed scenario. By default on the embedded default (no Kubernetes, no control plane):
// three backends (two v1, one v2) start on the addresses the "Mesh" section of appsettings.json names; an
// HttpClient with .AddMesh() sends requests to http://backend, split 80/20 between the subsets v1 and v2,
// and with the x-canary header to v2 only. With --xds the same scenario comes from the control plane,
// run in-process on samples/manifests (a Service, WorkloadEntries, a VirtualService and a DestinationRule),
// and the client follows it over xDS; there every call is mutual TLS with certificates from the control plane's
// CA, the backends admit only the frontend's identity, and a call from another identity is shown denied; the
// frontend's Istio-compatible metrics show each edge with the destination workload the control plane named and both
// SPIFFE identities. It prints what reached whom. --otel-console prints the mesh's spans and metrics
// (OpenTelemetry's console exporter); OTEL_EXPORTER_OTLP_ENDPOINT sends them to a collector instead.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Mesh;
using Mesh.ControlPlane.Hosting;
using Mesh.Demo;
using Mesh.Identity;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

const string XdsTarget = "backend.demo.svc.cluster.local:8080";
var xds = args.Contains("--xds");
var otelConsole = args.Contains("--otel-console");
var builder = Host.CreateApplicationBuilder(args.Where(a => a is not "--xds" and not "--otel-console").ToArray());
builder.Logging.AddSimpleConsole(o => o.SingleLine = true);

// Telemetry export when asked for: the console (--otel-console), or an OTLP collector named the standard way.
var otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
if (otelConsole || otlp)
{
    builder.Services.AddOpenTelemetry()
        .ConfigureResource(r => r.AddService("mesh-demo-frontend"))
        .WithTracing(t =>
        {
            t.AddMeshInstrumentation();
            if (otelConsole)
            {
                t.AddConsoleExporter();
            }

            if (otlp)
            {
                t.AddOtlpExporter();
            }
        })
        .WithMetrics(m =>
        {
            m.AddMeshInstrumentation();
            if (otelConsole)
            {
                m.AddConsoleExporter();
            }

            if (otlp)
            {
                m.AddOtlpExporter();
            }
        });
}

// In xDS mode the control plane is also the mesh's CA: every workload gets its certificate by proving who it is
// with a bootstrap token, and samples/manifests/security.yaml makes the backends accept only mutual TLS from the
// frontend's identity. Its xDS and CA port speaks TLS (--xds-tls); workloads trust it through the mesh's root,
// fetched once from the admin address and named in their bootstrap.
using var security = xds ? new DemoSecurity() : null;
await using var controlPlane = xds
    ? await ControlPlaneApp.StartAsync(new ControlPlaneOptions
    {
        ManifestsDirectory = Path.Combine(AppContext.BaseDirectory, "manifests"),
        XdsListen = "127.0.0.1:0",
        AdminListen = "127.0.0.1:0",
        Ca = { Enabled = true, BootstrapTokensFile = security!.TokensFile },
        XdsTls = true,
    })
    : null;
if (controlPlane is not null)
{
    await security!.FetchRootAsync(controlPlane.AdminAddress);
    builder.Services.AddMesh()
        .AddXds(o =>
        {
            o.Targets.Add(XdsTarget);
            o.Bootstrap = security.Bootstrap(controlPlane.XdsPort, "demo-frontend");
        })
        .AddWorkloadIdentity(o => o.Token = security.FrontendToken)
        .AddIstioMetrics(o =>
        {
            o.SourceWorkload = "frontend";
            o.SourceWorkloadNamespace = "demo";
            o.SourceApp = "frontend";
        });
    builder.Services.AddHttpClient("backend", c => c.BaseAddress = new Uri($"http://{XdsTarget}")).AddMesh();
}
else
{
    builder.Services.AddMesh(builder.Configuration);
    builder.Services.AddHttpClient("backend", c => c.BaseAddress = new Uri("http://backend")).AddMesh();
}

var settings = builder.Configuration.GetSection("Demo").Get<DemoSettings>() ?? new DemoSettings();

using var host = builder.Build();
await host.StartAsync();
var mesh = host.Services.GetRequiredService<MeshState>();
if (xds)
{
    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
    await host.Services.GetRequiredService<IWorkloadIdentityProvider>().WaitForIdentityAsync(wait.Token);
}

if (!mesh.Current.TryGetService(xds ? "backend.demo.svc.cluster.local" : "backend", out _))
{
    Console.WriteLine("FAILED: the mesh has no configuration for the backend service (see the log above).");
    return 1;
}

// In xDS mode each endpoint's version comes from the workload the control plane names in EDS (Istio's metadata).
await using var backends = xds
    ? await Backends.StartAsync(mesh.Current.Clusters.Values
        .SelectMany(c => c.Endpoints)
        .Select(e => (e.Workload?.Version ?? "unknown", e)),
        (services, endpoint) => security!.ConfigureBackend(services, controlPlane!.XdsPort, $"{endpoint.Host}:{endpoint.Port}", endpoint.Workload))
    : await Backends.StartAsync(mesh.Current.Clusters["backend"].Endpoints);
Console.WriteLine(xds
    ? $"Mesh demo: {backends.Count} backends on 127.0.0.1, client configured over xDS by the in-process control plane on {controlPlane!.XdsAddress} from samples/manifests (snapshot v{mesh.Current.Version})."
    : $"Mesh demo: {backends.Count} backends on 127.0.0.1, client configured from appsettings.json (snapshot v{mesh.Current.Version}).");
Console.WriteLine();

using var edges = xds ? new IstioEdges() : null;
var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("backend");
var split = await Load.RunAsync(client, settings.Requests, settings.Concurrency, canary: false);
var canary = await Load.RunAsync(client, settings.CanaryRequests, settings.Concurrency, canary: true);

var ok = Report.Print($"Route 'split': {settings.Requests} requests to {client.BaseAddress}, {settings.Concurrency} concurrent, 80/20 between subsets v1 and v2", split, new() { ["v1"] = 80, ["v2"] = 20 });
ok &= Report.Print($"Route 'canary': {settings.CanaryRequests} requests with header x-canary: 1, all to subset v2", canary, new() { ["v2"] = 100 });
if (xds)
{
    ok &= Report.PrintPeers(split.Concat(canary), $"spiffe://cluster.local/ns/demo/sa/{DemoSecurity.FrontendAccount}");
    ok &= edges!.Print(split.Count + canary.Count);
    ok &= await security!.ShowDeniedCallAsync(controlPlane!.XdsPort, XdsTarget, backends.First);
}

await host.StopAsync();
Console.WriteLine(ok ? "Every request succeeded and every share is within 5 points of its weight." : "FAILED: see above.");
return ok ? 0 : 1;

namespace Mesh.Demo
{
    internal sealed class DemoSettings
    {
        public int Requests { get; set; } = 3000;

        public int CanaryRequests { get; set; } = 300;

        public int Concurrency { get; set; } = 16;
    }

    /// <summary>One answer: which backend and version, and how long it took.</summary>
    internal readonly record struct Outcome(string Endpoint, string Version, double Milliseconds, bool Failed, string? Peer = null);

    internal static class Load
    {
        public static async Task<List<Outcome>> RunAsync(HttpClient client, int count, int concurrency, bool canary)
        {
            var outcomes = new ConcurrentBag<Outcome>();
            var next = -1;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
            var workers = Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (Interlocked.Increment(ref next) < count)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/");
                    if (canary)
                    {
                        request.Headers.Add("x-canary", "1");
                    }

                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        using var response = await client.SendAsync(request, timeout.Token);
                        var body = await response.Content.ReadAsStringAsync(timeout.Token);
                        var parts = body.Split(' ');
                        outcomes.Add(new Outcome(parts[1], parts[0], Stopwatch.GetElapsedTime(started).TotalMilliseconds, !response.IsSuccessStatusCode, parts.Length > 2 ? parts[2] : null));
                    }
                    catch (HttpRequestException ex)
                    {
                        Console.WriteLine($"request failed: {ex.Message}");
                        outcomes.Add(new Outcome("-", "-", Stopwatch.GetElapsedTime(started).TotalMilliseconds, true));
                    }
                }
            });
            await Task.WhenAll(workers);
            return [.. outcomes];
        }
    }

    internal static class Report
    {
        public static bool Print(string title, List<Outcome> outcomes, Dictionary<string, int> expected)
        {
            var ok = true;
            var total = outcomes.Count;
            Console.WriteLine(title);
            Console.WriteLine($"  {"version",-9}{"requests",10}{"share",9}{"weight",9}");
            foreach (var version in expected.Keys.Union(outcomes.Select(o => o.Version)).Order())
            {
                var n = outcomes.Count(o => o.Version == version);
                var share = 100.0 * n / total;
                var weight = expected.GetValueOrDefault(version);
                var within = Math.Abs(share - weight) <= 5;
                ok &= within;
                Console.WriteLine($"  {version,-9}{n,10}{share,8:F1}%{weight,8}%{(within ? "" : "   <- off by more than 5 points")}");
            }

            Console.WriteLine();
            Console.WriteLine($"  {"endpoint",-24}{"version",-9}{"requests",10}{"share",9}{"p50 ms",9}{"p99 ms",9}");
            foreach (var group in outcomes.GroupBy(o => (o.Endpoint, o.Version)).OrderBy(g => g.Key.Endpoint, StringComparer.Ordinal))
            {
                var latencies = group.Select(o => o.Milliseconds).Order().ToArray();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {group.Key.Endpoint,-24}{group.Key.Version,-9}{latencies.Length,10}{100.0 * latencies.Length / total,8:F1}%{Percentile(latencies, 0.50),9:F2}{Percentile(latencies, 0.99),9:F2}"));
            }

            var failed = outcomes.Count(o => o.Failed);
            ok &= failed == 0 && total > 0;
            Console.WriteLine($"  failed: {failed}");
            Console.WriteLine();
            return ok;
        }

        /// <summary>Who the backends saw calling: every request must have arrived over mutual TLS as <paramref name="expected"/>.</summary>
        public static bool PrintPeers(IEnumerable<Outcome> outcomes, string expected)
        {
            var peers = outcomes.GroupBy(o => o.Peer ?? "(no client certificate: plaintext or TLS)").ToList();
            Console.WriteLine("Who the backends saw calling (the client certificate's SPIFFE ID, checked by the backend):");
            foreach (var peer in peers.OrderByDescending(g => g.Count()))
            {
                Console.WriteLine($"  {peer.Key,-48}{peer.Count(),8} requests{(peer.Key == expected ? "" : "   <- expected " + expected)}");
            }

            Console.WriteLine();
            return peers.Count == 1 && peers[0].Key == expected;
        }

        private static double Percentile(double[] sorted, double p) =>
            sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
