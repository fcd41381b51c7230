using BenchmarkDotNet.Running;
using Mesh.Benchmarks;

// dotnet run -c Release --project benchmarks/Mesh.Benchmarks -- --filter '*'
// Any BenchmarkDotNet option works after "--": --list flat, --job dry, --filter '*Pick*', --anyCategories Handler.
// A job named on the command line replaces the quick default job (BenchmarkDotNet would otherwise keep ours as the base).
var jobGiven = Array.Exists(args, a => a is "--job" or "-j" || a.StartsWith("--job=", StringComparison.Ordinal));
BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, BenchmarkConfig.Create(includeQuickJob: !jobGiven));
