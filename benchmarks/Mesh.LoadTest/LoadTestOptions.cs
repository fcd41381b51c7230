using System.Globalization;

namespace Mesh.LoadTest;

/// <summary>The command line of the load test; every figure has a default for the full and for the quick mode.</summary>
internal sealed class LoadTestOptions
{
    public const string Usage = """
        Mesh.LoadTest: end-to-end throughput, latency, CPU and allocations of plain HttpClient, the mesh, nginx and YARP.

        usage: dotnet run -c Release --project benchmarks/Mesh.LoadTest [-- options]

          --quick                 smoke check: 1 round of 1 s per variant and mode (under a minute)
          --rounds N              measured rounds per mode (full: 3)
          --duration SECONDS      measured time per variant per round (full: 5)
          --warmup SECONDS        warm-up before each measurement (full: 1)
          --concurrency N         closed-loop requests in flight (32)
          --load FRACTION         open-loop rate as a fraction of plain's max throughput (0.5)
          --rate REQ_PER_S        open-loop rate in requests per second instead (same for every protocol)
          --protocols LIST        h1,h2 (both)
          --variants LIST         plain,mesh,mesh-full,nginx,yarp (all; plain is always run: it is the baseline);
                                  plain-rr (diagnostic, only when listed): plain HttpClient rotating over the 3 backends
          --out DIRECTORY         where the JSON and Markdown results go (benchmarks/Mesh.LoadTest/results)
          --no-install            do not apt-get install nginx when it is missing (the nginx variant is then skipped)
          --noise-budget SECONDS  time the run may spend redoing measurements that other processes disturbed (used 5 % or
                                  more of the machine), after waiting for a quiet moment (full: 600, quick: 20; 0: never)
          --alloc-profile         instead of the test: sample allocations by type (GC AllocationTick) per variant
          --soak VARIANT          instead of the test: run only VARIANT's closed loop for --duration (first protocol), for a
                                  profiler to attach to the client process (e.g. perf with DOTNET_PerfMapEnabled=1)
          --help
        """;

    public bool Quick { get; private set; }

    public bool ShowHelp { get; private set; }

    public int Rounds { get; private set; } = 3;

    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(5);

    public TimeSpan Warmup { get; private set; } = TimeSpan.FromSeconds(1);

    /// <summary>The first warm-up of each variant and protocol (JIT tiering, dynamic PGO, connection pools).</summary>
    public TimeSpan InitialWarmup { get; private set; } = TimeSpan.FromSeconds(2);

    public int Concurrency { get; private set; } = 32;

    public double LoadFraction { get; private set; } = 0.5;

    public double? FixedRate { get; private set; }

    /// <summary>Open loop: send on the scheduler thread (inline) or hand each send to the thread pool.</summary>
    public bool InlineDispatch { get; private set; } = true;

    public IReadOnlyList<HttpProtocol> Protocols { get; private set; } = [HttpProtocol.Http11, HttpProtocol.Http2];

    public IReadOnlyList<VariantKind> Variants { get; private set; } = Enum.GetValues<VariantKind>().Where(v => v != VariantKind.PlainRoundRobin).ToArray();

    public string? OutputDirectory { get; private set; }

    public bool InstallNginx { get; private set; } = true;

    /// <summary>How long the run may spend in total waiting for quiet and redoing disturbed measurements.</summary>
    public TimeSpan NoiseBudget { get; private set; } = TimeSpan.FromSeconds(600);

    /// <summary>A measurement during which other processes used this share of the machine or more is disturbed.</summary>
    public double NoiseThreshold { get; private set; } = 0.05;

    public bool AllocationProfile { get; private set; }

    public VariantKind? Soak { get; private set; }

    /// <summary>Requests the open loop may have in flight; beyond it the schedule waits, and the wait counts as latency.</summary>
    public int MaxOutstanding { get; private set; } = 2048;

    /// <summary>How long the open loop waits for requests still in flight when its schedule ends.</summary>
    public TimeSpan DrainTimeout { get; private set; } = TimeSpan.FromSeconds(10);

    public static LoadTestOptions Parse(string[] args)
    {
        var o = new LoadTestOptions();
        var explicitDuration = false;
        var explicitRounds = false;
        var explicitWarmup = false;
        var explicitNoise = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "--quick":
                    o.Quick = true;
                    break;
                case "--help" or "-h":
                    o.ShowHelp = true;
                    break;
                case "--rounds":
                    o.Rounds = ParseInt(arg, Next(args, ref i), 1, 100);
                    explicitRounds = true;
                    break;
                case "--duration":
                    o.Duration = ParseSeconds(arg, Next(args, ref i), 0.2, 600);
                    explicitDuration = true;
                    break;
                case "--warmup":
                    o.Warmup = ParseSeconds(arg, Next(args, ref i), 0, 600);
                    explicitWarmup = true;
                    break;
                case "--concurrency":
                    o.Concurrency = ParseInt(arg, Next(args, ref i), 1, 4096);
                    break;
                case "--load":
                    o.LoadFraction = ParseDouble(arg, Next(args, ref i), 0.01, 2);
                    break;
                case "--rate":
                    o.FixedRate = ParseDouble(arg, Next(args, ref i), 1, 10_000_000);
                    break;
                case "--open-dispatch":
                    var dispatch = Next(args, ref i);
                    o.InlineDispatch = dispatch switch
                    {
                        "inline" => true,
                        "pool" => false,
                        _ => throw new ArgumentException($"--open-dispatch: '{dispatch}' is not inline or pool"),
                    };
                    break;
                case "--protocols":
                    o.Protocols = ParseList(arg, Next(args, ref i), HttpProtocolNames.Parse);
                    break;
                case "--variants":
                    var variants = ParseList(arg, Next(args, ref i), VariantNames.Parse);
                    o.Variants = Enum.GetValues<VariantKind>().Where(v => v == VariantKind.Plain || variants.Contains(v)).ToArray();
                    break;
                case "--out":
                    o.OutputDirectory = Next(args, ref i);
                    break;
                case "--noise-budget":
                    o.NoiseBudget = ParseSeconds(arg, Next(args, ref i), 0, 7200);
                    explicitNoise = true;
                    break;
                case "--no-install":
                    o.InstallNginx = false;
                    break;
                case "--alloc-profile":
                    o.AllocationProfile = true;
                    break;
                case "--soak":
                    var soak = Next(args, ref i);
                    o.Soak = VariantNames.Parse(soak) ?? throw new ArgumentException($"--soak: unknown variant '{soak}'");
                    o.Variants = Enum.GetValues<VariantKind>().Where(v => v == o.Soak).ToArray();
                    break;
                default:
                    throw new ArgumentException($"unknown option '{arg}'");
            }
        }

        if (o.Quick)
        {
            o.Rounds = explicitRounds ? o.Rounds : 1;
            o.Duration = explicitDuration ? o.Duration : TimeSpan.FromSeconds(1);
            o.Warmup = explicitWarmup ? o.Warmup : TimeSpan.FromSeconds(0.25);
            o.InitialWarmup = TimeSpan.FromSeconds(0.5);
            o.DrainTimeout = TimeSpan.FromSeconds(3);
            o.NoiseBudget = explicitNoise ? o.NoiseBudget : TimeSpan.FromSeconds(20);
        }

        return o;
    }

    /// <summary>An upper bound of the whole run, for the watchdogs of the child processes.</summary>
    public TimeSpan EstimatedRunTime()
    {
        var perMeasurement = Warmup + Duration;
        var perProtocol = (InitialWarmup * Variants.Count) + (perMeasurement * Variants.Count * Rounds * 2) + (DrainTimeout * Variants.Count * Rounds);
        return (perProtocol * Protocols.Count) + NoiseBudget;
    }

    private static string Next(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new ArgumentException($"option '{args[i - 1]}' needs a value");

    private static int ParseInt(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} = '{value}': must be an integer from {min} to {max}");

    private static double ParseDouble(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d >= min && d <= max
            ? d
            : throw new ArgumentException($"{name} = '{value}': must be a number from {min} to {max}");

    private static TimeSpan ParseSeconds(string name, string value, double min, double max) =>
        TimeSpan.FromSeconds(ParseDouble(name, value, min, max));

    private static T[] ParseList<T>(string name, string value, Func<string, T?> parse)
        where T : struct
    {
        var items = new List<T>();
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            items.Add(parse(part) ?? throw new ArgumentException($"{name}: unknown value '{part}'"));
        }

        return items.Count > 0 ? items.Distinct().ToArray() : throw new ArgumentException($"{name}: empty list");
    }
}

/// <summary>The HTTP version the client speaks (to the backends, or to the proxy hop).</summary>
internal enum HttpProtocol
{
    Http11,
    Http2,
}

internal static class HttpProtocolNames
{
    public static HttpProtocol? Parse(string s) => s.ToLowerInvariant() switch
    {
        "h1" or "http1" or "http1.1" or "http/1.1" => HttpProtocol.Http11,
        "h2" or "h2c" or "http2" or "http/2" => HttpProtocol.Http2,
        _ => null,
    };

    public static string Label(this HttpProtocol p) => p == HttpProtocol.Http11 ? "HTTP/1.1" : "HTTP/2 (h2c)";

    public static string Key(this HttpProtocol p) => p == HttpProtocol.Http11 ? "h1" : "h2";

    public static Version Version(this HttpProtocol p) => p == HttpProtocol.Http11 ? System.Net.HttpVersion.Version11 : System.Net.HttpVersion.Version20;
}

/// <summary>The variants, in the order they alternate within a round; the first is the baseline of every ratio.</summary>
internal enum VariantKind
{
    /// <summary>1: a plain HttpClient straight to one backend address.</summary>
    Plain,

    /// <summary>2: the mesh with routing and load balancing only (no resilience settings, nobody listening to its meter).</summary>
    Mesh,

    /// <summary>3: the mesh with route timeout, retries with per-try timeout, outlier detection, the circuit breaker and its meter listened to.</summary>
    MeshFull,

    /// <summary>4: a plain HttpClient through a local nginx in front of the three backends.</summary>
    Nginx,

    /// <summary>5: a plain HttpClient through YARP (in the server process) in front of the three backends.</summary>
    Yarp,

    /// <summary>
    /// Diagnostic, not run unless asked for: a plain HttpClient that rotates over the three backend addresses itself,
    /// so that what spreading over three backends (connections, batching) costs can be told from what the mesh's code costs.
    /// </summary>
    PlainRoundRobin,
}

internal static class VariantNames
{
    public static VariantKind? Parse(string s) => s.ToLowerInvariant() switch
    {
        "plain" or "1" => VariantKind.Plain,
        "mesh" or "2" => VariantKind.Mesh,
        "mesh-full" or "full" or "3" => VariantKind.MeshFull,
        "nginx" or "4" => VariantKind.Nginx,
        "yarp" or "5" => VariantKind.Yarp,
        "plain-rr" => VariantKind.PlainRoundRobin,
        _ => null,
    };

    public static string Key(this VariantKind v) => v switch
    {
        VariantKind.Plain => "plain",
        VariantKind.Mesh => "mesh",
        VariantKind.MeshFull => "mesh-full",
        VariantKind.Nginx => "nginx",
        VariantKind.Yarp => "yarp",
        _ => "plain-rr",
    };

    public static string Label(this VariantKind v) => v switch
    {
        VariantKind.Plain => "1 plain HttpClient → 1 backend",
        VariantKind.Mesh => "2 mesh: routing + LB",
        VariantKind.MeshFull => "3 mesh: full pipeline",
        VariantKind.Nginx => "4 nginx hop",
        VariantKind.Yarp => "5 YARP hop",
        _ => "(diagnostic) plain HttpClient, round robin over 3 backends",
    };
}
