using System.Collections.Concurrent;
using System.Globalization;

namespace Mesh.Http.Tests.Infrastructure;

/// <summary>
/// Concurrent loops that send requests through a mesh client until stopped. Before each request a loop
/// reads the published snapshot version and sends it in <see cref="TestBackend.TagHeader"/>, so a
/// backend can tell which requests were started after a given snapshot was published.
/// </summary>
internal sealed class LoadGenerator : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentDictionary<long, long> _completedByVersion = new();
    private readonly Task[] _loops;
    private long _completed;

    private LoadGenerator(HttpClient client, MeshState state, int concurrency)
    {
        _loops = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            _loops[i] = Task.Run(() => RunAsync(client, state));
        }
    }

    public long Completed => Interlocked.Read(ref _completed);

    public IReadOnlyList<string> Failures => [.. _failures];

    public static LoadGenerator Start(HttpClient client, MeshState state, int concurrency) => new(client, state, concurrency);

    /// <summary>Successful requests started when the published version was at least <paramref name="version"/>.</summary>
    public long CompletedSince(long version)
    {
        long total = 0;
        foreach (var (v, count) in _completedByVersion)
        {
            total += v >= version ? count : 0;
        }

        return total;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().WaitAsync(Timeouts.Default);
        await Task.WhenAll(_loops).WaitAsync(Timeouts.Default);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private async Task RunAsync(HttpClient client, MeshState state)
    {
        while (!_stop.IsCancellationRequested)
        {
            var version = state.Current.Version;
            using var request = new HttpRequestMessage(HttpMethod.Get, "/work");
            request.Headers.Add(TestBackend.TagHeader, version.ToString(CultureInfo.InvariantCulture));
            try
            {
                // Not cancelled by _stop: a request cut short by the test would look like a failure.
                using var response = await client.SendAsync(request).WaitAsync(Timeouts.Default);
                if (!response.IsSuccessStatusCode)
                {
                    _failures.Enqueue($"v{version}: status {(int)response.StatusCode} from {string.Join(",", response.Headers.TryGetValues(TestBackend.IdHeader, out var id) ? id : [])}");
                    continue;
                }

                _completedByVersion.AddOrUpdate(version, 1, static (_, c) => c + 1);
                Interlocked.Increment(ref _completed);
            }
            catch (Exception ex)
            {
                _failures.Enqueue($"v{version}: {ex}");
            }
        }
    }
}
