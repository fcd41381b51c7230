using System.Diagnostics;
using System.Net;
using Mesh.LoadTest.Clients;

namespace Mesh.LoadTest.Load;

/// <summary>
/// Maximum throughput at fixed concurrency: <c>concurrency</c> loops each send the next request as soon as the last
/// is answered (body read), until the deadline. Nothing is allocated per request beyond what the client does.
/// </summary>
internal static class ClosedLoop
{
    public static async Task<LoadResult> RunAsync(Variant variant, int concurrency, TimeSpan duration, LatencyRecorder recorder, CancellationToken cancellationToken)
    {
        recorder.Reset();
        var results = new WorkerResult[concurrency];
        var start = Stopwatch.GetTimestamp();
        var deadline = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            workers[i] = WorkerAsync(variant, deadline, recorder, results, i, cancellationToken);
        }

        await Task.WhenAll(workers);
        long completed = 0, total = 0, errors = 0;
        string? firstError = null;
        foreach (var r in results)
        {
            completed += r.CompletedInWindow;
            total += r.Completed;
            errors += r.Errors;
            firstError ??= r.FirstError;
        }

        return new LoadResult
        {
            Completed = completed,
            CompletedTotal = total,
            Errors = errors,
            FirstError = firstError,
            Seconds = duration.TotalSeconds,
            Latency = recorder.Summarize(),
        };
    }

    private static async Task WorkerAsync(Variant variant, long deadline, LatencyRecorder recorder, WorkerResult[] results, int index, CancellationToken cancellationToken)
    {
        // Start every loop on the thread pool rather than one after another on the caller's thread.
        await Task.Yield();
        long completed = 0, inWindow = 0, errors = 0;
        string? firstError = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var begin = Stopwatch.GetTimestamp();
            if (begin >= deadline)
            {
                break;
            }

            var ok = false;
            try
            {
                // The client's Timeout (30 s) bounds every request; no token, so no per-request linked token in any variant.
                using var response = await variant.Client.GetAsync(variant.NextTarget(), CancellationToken.None);
                ok = response.StatusCode == HttpStatusCode.OK;
                if (!ok)
                {
                    firstError ??= $"HTTP {(int)response.StatusCode}";
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                firstError ??= ex.GetBaseException().Message;
            }

            var end = Stopwatch.GetTimestamp();
            if (ok)
            {
                completed++;
                inWindow += end <= deadline ? 1 : 0;
                recorder.Record(end - begin);
            }
            else
            {
                errors++;
            }
        }

        results[index] = new WorkerResult(completed, inWindow, errors, firstError);
    }

    private readonly record struct WorkerResult(long Completed, long CompletedInWindow, long Errors, string? FirstError);
}
