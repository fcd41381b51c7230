using System.Net;
using Mesh.Configuration;
using Mesh.Http.Tests.Infrastructure;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Http.Tests;

/// <summary>HTTP/1.1 and HTTP/2 cleartext through the mesh, and the <c>Host</c> header (<c>:authority</c>) the backend sees.</summary>
[TestFixture]
public sealed class HostAndProtocolTests
{
    private TestBackend _http1 = null!;
    private TestBackend _http2 = null!;

    public enum Protocol
    {
        Http11,
        Http2,
    }

    [OneTimeSetUp]
    public async Task StartBackends()
    {
        _http1 = await TestBackend.StartAsync("h1", protocols: HttpProtocols.Http1);

        // HTTP/2 only on a cleartext listener: Kestrel then speaks h2c with prior knowledge.
        _http2 = await TestBackend.StartAsync("h2c", protocols: HttpProtocols.Http2);
    }

    [OneTimeTearDown]
    public async Task StopBackends()
    {
        await _http1.DisposeAsync();
        await _http2.DisposeAsync();
    }

    [SetUp]
    public void ResetBackends()
    {
        _http1.Reset();
        _http2.Reset();
    }

    [Test]
    public async Task SendAsync_Http2Cleartext_ReachesBackendOverHttp2()
    {
        // Arrange
        await using var mesh = CreateMesh(_http2);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.SendAsync(Request(Protocol.Http2, "/h2?x=1")).WaitAsync(Timeouts.Default);

        // Assert
        var seen = _http2.Requests.Single();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(response.Version, Is.EqualTo(HttpVersion.Version20));
            Assert.That(response.Headers.GetValues(TestBackend.IdHeader).Single(), Is.EqualTo("h2c"));
            Assert.That(seen.Protocol, Is.EqualTo("HTTP/2"));
            Assert.That(seen.Path, Is.EqualTo("/h2"));
        });
    }

    [Test]
    public async Task SendAsync_ManyHttp2RequestsConcurrently_AllSucceed()
    {
        // Arrange
        await using var mesh = CreateMesh(_http2);
        using var client = mesh.CreateClient();

        // Act: streams multiplexed on the mesh's HTTP/2 connection.
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            using var response = await client.SendAsync(Request(Protocol.Http2, $"/h2/{i}")).WaitAsync(Timeouts.Default);
            return (response.StatusCode, response.Version);
        })).WaitAsync(Timeouts.Default);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(responses, Has.All.EqualTo((HttpStatusCode.OK, HttpVersion.Version20)));
            Assert.That(_http2.Requests.Select(r => r.Protocol).Distinct(), Is.EqualTo(new[] { "HTTP/2" }));
            Assert.That(_http2.RequestCount, Is.EqualTo(50));
        });
    }

    [TestCase(Protocol.Http11)]
    [TestCase(Protocol.Http2)]
    public async Task SendAsync_DefaultOptions_BackendSeesLogicalHost(Protocol protocol)
    {
        // Arrange
        var backend = Backend(protocol);
        await using var mesh = CreateMesh(backend);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.SendAsync(Request(protocol, "/host")).WaitAsync(Timeouts.Default);

        // Assert: as behind a sidecar, the backend sees the name the caller used, not the endpoint address.
        response.EnsureSuccessStatusCode();
        Assert.That(backend.Requests.Single().Host, Is.EqualTo("backend"));
    }

    [TestCase(Protocol.Http11)]
    [TestCase(Protocol.Http2)]
    public async Task SendAsync_PreserveHostFalse_BackendSeesEndpointAuthority(Protocol protocol)
    {
        // Arrange
        var backend = Backend(protocol);
        await using var mesh = CreateMesh(backend, http => http.PreserveHost = false);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.SendAsync(Request(protocol, "/host")).WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.That(backend.Requests.Single().Host, Is.EqualTo($"127.0.0.1:{backend.Port}"));
    }

    [TestCase(Protocol.Http11)]
    [TestCase(Protocol.Http2)]
    public async Task SendAsync_LogicalUriWithPort_BackendSeesHostAndPort(Protocol protocol)
    {
        // Arrange: ports are ignored when matching hosts, and kept in the Host header.
        var backend = Backend(protocol);
        await using var mesh = CreateMesh(backend);
        using var client = mesh.CreateClient();

        // Act
        using var response = await client.SendAsync(Request(protocol, "http://backend:8080/host")).WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.That(backend.Requests.Single().Host, Is.EqualTo("backend:8080"));
    }

    [TestCase(Protocol.Http11)]
    [TestCase(Protocol.Http2)]
    public async Task SendAsync_CallerSetsHostHeader_BackendSeesCallersHost(Protocol protocol)
    {
        // Arrange
        var backend = Backend(protocol);
        await using var mesh = CreateMesh(backend);
        using var client = mesh.CreateClient();
        using var request = Request(protocol, "/host");
        request.Headers.Host = "custom.example";

        // Act
        using var response = await client.SendAsync(request).WaitAsync(Timeouts.Default);

        // Assert
        response.EnsureSuccessStatusCode();
        Assert.That(backend.Requests.Single().Host, Is.EqualTo("custom.example"));
    }

    private static MeshClient CreateMesh(TestBackend backend, Action<MeshHttpOptions>? http = null) =>
        MeshClient.Create(o => o.Services["backend"] = new ServiceOptions { Endpoints = { new() { Address = backend.Address } } }, http);

    private static HttpRequestMessage Request(Protocol protocol, string uri) => new(HttpMethod.Get, uri)
    {
        Version = protocol == Protocol.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    private TestBackend Backend(Protocol protocol) => protocol == Protocol.Http2 ? _http2 : _http1;
}
