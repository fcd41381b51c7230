using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Mesh.LoadTest.Load;

/// <summary>
/// Sleeps until a <see cref="Stopwatch"/> timestamp with microsecond-level precision and no spinning (spinning would
/// burn the CPU the client is measured on): <c>nanosleep</c> with the thread's timer slack lowered from Linux's
/// default 50 µs to 1 ns. Elsewhere it falls back to <see cref="Thread.Sleep(int)"/> and yields.
/// </summary>
internal static partial class PreciseSleep
{
    private const int PrSetTimerSlack = 29;

    /// <summary>Lowers the calling thread's timer slack (Linux), so that its sleeps end when asked.</summary>
    public static void ReduceTimerSlack()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = Prctl(PrSetTimerSlack, 1, 0, 0, 0);
        }
    }

    /// <summary>
    /// Raises the calling thread's scheduling priority (Linux nice -10, which needs root; otherwise nothing changes),
    /// so that a load generator's clock is not kept waiting behind the work it generates.
    /// </summary>
    public static bool RaisePriority()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        const int PrioProcess = 0;
        return SetPriority(PrioProcess, GetTid(), -10) == 0;
    }

    public static void SleepUntil(long timestamp)
    {
        while (true)
        {
            var remaining = timestamp - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return;
            }

            Sleep(remaining);
        }
    }

    /// <summary>Sleeps about <paramref name="ticks"/> <see cref="Stopwatch"/> ticks (possibly less, when interrupted).</summary>
    public static unsafe void Sleep(long ticks)
    {
        if (OperatingSystem.IsLinux())
        {
            var nanoseconds = (long)(ticks * (1_000_000_000.0 / Stopwatch.Frequency));
            var request = new TimeSpec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
            _ = NanoSleep(&request, null);
        }
        else if (ticks > Stopwatch.Frequency / 500)
        {
            Thread.Sleep(1);
        }
        else
        {
            Thread.Yield();
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "nanosleep")]
    private static unsafe partial int NanoSleep(TimeSpec* request, TimeSpec* remaining);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();

    [LibraryImport("libc", EntryPoint = "setpriority")]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
