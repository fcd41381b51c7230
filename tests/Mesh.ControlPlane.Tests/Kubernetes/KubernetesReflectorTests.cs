using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Configuration.Kubernetes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.ControlPlane.Tests.Kubernetes;

public sealed class KubernetesReflectorTests
{
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }

    [TestCase(0.5, new[] { 500.0, 1000, 2000, 4000, 8000, 16000, 30000, 30000 })]
    [TestCase(1.0, new[] { 600.0, 1200, 2400, 4800, 9600, 19200, 36000, 36000 })]
    [TestCase(0.0, new[] { 400.0, 800, 1600, 3200, 6400, 12800, 24000, 24000 })]
    public void NextBackoff_DoublesUpToTheCap_WithTwentyPercentJitter(double random, double[] expectedMs)
    {
        using var client = new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = "http://127.0.0.1:1" });
        var reflector = new KubernetesReflector(client, KubernetesKind.All[0], null, new ConfigStore(), new KubernetesSourceOptions(), TimeProvider.System, new FixedRandom(random), NullLogger.Instance);

        var delays = expectedMs.Select(_ => reflector.NextBackoff().TotalMilliseconds).ToArray();

        Assert.That(delays, Is.EqualTo(expectedMs).Within(0.001));
    }

    [Test]
    public void Create_InvalidOptions_ReportsEveryProblem()
    {
        var options = new KubernetesSourceOptions { IdleTimeout = TimeSpan.Zero, InitialBackoff = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(1) };
        options.Namespaces.Add(" ");

        var error = Assert.Throws<ArgumentException>(() => KubernetesSource.Create(new k8s.KubernetesClientConfiguration { Host = "http://127.0.0.1:1" }, options, new ConfigStore(), NullLoggerFactory.Instance));

        Assert.That(error!.Message, Does.Contain("IdleTimeout = 00:00:00: must be a positive time span")
            .And.Contain("MaxBackoff = 00:00:01: must be at least InitialBackoff (00:00:02)")
            .And.Contain("Namespaces[0] is empty"));
    }
}
