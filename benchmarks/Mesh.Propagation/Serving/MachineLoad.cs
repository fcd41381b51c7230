using System.Globalization;

namespace Mesh.Propagation.Serving;

/// <summary>
/// How busy the machine was apart from the benchmark's two processes: busy CPU time of the whole machine
/// (<c>/proc/stat</c>, kernel work included) minus both processes' own CPU time. Loopback networking done by the
/// kernel on the benchmark's behalf lands partly outside the processes, so the share slightly overstates others.
/// </summary>
internal static class MachineLoad
{
    private static readonly double TicksPerSecond = 100; // USER_HZ, 100 on every Linux the runtime supports

    /// <summary>Busy CPU time of the whole machine so far, in nanoseconds (0 when /proc/stat is unreadable).</summary>
    public static long BusyNanoseconds()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var fields = reader.ReadLine()?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields is not { Length: > 8 } || fields[0] != "cpu")
            {
                return 0;
            }

            // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
            long ticks = 0;
            foreach (var i in (ReadOnlySpan<int>)[1, 2, 3, 6, 7, 8])
            {
                ticks += long.Parse(fields[i], CultureInfo.InvariantCulture);
            }

            return (long)(ticks / TicksPerSecond * 1e9);
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
