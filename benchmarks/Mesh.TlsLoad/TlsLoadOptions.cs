using System.Globalization;

namespace Mesh.TlsLoad;

/// <summary>The command line.</summary>
internal sealed record TlsLoadOptions
{
    public const string Usage = """
        Mesh.TlsLoad: mutual TLS against plain TLS with the same certificates, through a plain HttpClient and through the mesh.

          dotnet run -c Release --project benchmarks/Mesh.TlsLoad [-- options]

          --quick                  smoke check: 1 round of 1 s per variant after 0.5 s of warm-up (under a minute)
          --rounds N               measured rounds per variant, alternating between variants (default 8)
          --duration S             seconds per measurement (default 2)
          --warmup S               seconds of warm-up per variant before the rounds (default 2)
          --concurrency N          requests in flight in the steady-state section (default 32)
          --handshake-concurrency N  requests (= new connections) in flight in the handshake section (default 16)
          --sections LIST          steady,handshake (default both)
          --out DIR                where the reports go (default benchmarks/Mesh.TlsLoad/results under the repository)
          --help                   this text
        """;

    public bool Quick { get; init; }

    public int Rounds { get; init; } = 8;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    public int Concurrency { get; init; } = 32;

    public int HandshakeConcurrency { get; init; } = 16;

    public bool Steady { get; init; } = true;

    public bool Handshake { get; init; } = true;

    public string? Out { get; init; }

    public bool ShowHelp { get; init; }

    public string Mode => Quick ? "quick" : "full";

    public static TlsLoadOptions Parse(string[] args)
    {
        var options = new TlsLoadOptions();
        if (args.Contains("--quick"))
        {
            options = options with { Quick = true, Rounds = 1, Duration = TimeSpan.FromSeconds(1), Warmup = TimeSpan.FromSeconds(0.5) };
        }

        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            options = args[i] switch
            {
                "--quick" => options,
                "--help" or "-h" => options with { ShowHelp = true },
                "--rounds" => options with { Rounds = Positive(args[i], int.Parse(Next(), CultureInfo.InvariantCulture)) },
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Positive(args[i], double.Parse(Next(), CultureInfo.InvariantCulture))) },
                "--warmup" => options with { Warmup = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture)) },
                "--concurrency" => options with { Concurrency = Positive(args[i], int.Parse(Next(), CultureInfo.InvariantCulture)) },
                "--handshake-concurrency" => options with { HandshakeConcurrency = Positive(args[i], int.Parse(Next(), CultureInfo.InvariantCulture)) },
                "--sections" => Sections(options, Next()),
                "--out" => options with { Out = Next() },
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
        }

        return options;
    }

    private static TlsLoadOptions Sections(TlsLoadOptions options, string list)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = names.Where(n => n is not ("steady" or "handshake")).ToArray();
        return unknown.Length > 0
            ? throw new ArgumentException($"--sections {list}: unknown section(s) {string.Join(", ", unknown)}; expected steady, handshake")
            : options with { Steady = names.Contains("steady"), Handshake = names.Contains("handshake") };
    }

    private static T Positive<T>(string name, T value)
        where T : System.Numerics.INumber<T>
        => value > T.Zero ? value : throw new ArgumentException($"{name} = {value}: must be > 0");
}
