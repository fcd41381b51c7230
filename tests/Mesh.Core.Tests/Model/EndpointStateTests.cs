using Mesh.Model;

namespace Mesh.Core.Tests.Model;

public class EndpointStateTests
{
    [Test]
    public void OnRequestCompleted_FirstSample_BecomesTheAverage()
    {
        // Arrange
        var state = new EndpointState();
        state.OnRequestStarted();

        // Act
        state.OnRequestCompleted(TimeSpan.FromMilliseconds(10));

        // Assert
        Assert.That(state.LatencyEwmaMilliseconds, Is.EqualTo(10.0));
        Assert.That(state.InFlight, Is.Zero);
    }

    [Test]
    public void OnRequestCompleted_LaterSamples_MoveTheAverageByAlpha()
    {
        // Arrange: alpha is 0.1, so 10 then 20 gives 10 + 0.1 × (20 − 10) = 11.
        var state = new EndpointState();
        state.OnRequestStarted();
        state.OnRequestStarted();
        state.OnRequestCompleted(TimeSpan.FromMilliseconds(10));

        // Act
        state.OnRequestCompleted(TimeSpan.FromMilliseconds(20));

        // Assert
        Assert.That(state.LatencyEwmaMilliseconds, Is.EqualTo(11.0).Within(1e-9));
    }

    [Test]
    public void LatencyEwmaMilliseconds_NoResponseYet_IsNaN()
    {
        // Arrange
        var state = new EndpointState();

        // Act
        state.OnRequestStarted();

        // Assert
        Assert.That(state.LatencyEwmaMilliseconds, Is.NaN);
        Assert.That(state.InFlight, Is.EqualTo(1));
    }

    [Test]
    public void OnRequestStartedAndCompleted_Concurrent_InFlightBackToZero()
    {
        // Arrange
        var state = new EndpointState();

        // Act
        Parallel.For(0, 10_000, _ =>
        {
            state.OnRequestStarted();
            state.OnRequestCompleted(TimeSpan.FromMilliseconds(1));
        });

        // Assert
        Assert.That(state.InFlight, Is.Zero);
        Assert.That(state.LatencyEwmaMilliseconds, Is.EqualTo(1.0).Within(1e-9));
    }
}
