using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Mesh.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class AddXdsTests
{
    private static string Bootstrap(int port) =>
        $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{port}}", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": "add-xds-test" } }""";

    private static ServiceProvider Create(string bootstrap, TimeSpan startupTimeout)
    {
        var services = new ServiceCollection();
        services.AddFakeLogging();
        services.AddMesh().AddXds(o =>
        {
            o.Targets.Add("backend.shop.svc.cluster.local:8080");
            o.Bootstrap = bootstrap;
            o.StartupTimeout = startupTimeout;
        });
        return services.BuildServiceProvider();
    }

    private static async Task StartHostedServicesAsync(IServiceProvider provider)
    {
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [Test]
    public async Task AddXds_ServerSilent_HostStartWaitsForStartupTimeoutThenWarns()
    {
        // Arrange: a server that accepts connections and never answers.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        await using var provider = Create(Bootstrap(((IPEndPoint)silent.LocalEndpoint).Port), TimeSpan.FromMilliseconds(300));
        var watch = Stopwatch.StartNew();

        // Act
        await StartHostedServicesAsync(provider);

        // Assert
        var warning = provider.GetFakeLogCollector().GetSnapshot().SingleOrDefault(r => r.Id.Id == 311);
        Assert.Multiple(() =>
        {
            Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(250)));
            Assert.That(provider.GetRequiredService<MeshState>().Current.Version, Is.Zero);
            Assert.That(provider.GetServices<IMeshConfigSource>().Single(), Is.SameAs(provider.GetRequiredService<XdsConfigSource>()));
            Assert.That(warning?.Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warning?.Message, Does.StartWith("xDS: no complete configuration from xDS server 127.0.0.1:"));
        });
    }

    [Test]
    public async Task AddXds_ServerDown_FailsTheTargetInsteadOfBypassingTheMesh()
    {
        // Arrange: a port nothing listens on; the client reports the connection error to every watcher (gRFC A57).
        int port;
        using (var closed = new TcpListener(IPAddress.Loopback, 0))
        {
            closed.Start();
            port = ((IPEndPoint)closed.LocalEndpoint).Port;
        }

        await using var provider = Create(Bootstrap(port), TimeSpan.FromSeconds(20));

        // Act
        await StartHostedServicesAsync(provider);

        // Assert: the target is a service whose requests fail, not an unknown host sent around the mesh.
        var snapshot = provider.GetRequiredService<MeshState>().Current;
        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Version, Is.EqualTo(1));
            Assert.That(snapshot.TryGetService("backend.shop.svc.cluster.local", out var service), Is.True);
            Assert.That(service!.Routes.Single().PickCluster().Endpoints, Is.Empty);
        });
    }

    [Test]
    public async Task AddXds_InvalidOptions_FailWithEveryProblem()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddXds(o =>
        {
            o.Targets.Add("backend:8080");
            o.Targets.Add("backend:9090");
            o.Targets.Add("bad host:80");
            o.Targets.Add("orders:99999");
            o.ResourceDoesNotExistTimeout = TimeSpan.Zero;
        });
        await using var provider = services.BuildServiceProvider();

        // Act
        var exception = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<XdsOptions>>().Value);

        // Assert
        Assert.That(exception!.Failures, Is.EqualTo(new[]
        {
            "Xds:Targets[1] = 'backend:9090': has the same host as 'backend:8080'; the mesh keys services by host, so follow one port per host",
            "Xds:Targets[2] = 'bad host:80': has host 'bad host', which is not a host name or IP address; give the target as host:port, e.g. \"backend.shop.svc.cluster.local:8080\"",
            "Xds:Targets[3] = 'orders:99999': has port '99999'; the port must be a number from 1 to 65535",
            "Xds:ResourceDoesNotExistTimeout = 00:00:00: must be a positive duration (the xDS protocol's is 00:00:15)",
        }));
    }

    [Test]
    public async Task AddXds_NoTargets_IsRejected()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddXds();
        await using var provider = services.BuildServiceProvider();

        // Act
        var exception = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<XdsOptions>>().Value);

        // Assert
        Assert.That(exception!.Failures.Single(), Does.StartWith("Xds:Targets: is empty; add the services to follow"));
    }

    [Test]
    public async Task AddXds_NoTargetsButServerPolicy_IsValid()
    {
        // Arrange: a server that calls no mesh service follows only its own server listener.
        var services = new ServiceCollection();
        services.AddMesh().AddXds().AddXdsServerPolicy(o => o.ListeningAddress = "10.0.0.5:8080");
        await using var provider = services.BuildServiceProvider();

        // Act
        var options = provider.GetRequiredService<IOptions<XdsOptions>>().Value;

        // Assert
        Assert.That(options.Targets, Is.Empty);
    }

    [Test]
    public async Task AddXds_CalledTwice_RegistersOneSource()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddXds(o => o.Targets.Add("a:1")).AddXds(o => o.Targets.Add("b:2"));
        await using var provider = services.BuildServiceProvider();

        // Act
        var options = provider.GetRequiredService<IOptions<XdsOptions>>().Value;

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(options.Targets, Is.EqualTo(new[] { "a:1", "b:2" }));
            Assert.That(services.Count(d => d.ServiceType == typeof(IMeshConfigSource)), Is.EqualTo(1));
            Assert.That(services.Count(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(XdsStartupWaiter)), Is.EqualTo(1));
        });
    }
}
