using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace Mesh.TlsLoad.Reporting;

/// <summary>The machine the figures come from: they mean little without it.</summary>
internal sealed record MachineInfo(string CpuModel, int LogicalCores, string Memory, string Os, string Runtime, string Gc, string OpenSsl)
{
    public static MachineInfo Collect(string? openSsl)
    {
        var cpu = Read("/proc/cpuinfo", l => l.StartsWith("model name", StringComparison.Ordinal) ? l.Split(':', 2)[1].Trim() : null) ?? RuntimeInformation.ProcessArchitecture.ToString();
        var memory = Read("/proc/meminfo", l => l.StartsWith("MemTotal:", StringComparison.Ordinal)
            ? $"{double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / (1024 * 1024):F1} GiB"
            : null) ?? "unknown";
        var os = Read("/etc/os-release", l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal) ? l["PRETTY_NAME=".Length..].Trim('"') : null) ?? RuntimeInformation.OSDescription;
        var gc = $"{(GCSettings.IsServerGC ? "server" : "workstation")} {(GCSettings.LatencyMode == GCLatencyMode.Batch ? "non-concurrent" : "concurrent")} GC";
        return new MachineInfo(cpu, Environment.ProcessorCount, memory, os, RuntimeInformation.FrameworkDescription, gc, openSsl ?? "OpenSSL version unknown");
    }

    /// <summary>The 1, 5 and 15 minute load averages, or "?".</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }

    public override string ToString() => $"{CpuModel}, {LogicalCores} logical cores, {Memory}; {Os}; {Runtime}, {Gc}; {OpenSsl}";

    private static string? Read(string path, Func<string, string?> pick)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (pick(line) is { } value)
                {
                    return value;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }
}
