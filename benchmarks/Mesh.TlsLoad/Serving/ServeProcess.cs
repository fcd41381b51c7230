using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Mesh.TlsLoad.Serving;

/// <summary>
/// The load test's handle on the server process: starts this same executable with <c>--serve</c>, hands it the
/// certificates, reads its ports, asks it for its counters, measures its CPU time, and stops it.
/// </summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reader;
    private TaskCompletionSource<string>? _pendingStats;

    private ServeProcess(Process process)
    {
        _process = process;
        _reader = Task.Run(ReadOutputAsync);
        _ = Task.Run(ForwardErrorsAsync);
    }

    public ServerPorts Ports { get; private set; } = null!;

    public int Pid => _process.Id;

    public static async Task<ServeProcess> StartAsync(Certificates certificates, TimeSpan maxLifetime, CancellationToken cancellationToken)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable to start the server process");
        var start = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // Started as "dotnet Mesh.TlsLoad.dll": the host needs the assembly again.
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(ServeProcess).Assembly.Location);
        }

        start.ArgumentList.Add(ServeCommand.Verb);
        start.ArgumentList.Add("--max-seconds");
        start.ArgumentList.Add(maxLifetime.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture));
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start '{self} {ServeCommand.Verb}'");
        var serve = new ServeProcess(process);
        try
        {
            await process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(certificates).AsMemory(), cancellationToken);
            await process.StandardInput.FlushAsync(cancellationToken);
            var line = await serve._ready.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            serve.Ports = JsonSerializer.Deserialize<ServerPorts>(line) ?? throw new InvalidOperationException($"the server process sent '{line}'");
            return serve;
        }
        catch
        {
            await serve.DisposeAsync();
            throw;
        }
    }

    /// <summary>The server process's CPU time so far.</summary>
    public TimeSpan CpuTime() => ProcStat.CpuTime(_process.Id);

    public async Task<ServerStats> GetStatsAsync(CancellationToken cancellationToken)
    {
        var pending = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _pendingStats = pending;
        }

        await _process.StandardInput.WriteLineAsync("stats".AsMemory(), cancellationToken);
        await _process.StandardInput.FlushAsync(cancellationToken);
        var line = await pending.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        return JsonSerializer.Deserialize<ServerStats>(line) ?? throw new InvalidOperationException($"the server process sent '{line}'");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _process.StandardInput.WriteLineAsync("quit");
                await _process.StandardInput.FlushAsync();
                _process.StandardInput.Close();
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or InvalidOperationException)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(static _ => { }, TaskScheduler.Default);
        _process.Dispose();
    }

    private async Task ReadOutputAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith(ServeCommand.ReadyPrefix, StringComparison.Ordinal))
            {
                _ready.TrySetResult(line[ServeCommand.ReadyPrefix.Length..]);
            }
            else if (line.StartsWith(ServeCommand.StatsPrefix, StringComparison.Ordinal))
            {
                TaskCompletionSource<string>? pending;
                lock (_lock)
                {
                    pending = _pendingStats;
                    _pendingStats = null;
                }

                pending?.TrySetResult(line[ServeCommand.StatsPrefix.Length..]);
            }
            else
            {
                await Console.Error.WriteLineAsync("[server] " + line);
            }
        }

        _ready.TrySetException(new InvalidOperationException($"the server process exited before reporting its ports (exit code {(_process.HasExited ? _process.ExitCode : -1)})"));
    }

    private async Task ForwardErrorsAsync()
    {
        while (await _process.StandardError.ReadLineAsync() is { } line)
        {
            await Console.Error.WriteLineAsync("[server] " + line);
        }
    }
}
