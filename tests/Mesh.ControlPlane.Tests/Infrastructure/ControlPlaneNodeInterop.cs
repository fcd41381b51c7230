using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Mesh.ControlPlane.Tests.Infrastructure;

/// <summary>
/// Runs the Node.js interop harness of the xDS tests (<c>tests/Mesh.Xds.Tests/Interop/node</c>): gRPC Greeter backends
/// (<c>backend.js</c>) and <c>@grpc/grpc-js-xds</c>, gRPC's own xDS client (<c>client.js</c>). Installs the pinned npm
/// packages on first use when missing.
/// </summary>
internal static class ControlPlaneNodeInterop
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static bool _installed;

    public static string Directory { get; } = FindDirectory();

    /// <summary>Whether Node.js is on the PATH (the interop tests are skipped without it).</summary>
    public static bool NodeAvailable { get; } = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Any(p => File.Exists(Path.Combine(p, "node")) || File.Exists(Path.Combine(p, "node.exe")));

    public static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            if (!_installed && !File.Exists(Path.Combine(Directory, "node_modules", "@grpc", "grpc-js-xds", "package.json")))
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

    /// <summary>Starts <c>backend.js --name NAME</c> on a free port.</summary>
    public static async Task<NodeBackend> StartBackendAsync(string name)
    {
        await EnsureInstalledAsync();
        var info = new ProcessStartInfo("node") { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])["backend.js", "--name", name, "--port", "0"])
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start node backend.js");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(ControlPlaneTestBackend.Timeout);
        if (line is null)
        {
            Assert.Fail($"backend.js {name} exited: {await process.StandardError.ReadToEndAsync()}");
        }

        using var document = JsonDocument.Parse(line!);
        return new NodeBackend(name, document.RootElement.GetProperty("port").GetInt32(), process);
    }

    /// <summary>Makes <paramref name="calls"/> calls through <c>xds:///target</c>; returns the answers by backend name, and failures as <c>failed</c>.</summary>
    public static async Task<Dictionary<string, int>> CallAsync(int xdsPort, string target, int calls, IReadOnlyDictionary<string, string>? metadata = null)
    {
        await EnsureInstalledAsync();
        var bootstrap = JsonSerializer.Serialize(new
        {
            xds_servers = new[] { new { server_uri = $"127.0.0.1:{xdsPort.ToString(CultureInfo.InvariantCulture)}", channel_creds = new[] { new { type = "insecure" } }, server_features = new[] { "xds_v3" } } },
            node = new { id = "grpc-js-xds", cluster = "interop", locality = new { zone = "local" } },
        });
        var args = new List<string> { "client.js", "--target", $"xds:///{target}", "--calls", calls.ToString(CultureInfo.InvariantCulture), "--concurrency", "10", "--rpc-timeout-ms", "10000" };
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            args.AddRange(["--metadata", $"{key}={value}"]);
        }

        var (code, output) = await RunAsync("node", args, new Dictionary<string, string> { ["GRPC_XDS_BOOTSTRAP_CONFIG"] = bootstrap }, TimeSpan.FromSeconds(60));
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("{\"ok\"", StringComparison.Ordinal));
        if (code != 0 || line is null)
        {
            Assert.Fail($"node client.js exited with {code} and no result line:\n{output}");
        }

        using var document = JsonDocument.Parse(line!);
        var result = new Dictionary<string, int>();
        foreach (var backend in document.RootElement.GetProperty("byBackend").EnumerateObject())
        {
            result[backend.Name] = backend.Value.GetInt32();
        }

        if (document.RootElement.GetProperty("failed").GetInt32() is > 0 and var failed)
        {
            result["failed"] = failed;
            TestContext.Out.WriteLine($"client.js errors: {document.RootElement.GetProperty("errors")}");
        }

        return result;
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, TimeSpan limit)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
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

        return (process.ExitCode, new StringBuilder().Append(await stdout).Append(await stderr).ToString());
    }

    private static string FindDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Mesh.Xds.Tests", "Interop", "node");
            if (File.Exists(Path.Combine(candidate, "client.js")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"the Node.js interop harness (tests/Mesh.Xds.Tests/Interop/node) was not found above {AppContext.BaseDirectory}");
    }

    /// <summary>A running <c>backend.js</c>; disposing stops it.</summary>
    internal sealed class NodeBackend(string name, int port, Process process) : IDisposable
    {
        public string Name { get; } = name;

        public int Port { get; } = port;

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }

            process.Dispose();
        }
    }
}
