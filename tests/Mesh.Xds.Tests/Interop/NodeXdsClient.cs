using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Xds.Tests.Interop;

/// <summary>What one run of the Node.js client (<c>Interop/node/client.js</c>) reported.</summary>
internal sealed record NodeClientResult(
    [property: JsonPropertyName("ok")] int Ok,
    [property: JsonPropertyName("failed")] int Failed,
    [property: JsonPropertyName("byBackend")] Dictionary<string, int> ByBackend,
    [property: JsonPropertyName("errors")] Dictionary<string, int> Errors)
{
    public int For(string backend) => ByBackend.GetValueOrDefault(backend);

    public override string ToString() =>
        $"ok {Ok}, failed {Failed}, by backend {{{string.Join(", ", ByBackend.Select(p => $"{p.Key}: {p.Value}"))}}}, errors {{{string.Join(", ", Errors.Select(p => $"{p.Key}: {p.Value}"))}}}";
}

/// <summary>
/// Runs <c>@grpc/grpc-js-xds</c>, gRPC's own xDS client for Node.js, as a separate process against a
/// bootstrap pointing at our server. Installs the pinned npm packages (<c>npm ci</c>) on first use when
/// they are missing, so <c>dotnet test</c> works from a clean clone on a machine with Node.js.
/// </summary>
internal static class NodeXdsClient
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static bool _installed;

    /// <summary>The harness folder, found by walking up from the test binaries to the test project.</summary>
    public static string Directory { get; } = FindDirectory();

    public static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            if (_installed)
            {
                return;
            }

            if (!File.Exists(Path.Combine(Directory, "node_modules", "@grpc", "grpc-js-xds", "package.json")))
            {
                var (code, output) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], null, TimeSpan.FromMinutes(3));
                if (code != 0)
                {
                    Assert.Fail($"npm ci in {Directory} failed with exit code {code}:\n{output}");
                }
            }

            _installed = true;
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>Makes calls through <c>xds:///target</c> and returns the tallies.</summary>
    public static async Task<NodeClientResult> CallAsync(
        string bootstrapJson,
        string target,
        int calls = 1000,
        int concurrency = 10,
        IReadOnlyDictionary<string, string>? metadata = null,
        TimeSpan? duration = null,
        TimeSpan? rpcTimeout = null)
    {
        await EnsureInstalledAsync();
        var args = new List<string> { "client.js", "--target", $"xds:///{target}", "--calls", calls.ToString(System.Globalization.CultureInfo.InvariantCulture), "--concurrency", concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (duration is { } d)
        {
            args.AddRange(["--duration-ms", ((int)d.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        if (rpcTimeout is { } t)
        {
            args.AddRange(["--rpc-timeout-ms", ((int)t.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            args.AddRange(["--metadata", $"{key}={value}"]);
        }

        var environment = new Dictionary<string, string> { ["GRPC_XDS_BOOTSTRAP_CONFIG"] = bootstrapJson };
        var limit = (duration ?? TimeSpan.Zero) + TimeSpan.FromSeconds(90);
        var (code, output) = await RunAsync("node", args, environment, limit);
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("{\"ok\"", StringComparison.Ordinal));
        if (code != 0 || line is null)
        {
            Assert.Fail($"node client.js exited with {code} and no result line:\n{output}");
        }

        return JsonSerializer.Deserialize<NodeClientResult>(line!)!;
    }

    /// <summary>A bootstrap for the Node client: one insecure xDS server, a node id, and the locality grpc-js-xds requires.</summary>
    public static string Bootstrap(int xdsPort, string nodeId = "interop-node") => JsonSerializer.Serialize(new
    {
        xds_servers = new[] { new { server_uri = $"127.0.0.1:{xdsPort.ToString(System.Globalization.CultureInfo.InvariantCulture)}", channel_creds = new[] { new { type = "insecure" } }, server_features = new[] { "xds_v3" } } },
        node = new { id = nodeId, cluster = "interop", locality = new { zone = "local" } },
    });

    private static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, TimeSpan limit)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', info.ArgumentList)} did not finish within {limit}");
        }

        output.Append(await stdout).Append(await stderr);
        return (process.ExitCode, output.ToString());
    }

    private static string FindDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "Interop", "node");
            if (File.Exists(Path.Combine(candidate, "client.js")))
            {
                return candidate;
            }

            candidate = Path.Combine(dir.FullName, "tests", "Mesh.Xds.Tests", "Interop", "node");
            if (File.Exists(Path.Combine(candidate, "client.js")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"the Node.js interop harness (Interop/node/client.js) was not found above {AppContext.BaseDirectory}");
    }
}
