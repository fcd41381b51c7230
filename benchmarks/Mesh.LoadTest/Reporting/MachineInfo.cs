using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace Mesh.LoadTest.Reporting;

/// <summary>The machine the figures come from: they mean little without it.</summary>
internal sealed record MachineInfo(
    string CpuModel,
    int LogicalCores,
    string Memory,
    string Os,
    string Kernel,
    string Runtime,
    string Gc,
    string Nginx,
    string Yarp)
{
    public static MachineInfo Collect(string nginxVersion)
    {
        var cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
            // Not Linux: the runtime's description stays.
        }

        var memory = "unknown";
        try
        {
            var kb = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            memory = $"{double.Parse(kb, CultureInfo.InvariantCulture) / (1024 * 1024):F1} GiB";
        }
        catch (IOException)
        {
        }

        var os = RuntimeInformation.OSDescription;
        try
        {
            var pretty = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
            os = pretty is null ? os : pretty["PRETTY_NAME=".Length..].Trim('"');
        }
        catch (IOException)
        {
        }

        var kernel = RuntimeInformation.OSDescription;
        try
        {
            kernel = "Linux " + File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
        }

        var gc = $"{(GCSettings.IsServerGC ? "server" : "workstation")} {(GCSettings.LatencyMode == GCLatencyMode.Batch ? "non-concurrent" : "concurrent")} GC";
        var yarp = typeof(Yarp.ReverseProxy.Forwarder.IHttpForwarder).Assembly.GetName().Version?.ToString(3) ?? "?";
        return new MachineInfo(cpu, Environment.ProcessorCount, memory, os, kernel, RuntimeInformation.FrameworkDescription, gc, nginxVersion, $"Yarp.ReverseProxy {yarp}");
    }

    public override string ToString() =>
        $"{CpuModel}, {LogicalCores} logical cores, {Memory}; {Os} ({Kernel}); {Runtime}, {Gc}; {Nginx}; {Yarp}";
}
