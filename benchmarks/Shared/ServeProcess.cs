using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Mesh.Benchmarking;

/// <summary>
/// The line protocol between a benchmark harness and its server process: the harness starts its own executable with
/// <see cref="Verb"/> and the server's arguments, the server prints <see cref="ReadyPrefix"/> + JSON once listening,
/// answers each command line on standard input with <see cref="ReplyPrefix"/> + JSON, and exits on <c>quit</c> or
/// when its standard input closes.
/// </summary>
internal static class ServeProtocol
{
    public const string Verb = "--serve";
    public const string ReadyPrefix = "READY ";
    public const string ReplyPrefix = "REPLY ";

    /// <summary>The arguments that bound the server's lifetime, so a harness that dies never leaves it running.</summary>
    public static string[] MaxSeconds(TimeSpan lifetime) => ["--max-seconds", lifetime.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)];
}

/// <summary>
/// A benchmark harness's handle on its server process (so the client's CPU time and allocations are its own): starts
/// this same executable with <see cref="ServeProtocol.Verb"/>, optionally hands it one line of input, reads what it
/// reports when ready, sends it one command at a time and waits for the reply, and stops it. Its CPU time is read by
/// the caller from <see cref="Pid"/>.
/// </summary>
internal sealed class ServeProcess<TReady> : IAsyncDisposable
{
    private readonly Process _process;
    private readonly SemaphoreSlim _oneCommand = new(1, 1);
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reader;
    private TaskCompletionSource<string>? _pending;

    private ServeProcess(Process process)
    {
        _process = process;
        _reader = Task.Run(ReadOutputAsync);
        _ = Task.Run(ForwardErrorsAsync);
    }

    /// <summary>What the server reported when it was ready (its ports, ...).</summary>
    public TReady Ready { get; private set; } = default!;

    public int Pid => _process.Id;

    /// <summary>
    /// Starts the server process with <paramref name="arguments"/> after the verb; <paramref name="input"/>, when given,
    /// is its first line of standard input; waits <paramref name="readyTimeout"/> at most for it to be ready.
    /// </summary>
    public static async Task<ServeProcess<TReady>> StartAsync(IEnumerable<string> arguments, string? input, TimeSpan readyTimeout, CancellationToken cancellationToken)
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
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start '{self} {ServeProtocol.Verb}'");
        var serve = new ServeProcess<TReady>(process);
        try
        {
            if (input is not null)
            {
                await process.StandardInput.WriteLineAsync(input.AsMemory(), cancellationToken);
                await process.StandardInput.FlushAsync(cancellationToken);
            }

            var line = await serve._ready.Task.WaitAsync(readyTimeout, cancellationToken);
            serve.Ready = JsonSerializer.Deserialize<TReady>(line) ?? throw new InvalidOperationException($"the server process sent '{line}'");
            return serve;
        }
        catch
        {
            await serve.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends <paramref name="command"/> and waits <paramref name="timeout"/> at most for its reply; one command at a time.</summary>
    public async Task<T> RequestAsync<T>(string command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await _oneCommand.WaitAsync(cancellationToken);
        try
        {
            var pending = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _pending, pending);
            await _process.StandardInput.WriteLineAsync(command.AsMemory(), cancellationToken);
            await _process.StandardInput.FlushAsync(cancellationToken);
            var line = await pending.Task.WaitAsync(timeout, cancellationToken);
            return JsonSerializer.Deserialize<T>(line) ?? throw new InvalidOperationException($"the server process replied '{line}' to '{command}'");
        }
        finally
        {
            _oneCommand.Release();
        }
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

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or InvalidOperationException)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(static _ => { }, TaskScheduler.Default);
        _process.Dispose();
        _oneCommand.Dispose();
    }

    private async Task ReadOutputAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith(ServeProtocol.ReadyPrefix, StringComparison.Ordinal))
            {
                _ready.TrySetResult(line[ServeProtocol.ReadyPrefix.Length..]);
            }
            else if (line.StartsWith(ServeProtocol.ReplyPrefix, StringComparison.Ordinal))
            {
                Interlocked.Exchange(ref _pending, null)?.TrySetResult(line[ServeProtocol.ReplyPrefix.Length..]);
            }
            else
            {
                await Console.Error.WriteLineAsync("[server] " + line);
            }
        }

        var exited = new InvalidOperationException($"the server process exited (exit code {(_process.HasExited ? _process.ExitCode : -1)})");
        _ready.TrySetException(exited);
        Interlocked.Exchange(ref _pending, null)?.TrySetException(exited);
    }

    private async Task ForwardErrorsAsync()
    {
        while (await _process.StandardError.ReadLineAsync() is { } line)
        {
            await Console.Error.WriteLineAsync("[server] " + line);
        }
    }
}
