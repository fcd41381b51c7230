namespace Mesh.ControlPlane.Tests.Infrastructure;

/// <summary>The bound on every wait in these tests, and polling until a condition holds.</summary>
internal static class TestWait
{
    /// <summary>The bound on every wait in these tests.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds, failing after <see cref="Timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out after {Timeout.TotalSeconds} s waiting for: {what}");
            }

            await Task.Delay(20);
        }
    }
}
