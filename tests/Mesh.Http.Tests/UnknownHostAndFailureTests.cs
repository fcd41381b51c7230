using Mesh.Http.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Mesh.Http.Tests;

/// <summary>Requests the mesh does not route: unknown hosts, and known services that cannot take them.</summary>
[TestFixture]
public sealed class UnknownHostAndFailureTests
{
    private TestBackend _meshed = null!;
    private TestBackend _outside = null!;

    [OneTimeSetUp]
    public async Task StartBackends()
    {
        _meshed = await TestBackend.StartAsync("meshed");
        _outside = await TestBackend.StartAsync("outside");
    }

    [OneTimeTearDown]
    public async Task StopBackends()
    {
        await _meshed.DisposeAsync();
        await _outside.DisposeAsync();
    }

    [SetUp]
    public void ResetBackends()
    {
        _meshed.Reset();
        _outside.Reset();
    }

    [Test]
    public async Task SendAsync_UnknownHostByDefault_PassesThroughUnchanged()
    {
        // Arrange
        using var configuration = OneService(_meshed);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync($"{_outside.Address}/direct?q=1").WaitAsync(Timeouts.Default);

        // Assert: sent as if the mesh were not there.
        response.EnsureSuccessStatusCode();
        var seen = _outside.Requests.Single();
        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.GetValues(TestBackend.IdHeader).Single(), Is.EqualTo("outside"));
            Assert.That(seen.Host, Is.EqualTo($"127.0.0.1:{_outside.Port}"));
            Assert.That(seen.Path, Is.EqualTo("/direct"));
            Assert.That(response.RequestMessage!.RequestUri, Is.EqualTo(new Uri($"{_outside.Address}/direct?q=1")));
            Assert.That(_meshed.RequestCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_UnknownHostWithFail_ThrowsUnknownService()
    {
        // Arrange
        using var configuration = OneService(_meshed);
        await using var mesh = MeshClient.Create(configuration, http => http.UnknownHost = UnknownHostBehavior.Fail);
        using var client = mesh.CreateClient();

        // Act
        var ex = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync($"{_outside.Address}/direct").WaitAsync(Timeouts.Default));

        // Assert
        var inner = ex.InnerException as MeshException;
        Assert.Multiple(() =>
        {
            Assert.That(inner, Is.Not.Null, $"inner exception: {ex.InnerException}");
            Assert.That(inner!.Reason, Is.EqualTo(MeshFailureReason.UnknownService));
            Assert.That(inner.Service, Is.EqualTo("127.0.0.1"));
            Assert.That(ex.Message, Does.Contain("'127.0.0.1' is not a mesh service").And.Contain("backend"), "names the host and the services the mesh knows");
            Assert.That(_outside.RequestCount + _meshed.RequestCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_UnknownHostWithFail_KnownServiceStillWorks()
    {
        // Arrange
        using var configuration = OneService(_meshed);
        await using var mesh = MeshClient.Create(configuration, http => http.UnknownHost = UnknownHostBehavior.Fail);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.GetAsync("/ok").WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.That(_meshed.RequestCount, Is.EqualTo(1));
    }

    [Test]
    public async Task SendAsync_OnlyDrainingAndUnhealthyEndpoints_ThrowsNoUsableEndpointNamingServiceAndWhy()
    {
        // Arrange
        using var configuration = TestConfiguration.FromJson($$"""
            { "Mesh": { "Services": { "backend": { "Endpoints": [
                { "Address": "{{_meshed.Address}}", "Health": "Draining" },
                { "Address": "{{_outside.Address}}", "Health": "Unhealthy" } ] } } } }
            """);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();

        // Act
        var ex = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/").WaitAsync(Timeouts.Default));

        // Assert
        var inner = ex.InnerException as MeshException;
        Assert.Multiple(() =>
        {
            Assert.That(inner, Is.Not.Null, $"inner exception: {ex.InnerException}");
            Assert.That(inner!.Reason, Is.EqualTo(MeshFailureReason.NoUsableEndpoint));
            Assert.That(inner.Service, Is.EqualTo("backend"));
            Assert.That(ex.Message, Does.Contain("'backend'").And.Contain("none usable").And.Contain("1 unhealthy").And.Contain("1 draining"));
            Assert.That(_outside.RequestCount + _meshed.RequestCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_SubsetOfOnlyDrainingEndpoints_ThrowsNoUsableEndpointNamingTheCluster()
    {
        // Arrange: v1 is fine, but the header route goes to v2, whose only endpoint drains.
        using var configuration = TestConfiguration.FromJson($$"""
            { "Mesh": { "Services": { "backend": {
                "Endpoints": [
                  { "Address": "{{_meshed.Address}}", "Labels": { "version": "v1" } },
                  { "Address": "{{_outside.Address}}", "Labels": { "version": "v2" }, "Health": "Draining" } ],
                "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
                "Routes": [
                  { "Name": "canary", "Match": [ { "Headers": { "x-canary": { "Present": true } } } ], "Destinations": [ { "Subset": "v2" } ] },
                  { "Destinations": [ { "Subset": "v1" } ] } ] } } } }
            """);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();
        using var canary = new HttpRequestMessage(HttpMethod.Get, "/");
        canary.Headers.Add("x-canary", "yes");

        // Act
        using var ok = await client.GetAsync("/").WaitAsync(Timeouts.Default);
        var ex = Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(canary).WaitAsync(Timeouts.Default));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(ok.IsSuccessStatusCode, Is.True);
            Assert.That((ex.InnerException as MeshException)?.Reason, Is.EqualTo(MeshFailureReason.NoUsableEndpoint));
            Assert.That(ex.Message, Does.Contain("route 'canary'").And.Contain("cluster 'backend/v2'").And.Contain("1 draining"));
            Assert.That(_outside.RequestCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_EndpointOfUnknownHealth_TakesTraffic()
    {
        // Arrange: as in Envoy and gRPC, unknown health is usable.
        using var configuration = TestConfiguration.FromJson($$"""
            { "Mesh": { "Services": { "backend": { "Endpoints": [
                { "Address": "{{_meshed.Address}}", "Health": "Unknown" },
                { "Address": "{{_outside.Address}}", "Health": "Unhealthy" } ] } } } }
            """);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();

        // Act
        for (var i = 0; i < 10; i++)
        {
            using var response = await client.GetAsync("/").WaitAsync(Timeouts.Default);
            response.EnsureSuccessStatusCode();
        }

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(_meshed.RequestCount, Is.EqualTo(10));
            Assert.That(_outside.RequestCount, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_NoRouteMatches_ThrowsNoRoute()
    {
        // Arrange
        using var configuration = TestConfiguration.FromJson($$"""
            { "Mesh": { "Services": { "backend": {
                "Endpoints": [ { "Address": "{{_meshed.Address}}" } ],
                "Routes": [ { "Match": [ { "PathPrefix": "/api" } ], "Destinations": [ { "Weight": 100 } ] } ] } } } }
            """);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();

        // Act
        var ex = Assert.ThrowsAsync<HttpRequestException>(() => client.PostAsync("/other", null).WaitAsync(Timeouts.Default));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That((ex.InnerException as MeshException)?.Reason, Is.EqualTo(MeshFailureReason.NoRoute));
            Assert.That(ex.Message, Does.Contain("'backend'").And.Contain("POST /other"));
            Assert.That(_meshed.RequestCount, Is.Zero);
        });
    }

    private static ConfigurationRoot OneService(TestBackend backend) => TestConfiguration.FromPairs(
        [new("Mesh:Services:backend:Endpoints:0:Address", backend.Address)]);
}
