using System.Globalization;
using System.Runtime.InteropServices;

namespace Mesh.LoadTest.Serving;

/// <summary>CPU time of other processes (the server process, nginx's master and workers) from <c>/proc/PID/stat</c>.</summary>
internal static partial class ProcStat
{
    private const int ScClkTck = 2;

    private static readonly long TicksPerSecond = OperatingSystem.IsLinux() ? Math.Max(1, SysConf(ScClkTck)) : 100;

    /// <summary>User plus system CPU time of a process, or zero when it is gone.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var fields = ReadFields(pid);
        if (fields is null)
        {
            return TimeSpan.Zero;
        }

        // Fields after "(comm)": [0] state, [1] ppid, ..., [11] utime, [12] stime (proc(5): fields 14 and 15).
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((double)ticks / TicksPerSecond);
    }

    /// <summary>
    /// CPU time used so far by the user-space processes of the machine other than <paramref name="ours"/> (kernel
    /// threads are left out: they mostly carry our own loopback traffic). Processes that exit between two readings
    /// drop out of the sum, so a difference may undercount, never overcount.
    /// </summary>
    public static TimeSpan OtherProcessesCpu(IReadOnlySet<int> ours)
    {
        const long KernelThread = 0x00200000; // PF_KTHREAD
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || ours.Contains(pid)
                || ReadFields(pid) is not { } fields
                || (long.Parse(fields[6], CultureInfo.InvariantCulture) & KernelThread) != 0)
            {
                continue;
            }

            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }

        return TimeSpan.FromSeconds((double)ticks / TicksPerSecond);
    }

    /// <summary>CPU time the hypervisor gave to other guests instead of this machine (steal, from <c>/proc/stat</c>), or zero.</summary>
    public static TimeSpan StealTime()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var cpu = reader.ReadLine()?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return cpu is { Length: > 8 } && cpu[0] == "cpu"
                ? TimeSpan.FromSeconds((double)long.Parse(cpu[8], CultureInfo.InvariantCulture) / TicksPerSecond)
                : TimeSpan.Zero;
        }
        catch (IOException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>The processes whose parent is <paramref name="pid"/>.</summary>
    public static List<int> Children(int pid)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var candidate)
                && ReadFields(candidate) is { } fields
                && fields[1] == pid.ToString(CultureInfo.InvariantCulture))
            {
                children.Add(candidate);
            }
        }

        return children;
    }

    private static string[]? ReadFields(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // The command name may contain spaces and parentheses; the fields start after the last ')'.
        var end = text.LastIndexOf(')');
        return end < 0 ? null : text[(end + 2)..].Split(' ');
    }

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long SysConf(int name);
}
