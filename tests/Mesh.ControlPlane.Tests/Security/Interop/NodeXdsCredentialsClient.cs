using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Mesh.Xds.Tests.Interop;

namespace Mesh.ControlPlane.Tests.Security.Interop;

/// <summary>
/// Runs the Node.js interop client (<c>client.js</c> of Mesh.Xds.Tests, gRPC's <c>@grpc/grpc-js-xds</c>) with
/// <c>--xds-creds</c>, so its channel uses <c>XdsChannelCredentials</c> and the clusters' UpstreamTlsContext decides
/// TLS, with the certificates of the bootstrap's <c>certificate_providers</c>.
/// </summary>
internal static class NodeXdsCredentialsClient
{
    /// <summary>
    /// A bootstrap for the Node client naming the control plane, with the certificate provider instance <c>default</c>
    /// (plugin <c>file_watcher</c>) over the given PEM files.
    /// </summary>
    public static string Bootstrap(int xdsPort, string certificateFile, string privateKeyFile, string caCertificateFile) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["xds_servers"] = new[] { new { server_uri = $"127.0.0.1:{xdsPort.ToString(CultureInfo.InvariantCulture)}", channel_creds = new[] { new { type = "insecure" } }, server_features = new[] { "xds_v3" } } },
        ["node"] = new { id = "node-client", cluster = "node-client", locality = new { zone = "local" } },
        ["certificate_providers"] = new Dictionary<string, object>
        {
            ["default"] = new
            {
                plugin_name = "file_watcher",
                config = new { certificate_file = certificateFile, private_key_file = privateKeyFile, ca_certificate_file = caCertificateFile, refresh_interval = "1s" },
            },
        },
    });

    /// <summary>Makes <paramref name="calls"/> calls of <c>helloworld.Greeter/SayHello</c> through <c>xds:///target</c>.</summary>
    public static async Task<NodeClientResult> CallAsync(string bootstrapJson, string target, int calls, int concurrency, TimeSpan rpcTimeout)
    {
        await NodeXdsClient.EnsureInstalledAsync().WaitAsync(TimeSpan.FromMinutes(4));
        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = NodeXdsClient.Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["client.js", "--xds-creds", "--target", $"xds:///{target}",
                     "--calls", calls.ToString(CultureInfo.InvariantCulture),
                     "--concurrency", concurrency.ToString(CultureInfo.InvariantCulture),
                     "--rpc-timeout-ms", ((int)rpcTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)])
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["GRPC_XDS_BOOTSTRAP_CONFIG"] = bootstrapJson;
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var limit = TimeSpan.FromSeconds(60);
        using (var timeout = new CancellationTokenSource(limit))
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"node {string.Join(' ', info.ArgumentList)} did not finish within {limit}");
            }
        }

        var output = new StringBuilder().Append(await stdout.WaitAsync(limit)).Append(await stderr.WaitAsync(limit)).ToString();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("{\"ok\"", StringComparison.Ordinal));
        if (process.ExitCode != 0 || line is null)
        {
            Assert.Fail($"node client.js --xds-creds exited with {process.ExitCode} and no result line:\n{output}");
        }

        return JsonSerializer.Deserialize<NodeClientResult>(line!)!;
    }
}
