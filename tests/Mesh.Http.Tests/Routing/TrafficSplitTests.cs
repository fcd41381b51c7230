using Mesh.Http.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Mesh.Http.Tests.Routing;

/// <summary>Weighted subsets and matched routes, end to end from JSON configuration to real backends.</summary>
[TestFixture]
public sealed class TrafficSplitTests
{
    private TestBackend _v1a = null!;
    private TestBackend _v1b = null!;
    private TestBackend _v2 = null!;
    private ConfigurationRoot _configuration = null!;

    [OneTimeSetUp]
    public async Task StartBackends()
    {
        _v1a = await TestBackend.StartAsync("v1a", "v1");
        _v1b = await TestBackend.StartAsync("v1b", "v1");
        _v2 = await TestBackend.StartAsync("v2a", "v2");

        // The shape from the design's configuration contract: subsets by version label, a header route to
        // the canary first, a path-prefix route, then the weighted split as the catch-all.
        _configuration = TestConfiguration.FromJson($$"""
            {
              "Mesh": {
                "Services": {
                  "backend": {
                    "Endpoints": [
                      { "Address": "{{_v1a.Address}}", "Labels": { "version": "v1" } },
                      { "Address": "{{_v1b.Address}}", "Labels": { "version": "v1" } },
                      { "Address": "{{_v2.Address}}", "Labels": { "version": "v2" } }
                    ],
                    "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
                    "Routes": [
                      {
                        "Name": "canary",
                        "Match": [ { "Headers": { "x-canary": { "Exact": "1" } } } ],
                        "Destinations": [ { "Subset": "v2" } ]
                      },
                      {
                        "Name": "api",
                        "Match": [ { "PathPrefix": "/api" } ],
                        "Destinations": [ { "Subset": "v1" } ]
                      },
                      {
                        "Name": "split",
                        "Destinations": [ { "Subset": "v1", "Weight": 80 }, { "Subset": "v2", "Weight": 20 } ]
                      }
                    ]
                  }
                }
              }
            }
            """);
    }

    [OneTimeTearDown]
    public async Task StopBackends()
    {
        _configuration.Dispose();
        await _v1a.DisposeAsync();
        await _v1b.DisposeAsync();
        await _v2.DisposeAsync();
    }

    [SetUp]
    public void ResetBackends()
    {
        _v1a.Reset();
        _v1b.Reset();
        _v2.Reset();
    }

    [Test]
    public async Task SendAsync_WeightedSplitOverSubsets_SendsEightyTwentyWithinFivePoints()
    {
        // Arrange
        const int Total = 2000;
        const int Workers = 8;
        await using var mesh = MeshClient.Create(_configuration);
        using var client = mesh.CreateClient();
        var versions = new string[Total];

        // Act: 8 workers share the 2,000 requests; the split is a uniform draw per request, so concurrency does not bias it.
        var next = -1;
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Total)
            {
                using var response = await client.GetAsync("/").WaitAsync(Timeouts.Default);
                response.EnsureSuccessStatusCode();
                versions[i] = response.Headers.GetValues(TestBackend.VersionHeader).Single();
            }
        }));
        await Task.WhenAll(workers).WaitAsync(Timeouts.Default);

        // Assert: p = 0.8 over 2,000 draws has a standard deviation of 0.9 points, so ±5 points is > 5 sigma.
        var v1 = versions.Count(v => v == "v1");
        var v2 = versions.Count(v => v == "v2");
        Assert.Multiple(() =>
        {
            Assert.That(v1 + v2, Is.EqualTo(Total));
            Assert.That(100.0 * v1 / Total, Is.InRange(75.0, 85.0), $"v1 got {v1} of {Total}");
            Assert.That(100.0 * v2 / Total, Is.InRange(15.0, 25.0), $"v2 got {v2} of {Total}");
            Assert.That(_v1a.RequestCount + _v1b.RequestCount, Is.EqualTo(v1), "the v1 backends saw every v1 response");
            Assert.That(_v2.RequestCount, Is.EqualTo(v2), "the v2 backend saw every v2 response");

            // Within the v1 subset the default round robin alternates, whatever the concurrency.
            Assert.That(Math.Abs(_v1a.RequestCount - _v1b.RequestCount), Is.LessThanOrEqualTo(1), $"v1a {_v1a.RequestCount}, v1b {_v1b.RequestCount}");
            Assert.That(_v1a.Requests.Concat(_v1b.Requests).Concat(_v2.Requests).Select(r => r.Host).Distinct(), Is.EqualTo(new[] { "backend" }));
        });
    }

    [Test]
    public async Task SendAsync_CanaryHeader_AlwaysReachesV2()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration);
        using var client = mesh.CreateClient();

        // Act
        var versions = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, i % 2 == 0 ? "/" : "/api/items");
            request.Headers.Add("x-canary", "1");
            using var response = await client.SendAsync(request).WaitAsync(Timeouts.Default);
            response.EnsureSuccessStatusCode();
            versions.Add(response.Headers.GetValues(TestBackend.VersionHeader).Single());
        }

        // Assert: the header route comes first, so it wins over the /api route as well.
        Assert.Multiple(() =>
        {
            Assert.That(versions, Has.All.EqualTo("v2"));
            Assert.That(_v2.RequestCount, Is.EqualTo(200));
            Assert.That(_v1a.RequestCount + _v1b.RequestCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_OtherCanaryHeaderValue_FallsThroughToTheSplit()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration);
        using var client = mesh.CreateClient();

        // Act
        var versions = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("x-canary", "0");
            using var response = await client.SendAsync(request).WaitAsync(Timeouts.Default);
            response.EnsureSuccessStatusCode();
            versions.Add(response.Headers.GetValues(TestBackend.VersionHeader).Single());
        }

        // Assert: "0" is not "1"; at 80/20 the chance that 200 requests all land on one side is below 1e-19.
        Assert.That(versions.Distinct().Order(), Is.EqualTo(new[] { "v1", "v2" }));
    }

    [Test]
    public async Task SendAsync_PathPrefixRoute_ReachesOnlyItsSubset()
    {
        // Arrange
        await using var mesh = MeshClient.Create(_configuration);
        using var client = mesh.CreateClient();
        var paths = new[] { "/api", "/api/items", "/api/items/7?expand=true", "/apiary" };

        // Act
        var versions = new List<string>();
        for (var i = 0; i < 100; i++)
        {
            using var response = await client.GetAsync(paths[i % paths.Length]).WaitAsync(Timeouts.Default);
            response.EnsureSuccessStatusCode();
            versions.Add(response.Headers.GetValues(TestBackend.VersionHeader).Single());
        }

        // Assert: a string prefix, as Istio's uri.prefix, so /apiary matches too; the path reaches the backend unchanged.
        Assert.Multiple(() =>
        {
            Assert.That(versions, Has.All.EqualTo("v1"));
            Assert.That(_v2.RequestCount, Is.Zero);
            Assert.That(_v1a.Requests.Concat(_v1b.Requests).Select(r => r.Path).Distinct().Order(), Is.EqualTo(new[] { "/api", "/api/items", "/api/items/7", "/apiary" }));
        });
    }
}
