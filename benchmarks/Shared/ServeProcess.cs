using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Mesh.Benchmarking;

/// <summary>
/// The line protocol between a load harness and its server process: the harness starts its own executable with
/// <see cref="Verb"/>, the server prints <see cref="ReadyPrefix"/> + its ports as JSON once listening, answers a
/// <c>stats</c> line on standard input with <see cref="StatsPrefix"/> + JSON, and exits on <c>quit</c> or when its
/// standard input closes.
/// </summary>
internal static class ServeProtocol
{
    public const string Verb = "--serve";
    public const string ReadyPrefix = "READY ";
    public const string StatsPrefix = "STATS ";
}

/// <summary>
/// A load harness's handle on its server process (so the client's CPU time and allocations are its own): starts this
/// same executable with <see cref="ServeProtocol.Verb"/>, optionally hands it one line of input, reads the ports it
/// reports, asks it for its counters, and stops it. Its CPU time is read by the caller from <see cref="Pid"/>.
/// </summary>
internal sealed class ServeProcess<TPorts> : IAsyncDisposable
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

    public TPorts Ports { get; private set; } = default!;

    public int Pid => _process.Id;

    /// <summary>Starts the server process; <paramref name="input"/>, when given, is its first line of standard input.</summary>
    public static async Task<ServeProcess<TPorts>> StartAsync(string? input, TimeSpan maxLifetime, CancellationToken cancellationToken)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable to start the server process");
        var start = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // Started as "dotnet Harness.dll": the host needs the assembly again.
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        }

        start.ArgumentList.Add(ServeProtocol.Verb);
        start.ArgumentList.Add("--max-seconds");
        start.ArgumentList.Add(maxLifetime.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture));
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start '{self} {ServeProtocol.Verb}'");
        var serve = new ServeProcess<TPorts>(process);
        try
        {
            if (input is not null)
            {
                await process.StandardInput.WriteLineAsync(input.AsMemory(), cancellationToken);
                await process.StandardInput.FlushAsync(cancellationToken);
            }

            var line = await serve._ready.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            serve.Ports = JsonSerializer.Deserialize<TPorts>(line) ?? throw new InvalidOperationException($"the server process sent '{line}'");
            return serve;
        }
        catch
        {
            await serve.DisposeAsync();
            throw;
        }
    }

    /// <summary>Asks the server process for its counters.</summary>
    public async Task<TStats> GetStatsAsync<TStats>(CancellationToken cancellationToken)
    {
        var pending = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _pendingStats = pending;
        }

        await _process.StandardInput.WriteLineAsync("stats".AsMemory(), cancellationToken);
        await _process.StandardInput.FlushAsync(cancellationToken);
        var line = await pending.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        return JsonSerializer.Deserialize<TStats>(line) ?? throw new InvalidOperationException($"the server process sent '{line}'");
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
            if (line.StartsWith(ServeProtocol.ReadyPrefix, StringComparison.Ordinal))
            {
                _ready.TrySetResult(line[ServeProtocol.ReadyPrefix.Length..]);
            }
            else if (line.StartsWith(ServeProtocol.StatsPrefix, StringComparison.Ordinal))
            {
                TaskCompletionSource<string>? pending;
                lock (_lock)
                {
                    pending = _pendingStats;
                    _pendingStats = null;
                }

                pending?.TrySetResult(line[ServeProtocol.StatsPrefix.Length..]);
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
