using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using Perfolizer.Horology;

namespace Mesh.Benchmarks;

/// <summary>The job every benchmark runs with unless the command line names another (<c>--job dry</c>, <c>--job short</c>).</summary>
internal static class BenchmarkConfig
{
    /// <summary>
    /// One process per benchmark, 3 warm-up and 10 measured iterations of 250 ms: the whole suite runs in
    /// about 5 minutes on 2 cores; BenchmarkDotNet's default job (up to 100 iterations each) takes several times longer.
    /// </summary>
    public static Job QuickJob { get; } = Job.Default
        .WithId("Quick")
        .WithLaunchCount(1)
        .WithWarmupCount(3)
        .WithIterationCount(10)
        .WithIterationTime(TimeInterval.FromMilliseconds(250))
        .AsDefault();

    public static IConfig Create(bool includeQuickJob)
    {
        var config = DefaultConfig.Instance
            .WithSummaryStyle(SummaryStyle.Default.WithMaxParameterColumnWidth(30));
        return includeQuickJob ? config.AddJob(QuickJob) : config;
    }
}
