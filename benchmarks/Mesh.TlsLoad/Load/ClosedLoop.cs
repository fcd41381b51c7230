using System.Diagnostics;
using System.Net;
using Mesh.TlsLoad.Clients;

namespace Mesh.TlsLoad.Load;

/// <summary>
/// Maximum throughput at fixed concurrency: <c>concurrency</c> loops each send the next request as soon as the last
/// is answered (body read), until the deadline.
/// </summary>
internal static class ClosedLoop
{
    public static async Task<LoadResult> RunAsync(Variant variant, int concurrency, TimeSpan duration, LatencyRecorder recorder, CancellationToken cancellationToken)
    {
        recorder.Reset();
        var results = new WorkerResult[concurrency];
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            workers[i] = WorkerAsync(variant, deadline, recorder, results, i, cancellationToken);
        }

        await Task.WhenAll(workers);
        long completed = 0, errors = 0;
        string? firstError = null;
        foreach (var r in results)
        {
            completed += r.CompletedInWindow;
            errors += r.Errors;
            firstError ??= r.FirstError;
        }

        return new LoadResult(completed, errors, firstError, duration.TotalSeconds, recorder.Summarize());
    }

    private static async Task WorkerAsync(Variant variant, long deadline, LatencyRecorder recorder, WorkerResult[] results, int index, CancellationToken cancellationToken)
    {
        // Start every loop on the thread pool rather than one after another on the caller's thread.
        await Task.Yield();
        long inWindow = 0, errors = 0;
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
                // The client's Timeout (30 s) bounds every request.
                using var response = await variant.Client.GetAsync(variant.Target, CancellationToken.None);
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
                if (end <= deadline)
                {
                    inWindow++;
                    recorder.Record(end - begin);
                }
            }
            else
            {
                errors++;
            }
        }

        results[index] = new WorkerResult(inWindow, errors, firstError);
    }

    private readonly record struct WorkerResult(long CompletedInWindow, long Errors, string? FirstError);
}

/// <summary>One measurement's outcome: requests completed within the window, errors, latency.</summary>
internal sealed record LoadResult(long Completed, long Errors, string? FirstError, double Seconds, LatencySummary Latency)
{
    public double PerSecond => Completed / Seconds;
}
