using System.Net;
using System.Net.Sockets;
using Mesh.Configuration;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Model;

namespace Mesh.Http.Tests;

/// <summary>The endpoint's in-flight count (<see cref="EndpointState.InFlight"/>) follows requests, whatever their outcome.</summary>
[TestFixture]
public sealed class EndpointStateTests
{
    private TestBackend _a = null!;
    private TestBackend _b = null!;

    [OneTimeSetUp]
    public async Task StartBackends()
    {
        _a = await TestBackend.StartAsync("a");
        _b = await TestBackend.StartAsync("b");
    }

    [OneTimeTearDown]
    public async Task StopBackends()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [SetUp]
    public void ResetBackends()
    {
        _a.Reset();
        _b.Reset();
    }

    [Test]
    public async Task SendAsync_HeldRequest_CountsInFlightUntilAnswered()
    {
        // Arrange
        await using var mesh = CreateMesh(_a.Address);
        using var client = mesh.CreateClient();
        var state = State(mesh, _a.Port);

        // Act
        var pending = client.GetAsync("/hold");
        await Poll.UntilAsync(() => _a.RequestCount == 1, "the backend holds the request");
        var whileHeld = state.InFlight;
        _a.ReleaseHeld();
        using var response = await pending.WaitAsync(Timeouts.Default);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(whileHeld, Is.EqualTo(1));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(state.InFlight, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_ManyConcurrentRequests_InFlightPeaksThenReturnsToZero()
    {
        // Arrange
        const int PerEndpoint = 20;
        await using var mesh = CreateMesh(_a.Address, _b.Address);
        using var client = mesh.CreateClient();
        var a = State(mesh, _a.Port);
        var b = State(mesh, _b.Port);

        // Act: hold 40 requests at once (round robin puts 20 on each), then let them all go.
        var pending = Enumerable.Range(0, 2 * PerEndpoint).Select(_ => client.GetAsync("/hold")).ToList();
        await Poll.UntilAsync(() => _a.RequestCount + _b.RequestCount == 2 * PerEndpoint, "the backends hold every request");
        var peak = (a.InFlight, b.InFlight);
        _a.ReleaseHeld();
        _b.ReleaseHeld();
        var responses = await Task.WhenAll(pending).WaitAsync(Timeouts.Default);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(peak, Is.EqualTo((PerEndpoint, PerEndpoint)));
            Assert.That(responses.Select(r => r.StatusCode), Has.All.EqualTo(HttpStatusCode.OK));
            Assert.That((a.InFlight, b.InFlight), Is.EqualTo((0, 0)));
        });
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Test]
    public async Task SendAsync_BackendAnswers500_ReturnsResponseAndInFlightReturnsToZero()
    {
        // Arrange
        await using var mesh = CreateMesh(_a.Address);
        using var client = mesh.CreateClient();
        var state = State(mesh, _a.Port);

        // Act
        using var response = await client.GetAsync("/status/500").WaitAsync(Timeouts.Default);

        // Assert: an error status is a response, not an exception.
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
            Assert.That(state.InFlight, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_ConnectionRefused_ThrowsHttpRequestExceptionAndInFlightReturnsToZero()
    {
        // Arrange
        var closed = $"http://127.0.0.1:{TestBackend.GetClosedPort()}";
        await using var mesh = CreateMesh(closed);
        using var client = mesh.CreateClient();
        var state = mesh.State.Current.Clusters["backend"].Endpoints.Single().State;

        // Act
        var ex = Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/").WaitAsync(Timeouts.Default));

        // Assert: the transport's own exception reaches the caller unchanged.
        Assert.Multiple(() =>
        {
            Assert.That(ex.HttpRequestError, Is.EqualTo(HttpRequestError.ConnectionError));
            Assert.That(ex.InnerException, Is.InstanceOf<SocketException>());
            Assert.That(state.InFlight, Is.Zero);
        });
    }

    [Test]
    public async Task SendAsync_CallerCancelsHeldRequest_ThrowsCanceledAndInFlightReturnsToZero()
    {
        // Arrange
        await using var mesh = CreateMesh(_a.Address);
        using var client = mesh.CreateClient();
        var state = State(mesh, _a.Port);
        using var cts = new CancellationTokenSource();

        // Act
        var pending = client.GetAsync("/hold", cts.Token);
        await Poll.UntilAsync(() => _a.RequestCount == 1, "the backend holds the request");
        var whileHeld = state.InFlight;
        await cts.CancelAsync();

        // Assert
        Assert.CatchAsync<OperationCanceledException>(() => pending.WaitAsync(Timeouts.Default));
        Assert.Multiple(() =>
        {
            Assert.That(whileHeld, Is.EqualTo(1));
            Assert.That(state.InFlight, Is.Zero);
        });
    }

    private static MeshClient CreateMesh(params string[] addresses) => MeshClient.Create(o =>
    {
        var service = new ServiceOptions();
        foreach (var address in addresses)
        {
            service.Endpoints.Add(new EndpointOptions { Address = address });
        }

        o.Services["backend"] = service;
    });

    private static EndpointState State(MeshClient mesh, int port) =>
        mesh.State.Current.Clusters["backend"].Endpoints.Single(e => e.Port == port).State;
}
