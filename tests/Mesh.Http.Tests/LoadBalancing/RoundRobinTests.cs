using Mesh.Http.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Mesh.Http.Tests.LoadBalancing;

/// <summary>Round robin over real endpoints, configured with flat keys as environment variables or an in-memory source would give them.</summary>
[TestFixture]
public sealed class RoundRobinTests
{
    private TestBackend[] _backends = null!;
    private ConfigurationRoot _configuration = null!;

    [OneTimeSetUp]
    public async Task StartBackends()
    {
        _backends = [await TestBackend.StartAsync("a"), await TestBackend.StartAsync("b"), await TestBackend.StartAsync("c")];
        _configuration = TestConfiguration.FromPairs(
        [
            new("Mesh:Services:backend:Endpoints:0:Address", _backends[0].Address),
            new("Mesh:Services:backend:Endpoints:1:Address", _backends[1].Address),
            new("Mesh:Services:backend:Endpoints:2:Address", _backends[2].Address),
            new("Mesh:Services:backend:LoadBalancer:Policy", "RoundRobin"),
        ]);
    }

    [OneTimeTearDown]
    public async Task StopBackends()
    {
        _configuration.Dispose();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }

    [SetUp]
    public void ResetBackends()
    {
        foreach (var backend in _backends)
        {
            backend.Reset();
        }
    }

    [TestCase(300)]
    [TestCase(301)]
    [TestCase(302)]
    public async Task SendAsync_SequentialRequestsOverThreeEndpoints_EachGetsAThirdWithinOne(int total)
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration);
        using var client = mesh.CreateClient();

        // Act
        var order = new List<string>();
        for (var i = 0; i < total; i++)
        {
            using var response = await client.GetAsync($"/rr/{i}").WaitAsync(Timeouts.Default);
            response.EnsureSuccessStatusCode();
            order.Add(await response.Content.ReadAsStringAsync().WaitAsync(Timeouts.Default));
        }

        // Assert: fair, and strictly cyclic (each endpoint again every third request).
        Assert.Multiple(() =>
        {
            foreach (var backend in _backends)
            {
                Assert.That(backend.RequestCount, Is.InRange((total / 3.0) - 1, (total / 3.0) + 1), $"{backend} of {total}");
                Assert.That(order.Count(id => id == backend.Id), Is.EqualTo(backend.RequestCount), $"{backend}: responses vs requests seen");
            }

            Assert.That(order.Take(3).Distinct().Count(), Is.EqualTo(3), "the first three requests reach three different endpoints");
            for (var i = 3; i < order.Count; i++)
            {
                Assert.That(order[i], Is.EqualTo(order[i - 3]), $"request {i} breaks the cycle {string.Join(",", order.Take(3))}");
            }
        });
    }

    [Test]
    public async Task SendAsync_ConcurrentRequestsOverThreeEndpoints_EachGetsAThirdWithinOne()
    {
        // Arrange
        const int Total = 600;
        await using var mesh = MeshClient.Create(_configuration);
        using var client = mesh.CreateClient();

        // Act: the picker advances with one atomic increment per request, so concurrency cannot skew the counts.
        var next = -1;
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < Total)
            {
                using var response = await client.GetAsync("/rr").WaitAsync(Timeouts.Default);
                response.EnsureSuccessStatusCode();
            }
        }));
        await Task.WhenAll(workers).WaitAsync(Timeouts.Default);

        // Assert
        Assert.Multiple(() =>
        {
            foreach (var backend in _backends)
            {
                Assert.That(backend.RequestCount, Is.InRange((Total / 3) - 1, (Total / 3) + 1), backend.ToString());
            }
        });
    }
}
