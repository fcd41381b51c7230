using Mesh.Http.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.Http.Tests.DependencyInjection;

/// <summary>Wiring <c>IHttpClientBuilder.AddMesh()</c> into an application's services.</summary>
[TestFixture]
public sealed class MeshHttpClientBuilderExtensionsTests
{
    private TestBackend _backend = null!;
    private ConfigurationRoot _configuration = null!;

    [OneTimeSetUp]
    public async Task StartBackend()
    {
        _backend = await TestBackend.StartAsync("only");
        _configuration = TestConfiguration.FromPairs([new("Mesh:Services:backend:Endpoints:0:Address", _backend.Address)]);
    }

    [OneTimeTearDown]
    public async Task StopBackend()
    {
        _configuration.Dispose();
        await _backend.DisposeAsync();
    }

    [SetUp]
    public void ResetBackend() => _backend.Reset();

    [Test]
    public async Task CreateClient_MeshNotRegistered_ThrowsNamingTheClientAndTheFix()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddHttpClient("orders").AddMesh();
        await using var provider = services.BuildServiceProvider();

        // Act
        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("orders"));

        // Assert
        Assert.That(ex.Message, Does.Contain("'orders'").And.Contain("services.AddMesh("));
    }

    [Test]
    public async Task AddMesh_OptionsPerNamedClient_ApplyOnlyToThatClient()
    {
        // Arrange: two clients to the same service, one keeping the logical host and one not.
        var services = new ServiceCollection();
        services.AddMesh(_configuration);
        services.AddHttpClient("logical", c => c.BaseAddress = new Uri("http://backend")).AddMesh();
        services.AddHttpClient("physical", c => c.BaseAddress = new Uri("http://backend")).AddMesh(o => o.PreserveHost = false);
        await using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();
        using var logical = factory.CreateClient("logical");
        using var physical = factory.CreateClient("physical");

        // Act
        using var first = await logical.GetAsync("/").WaitAsync(Timeouts.Default);
        using var second = await physical.GetAsync("/").WaitAsync(Timeouts.Default);

        // Assert
        Assert.That(_backend.Requests.Select(r => r.Host), Is.EqualTo(new[] { "backend", $"127.0.0.1:{_backend.Port}" }));
    }

    [Test]
    public async Task AddMesh_RegisteredBeforeLogging_LogsThroughTheApplicationsLoggerFactory()
    {
        // Arrange: AddMesh before AddLogging (AddHttpClient and AddFakeLogging add it), as a console app may order them.
        var services = new ServiceCollection();
        services.AddMesh(_configuration);
        services.AddHttpClient("backend").AddMesh();
        services.AddFakeLogging();
        await using var provider = services.BuildServiceProvider();

        // Act
        _ = provider.GetRequiredService<MeshState>();

        // Assert: the mesh must not replace the application's logging with a null logger factory.
        var published = provider.GetFakeLogCollector().GetSnapshot().Where(r => r.Category == typeof(MeshState).FullName).ToList();
        Assert.That(published.Select(r => (r.Level, r.Id.Id)), Is.EqualTo(new[] { (LogLevel.Information, 1) }), "snapshot published");
    }
}
