namespace Mesh.Http.Tests.Infrastructure;

/// <summary>Bounds for every await in the tests, so a hang fails one test instead of the run.</summary>
internal static class Timeouts
{
    /// <summary>For any single await: generous, because a loaded CI machine is slow, and never reached when things work.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);
}

/// <summary>Polling with a deadline, instead of sleeping for a fixed time.</summary>
internal static class Poll
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeouts.Default);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {(timeout ?? Timeouts.Default).TotalSeconds} s waiting until {what}.");
            }

            await Task.Delay(5);
        }
    }
}
