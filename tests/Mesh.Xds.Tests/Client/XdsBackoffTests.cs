using Mesh.Xds.Client;

namespace Mesh.Xds.Tests.Client;

public class XdsBackoffTests
{
    [Test]
    public void Next_SeededRandom_GrowsBy1Point6WithTwentyPercentJitter()
    {
        var random = new Random(1234);
        var expectedRandom = new Random(1234);
        var backoff = new XdsBackoff(random);

        double[] bases = [1, 1.6, 2.56, 4.096, 6.5536];
        foreach (var baseSeconds in bases)
        {
            var expected = baseSeconds * (1 + (0.2 * ((2 * expectedRandom.NextDouble()) - 1)));
            var delay = backoff.Next().TotalSeconds;
            Assert.That(delay, Is.EqualTo(expected).Within(1e-6), $"base {baseSeconds} s");
            Assert.That(delay, Is.InRange(baseSeconds * 0.8, baseSeconds * 1.2));
        }
    }

    [Test]
    public void Next_ManyAttempts_CappedAt120SecondsBeforeJitter()
    {
        var backoff = new XdsBackoff(new Random(7));

        var delays = Enumerable.Range(0, 30).Select(_ => backoff.Next().TotalSeconds).ToList();

        Assert.That(delays.Skip(20), Is.All.InRange(120 * 0.8, 120 * 1.2));
        Assert.That(delays.Max(), Is.LessThanOrEqualTo(144));
    }

    [Test]
    public void Reset_AfterGrowth_StartsOverAtOneSecond()
    {
        var backoff = new XdsBackoff(new Random(3));
        for (var i = 0; i < 5; i++)
        {
            backoff.Next();
        }

        backoff.Reset();

        Assert.That(backoff.Next().TotalSeconds, Is.InRange(0.8, 1.2));
        Assert.That(backoff.Next().TotalSeconds, Is.InRange(1.28, 1.92));
    }

    [Test]
    public void Next_ZeroJitter_IsExactSequence()
    {
        var backoff = new XdsBackoff(new Random(0), TimeSpan.FromSeconds(1), 1.6, 0, TimeSpan.FromSeconds(3));

        var delays = Enumerable.Range(0, 4).Select(_ => backoff.Next().TotalSeconds).ToList();

        Assert.That(delays, Is.EqualTo(new[] { 1, 1.6, 2.56, 3 }).Within(1e-9));
    }
}
