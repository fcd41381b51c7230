using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Mesh.Propagation.Serving;

/// <summary>
/// The benchmark's handle on the control-plane process: starts this executable with <c>--serve</c>, reads what it
/// reports, sends it one command at a time and waits for the reply.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly SemaphoreSlim _oneCommand = new(1, 1);
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reader;
    private TaskCompletionSource<string>? _pending;

    private ServerProcess(Process process)
    {
        _process = process;
        _reader = Task.Run(ReadOutputAsync);
        _ = Task.Run(ForwardErrorsAsync);
    }

    public ServerReady Ready { get; private set; } = null!;

    public static async Task<ServerProcess> StartAsync(int endpoints, double debounceMs, int repetitions, CancellationToken cancellationToken)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable to start the server process");
        var start = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // Started as "dotnet Mesh.Propagation.dll": the host needs the assembly again.
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(ServerProcess).Assembly.Location);
        }

        foreach (var arg in (string[])[
            ServeCommand.Verb,
            "--endpoints", endpoints.ToString(CultureInfo.InvariantCulture),
            "--debounce-ms", debounceMs.ToString(CultureInfo.InvariantCulture),
            "--repetitions", repetitions.ToString(CultureInfo.InvariantCulture),
            "--max-seconds", "1800"])
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start '{self} {ServeCommand.Verb}'");
        var server = new ServerProcess(process);
        try
        {
            var line = await server._ready.Task.WaitAsync(TimeSpan.FromSeconds(120), cancellationToken);
            server.Ready = JsonSerializer.Deserialize<ServerReady>(line) ?? throw new InvalidOperationException($"the server process sent '{line}'");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async Task<ServerChange> ChangeAsync(CancellationToken cancellationToken) => await SendAsync<ServerChange>("change", cancellationToken);

    public async Task<TimelineMarks> TimelineAsync(CancellationToken cancellationToken) => await SendAsync<TimelineMarks>("timeline", cancellationToken);

    public async Task<ServerStats> StatsAsync(bool collect, CancellationToken cancellationToken) => await SendAsync<ServerStats>(collect ? "stats gc" : "stats", cancellationToken);

    private async Task<T> SendAsync<T>(string command, CancellationToken cancellationToken)
    {
        await _oneCommand.WaitAsync(cancellationToken);
        try
        {
            var pending = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _pending, pending);
            await _process.StandardInput.WriteLineAsync(command.AsMemory(), cancellationToken);
            await _process.StandardInput.FlushAsync(cancellationToken);
            var line = await pending.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
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
            if (line.StartsWith(ServeCommand.ReadyPrefix, StringComparison.Ordinal))
            {
                _ready.TrySetResult(line[ServeCommand.ReadyPrefix.Length..]);
            }
            else if (line.StartsWith(ServeCommand.ReplyPrefix, StringComparison.Ordinal))
            {
                Interlocked.Exchange(ref _pending, null)?.TrySetResult(line[ServeCommand.ReplyPrefix.Length..]);
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
