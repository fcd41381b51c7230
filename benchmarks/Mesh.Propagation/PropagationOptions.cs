using System.Globalization;

namespace Mesh.Propagation;

/// <summary>The command line of the propagation benchmark.</summary>
internal sealed class PropagationOptions
{
    public const string Usage = """
        Usage: dotnet run -c Release --project benchmarks/Mesh.Propagation -- [options]

          --quick                 smoke run: 20 clients, 1 warm-up and 2 measured rounds per setting (under a minute)
          --clients 100,1000      client counts (default 100,1000)
          --debounce-ms 100,1     control-plane quiet periods to run with (default 100,1: the default and a small one)
          --rounds 10             measured rounds per setting (default 10)
          --warmup 2              unmeasured rounds first (default 2)
          --endpoints 1000        WorkloadEntries behind the service (default 1000)
          --repetitions 10        translation timings at server start (default 10)
          --out DIRECTORY         where the JSON and Markdown results go (default benchmarks/results)
          --help                  this text
        """;

    public bool Quick { get; private set; }

    public bool ShowHelp { get; private set; }

    public IReadOnlyList<int> Clients { get; private set; } = [100, 1000];

    public IReadOnlyList<double> DebounceMs { get; private set; } = [100, 1];

    public int Rounds { get; private set; } = 10;

    public int Warmup { get; private set; } = 2;

    public int Endpoints { get; private set; } = 1000;

    public int Repetitions { get; private set; } = 10;

    public string? OutputDirectory { get; private set; }

    public string Mode => Quick ? "quick" : "full";

    public static PropagationOptions Parse(IReadOnlyList<string> args)
    {
        var options = new PropagationOptions();
        var explicitClients = false;
        var explicitRounds = false;
        var explicitWarmup = false;
        var explicitRepetitions = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            switch (arg)
            {
                case "--quick": options.Quick = true; break;
                case "--help" or "-h": options.ShowHelp = true; break;
                case "--clients": options.Clients = List(Value(), static s => int.Parse(s, CultureInfo.InvariantCulture)); explicitClients = true; break;
                case "--debounce-ms": options.DebounceMs = List(Value(), static s => double.Parse(s, CultureInfo.InvariantCulture)); break;
                case "--rounds": options.Rounds = Positive(arg, Value()); explicitRounds = true; break;
                case "--warmup": options.Warmup = int.Parse(Value(), CultureInfo.InvariantCulture); explicitWarmup = true; break;
                case "--endpoints": options.Endpoints = Positive(arg, Value()); break;
                case "--repetitions": options.Repetitions = Positive(arg, Value()); explicitRepetitions = true; break;
                case "--out": options.OutputDirectory = Value(); break;
                default: throw new ArgumentException($"unknown argument '{arg}'");
            }
        }

        if (options.Quick)
        {
            options.Clients = explicitClients ? options.Clients : [20];
            options.Rounds = explicitRounds ? options.Rounds : 2;
            options.Warmup = explicitWarmup ? options.Warmup : 1;
            options.Repetitions = explicitRepetitions ? options.Repetitions : 3;
        }

        return options;
    }

    private static int Positive(string name, string value)
    {
        var parsed = int.Parse(value, CultureInfo.InvariantCulture);
        return parsed > 0 ? parsed : throw new ArgumentException($"{name} = {value}: must be positive");
    }

    private static List<T> List<T>(string value, Func<string, T> parse) =>
        [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(parse)];
}
