using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mesh.LoadTest.Serving;

/// <summary>
/// A private nginx in front of the three backends: generated configuration, prefix, pid and logs in a temporary
/// directory, listening on 127.0.0.1 (one HTTP/1.1 port, one h2c port), round robin with upstream keep-alive over
/// HTTP/1.1. It runs in the foreground (<c>daemon off</c>) under <c>timeout</c>, so it cannot outlive the run even
/// if the load test is killed. Installed with apt-get when missing (root only).
/// </summary>
internal sealed class NginxHost : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _binary;
    private readonly string _directory;
    private readonly int[] _pids;

    private NginxHost(Process process, string binary, string directory, int http11, int http2, string version, int[] pids)
    {
        _process = process;
        _binary = binary;
        _directory = directory;
        Http11Port = http11;
        Http2Port = http2;
        Version = version;
        _pids = pids;
    }

    public int Http11Port { get; }

    public int Http2Port { get; }

    public string Version { get; }

    public int Port(HttpProtocol protocol) => protocol == HttpProtocol.Http11 ? Http11Port : Http2Port;

    /// <summary>The <c>timeout</c> wrapper, nginx's master and its workers.</summary>
    public IEnumerable<int> Pids => _pids.Append(_process.Id);

    /// <summary>Finds (or installs) nginx; null, with the reason written to <paramref name="log"/>, when it cannot run.</summary>
    public static async Task<string?> FindOrInstallAsync(bool install, TextWriter log, CancellationToken cancellationToken)
    {
        var binary = Find();
        if (binary is not null || !install)
        {
            if (binary is null)
            {
                await log.WriteLineAsync("nginx: not installed and --no-install given; the nginx variant is skipped");
            }

            return binary;
        }

        if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || !File.Exists("/usr/bin/apt-get"))
        {
            await log.WriteLineAsync("nginx: not installed, and apt-get as root is not available; install the Debian package 'nginx' (the nginx variant is skipped)");
            return null;
        }

        await log.WriteLineAsync("nginx: not installed; running apt-get update && apt-get install -y nginx");
        foreach (var args in new[] { "update -qq", "install -y -qq nginx" })
        {
            var (code, output) = await RunAsync("/usr/bin/apt-get", args, TimeSpan.FromMinutes(5), cancellationToken, ("DEBIAN_FRONTEND", "noninteractive"));
            if (code != 0)
            {
                await log.WriteLineAsync($"nginx: apt-get {args} failed ({code}): {Tail(output)}; the nginx variant is skipped");
                return null;
            }
        }

        return Find();
    }

    public static async Task<NginxHost> StartAsync(string binary, int[] backendHttp11Ports, TimeSpan maxLifetime, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("mesh-loadtest-nginx-").FullName;
        var http11 = FreePort();
        var http2 = FreePort();
        var conf = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(conf, Config(directory, http11, http2, backendHttp11Ports), cancellationToken);
        var errorLog = Path.Combine(directory, "error.log");
        var prefixArgs = $"-p {directory}/ -c {conf} -e {errorLog}";

        var (code, output) = await RunAsync(binary, "-v", TimeSpan.FromSeconds(10), cancellationToken);
        var version = code == 0 ? output.Trim().Replace("nginx version: ", "", StringComparison.Ordinal) : "nginx (version unknown)";
        (code, output) = await RunAsync(binary, "-t " + prefixArgs, TimeSpan.FromSeconds(10), cancellationToken);
        if (code != 0)
        {
            throw new InvalidOperationException($"nginx rejected its generated configuration {conf}: {Tail(output)}");
        }

        // "timeout" ends nginx (SIGTERM, then SIGKILL) if this run dies without stopping it.
        var start = new ProcessStartInfo("timeout")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in $"--kill-after=5 {maxLifetime.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)} {binary} {prefixArgs}".Split(' '))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start nginx");
        _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
        _ = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await WaitForPortAsync(http11, process, TimeSpan.FromSeconds(15), cancellationToken);
            await WaitForPortAsync(http2, process, TimeSpan.FromSeconds(15), cancellationToken);
            var master = int.Parse((await File.ReadAllTextAsync(Path.Combine(directory, "nginx.pid"), cancellationToken)).Trim(), CultureInfo.InvariantCulture);
            var pids = new List<int> { master };
            pids.AddRange(ProcStat.Children(master));
            return new NginxHost(process, binary, directory, http11, http2, version, [.. pids]);
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    /// <summary>CPU time of nginx's master and workers so far.</summary>
    public TimeSpan CpuTime()
    {
        var total = TimeSpan.Zero;
        foreach (var pid in _pids)
        {
            total += ProcStat.CpuTime(pid);
        }

        return total;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync(_binary, $"-p {_directory}/ -c {Path.Combine(_directory, "nginx.conf")} -e {Path.Combine(_directory, "error.log")} -s stop", TimeSpan.FromSeconds(10), CancellationToken.None);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
        }
        finally
        {
            _process.Dispose();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // The workers may still be closing files; a temporary directory left behind is harmless.
        }
    }

    private static string Config(string directory, int http11, int http2, int[] backends)
    {
        var upstream = new StringBuilder();
        foreach (var port in backends)
        {
            upstream.Append(CultureInfo.InvariantCulture, $"        server 127.0.0.1:{port};\n");
        }

        // keepalive_requests: nginx closes a keep-alive connection after 1000 requests by default (client side and
        // upstream), which would cost it a reconnect every 1000 requests; the other variants never reconnect.
        return $$"""
            daemon off;
            master_process on;
            worker_processes auto;
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;
            events {
                worker_connections 4096;
            }
            http {
                access_log off;
                client_body_temp_path {{directory}}/client_body;
                proxy_temp_path {{directory}}/proxy;
                fastcgi_temp_path {{directory}}/fastcgi;
                uwsgi_temp_path {{directory}}/uwsgi;
                scgi_temp_path {{directory}}/scgi;
                keepalive_requests 10000000;
                keepalive_timeout 300s;
                upstream backends {
            {{upstream}}        keepalive 128;
                    keepalive_requests 10000000;
                    keepalive_timeout 300s;
                }
                server {
                    listen 127.0.0.1:{{http11}};
                    listen 127.0.0.1:{{http2}} http2;
                    location / {
                        proxy_pass http://backends;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                    }
                }
            }

            """;
    }

    private static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/usr/local/sbin"))
        {
            var candidate = Path.Combine(dir, "nginx");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static async Task WaitForPortAsync(int port, Process process, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return;
            }
            catch (SocketException) when (Stopwatch.GetTimestamp() < deadline && !process.HasExited)
            {
                await Task.Delay(50, cancellationToken);
            }
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string args, TimeSpan timeout, CancellationToken cancellationToken, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} {args}: no answer within {timeout}");
        }

        return (process.ExitCode, (await stdout) + (await stderr));
    }

    private static string Tail(string output) => output.Length <= 400 ? output.Trim() : output[^400..].Trim();
}
