using System.Globalization;

namespace Mesh.TlsLoad.Serving;

/// <summary>CPU time from <c>/proc</c>: one process's, and the whole machine's busy time (to tell how loaded it was).</summary>
internal static class ProcStat
{
    // USER_HZ is 100 on every Linux this runs on; sysconf would only confirm it.
    private const double TicksPerSecond = 100;

    /// <summary>User plus system CPU time of a process, or zero when it is gone or this is not Linux.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");

            // The command name may contain spaces; the fields start after the last ')': [11] utime, [12] stime.
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return TimeSpan.FromSeconds((long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>CPU time the whole machine has been busy (everything but idle and iowait), plus steal, from <c>/proc/stat</c>.</summary>
    public static TimeSpan MachineBusy()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var cpu = reader.ReadLine()?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (cpu is not { Length: > 8 } || cpu[0] != "cpu")
            {
                return TimeSpan.Zero;
            }

            long busy = 0;
            for (var i = 1; i <= 8; i++)
            {
                // user nice system idle iowait irq softirq steal
                if (i is not (4 or 5))
                {
                    busy += long.Parse(cpu[i], CultureInfo.InvariantCulture);
                }
            }

            return TimeSpan.FromSeconds(busy / TicksPerSecond);
        }
        catch (IOException)
        {
            return TimeSpan.Zero;
        }
    }
}
