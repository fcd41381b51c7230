using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace Mesh.Propagation.Reporting;

/// <summary>The machine the figures come from: they mean little without it.</summary>
internal sealed record MachineInfo(string CpuModel, int LogicalCores, string Memory, string Os, string Kernel, string Runtime, string Gc)
{
    public static MachineInfo Collect()
    {
        var cpu = Read("/proc/cpuinfo", static lines => lines.FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()) ?? RuntimeInformation.ProcessArchitecture.ToString();
        var memory = Read("/proc/meminfo", static lines =>
        {
            var kb = lines.First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            return $"{double.Parse(kb, CultureInfo.InvariantCulture) / (1024 * 1024):F1} GiB";
        }) ?? "unknown";
        var os = Read("/etc/os-release", static lines => lines.FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"')) ?? RuntimeInformation.OSDescription;
        var kernel = Read("/proc/sys/kernel/osrelease", static lines => "Linux " + lines.First().Trim()) ?? RuntimeInformation.OSDescription;
        var gc = $"{(GCSettings.IsServerGC ? "server" : "workstation")} {(GCSettings.LatencyMode == GCLatencyMode.Batch ? "non-concurrent" : "concurrent")} GC";
        return new MachineInfo(cpu, Environment.ProcessorCount, memory, os, kernel, RuntimeInformation.FrameworkDescription, gc);
    }

    private static string? Read(string path, Func<IEnumerable<string>, string?> pick)
    {
        try
        {
            return pick(File.ReadLines(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return null;
        }
    }

    public override string ToString() => $"{CpuModel}, {LogicalCores} logical cores, {Memory}; {Os} ({Kernel}); {Runtime}, {Gc}";
}
