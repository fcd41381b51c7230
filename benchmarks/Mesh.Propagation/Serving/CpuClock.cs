using System.Runtime.InteropServices;

namespace Mesh.Propagation.Serving;

/// <summary>
/// This process's CPU time (user + system, all threads) from <c>clock_gettime(CLOCK_PROCESS_CPUTIME_ID)</c>: nanosecond
/// resolution, where <see cref="System.Diagnostics.Process.TotalProcessorTime"/> reads <c>/proc</c> in 10 ms ticks,
/// too coarse for one push to 100 clients.
/// </summary>
internal static partial class CpuClock
{
    private const int ClockProcessCpuTimeId = 2;

    public static long ProcessNanoseconds()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (long)(System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.Ticks * 100);
        }

        return ClockGetTime(ClockProcessCpuTimeId, out var time) == 0 ? (time.Seconds * 1_000_000_000L) + time.Nanoseconds : 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);
}
