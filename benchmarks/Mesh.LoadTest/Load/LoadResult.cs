namespace Mesh.LoadTest.Load;

/// <summary>What one load run (closed or open loop) produced, before the resource figures are added.</summary>
internal sealed record LoadResult
{
    /// <summary>Requests answered 200 (the closed loop counts those answered before its deadline).</summary>
    public long Completed { get; init; }

    /// <summary>All requests answered 200, including the closed loop's tail after the deadline (the CPU and allocation divisor).</summary>
    public long CompletedTotal { get; init; }

    public long Errors { get; init; }

    public string? FirstError { get; init; }

    /// <summary>The measured window: the closed loop's duration, or the open loop's schedule.</summary>
    public double Seconds { get; init; }

    public LatencySummary Latency { get; init; } = new(0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Open loop: sends the schedule asked for.</summary>
    public long Scheduled { get; init; }

    /// <summary>Open loop: requests still unanswered when the drain timeout ended the run.</summary>
    public long Unfinished { get; init; }

    /// <summary>Open loop: how late the scheduler itself sent, at the 99th percentile and at most (µs); part of every latency.</summary>
    public double SendLagP99 { get; init; }

    public double SendLagMax { get; init; }

    /// <summary>Open loop: sends that had to wait for a free sender (the cap on requests in flight was reached).</summary>
    public long Saturated { get; init; }
}
