using System.Diagnostics.Metrics;
using Mesh.Configuration;
using Mesh.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.Core.Tests;

/// <summary>Reload semantics of <see cref="MeshState"/> fed by the configuration through <c>AddMesh(IConfiguration)</c>.</summary>
public class MeshStateTests
{
    private const string Source = "configuration section 'Mesh'";

    [Test]
    public void Current_ValidConfigurationAtStartup_FirstSnapshot()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001, 5002));
        using var provider = configuration.Services().BuildServiceProvider();

        // Act
        var snapshot = provider.GetRequiredService<MeshState>().Current;

        // Assert
        Assert.That((snapshot.Version, snapshot.Source), Is.EqualTo((1L, Source)));
        Assert.That(snapshot.Clusters["backend"].Endpoints.Select(e => e.Port), Is.EqualTo(new[] { 5001, 5002 }));
    }

    [Test]
    public void Reload_EndpointWorkloadChanged_EndpointGetsANewModelWithTheWorkload()
    {
        // Arrange: a Pod relabelled in place keeps its address; its workload (Istio's metric labels) changes.
        var initial = ReloadableConfiguration.Backend(5001, 5002);
        initial.Add(new("Mesh:Services:backend:Endpoints:0:Workload:Name", "backend-v1"));
        initial.Add(new("Mesh:Services:backend:Endpoints:0:Workload:Version", "v1"));
        var configuration = new ReloadableConfiguration(initial);
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var first = state.Current.Clusters["backend"].Endpoints;

        // Act
        var next = ReloadableConfiguration.Backend(5001, 5002);
        next.Add(new("Mesh:Services:backend:Endpoints:0:Workload:Name", "backend-v1"));
        next.Add(new("Mesh:Services:backend:Endpoints:0:Workload:Version", "v2"));
        configuration.Replace(next);
        var second = state.Current.Clusters["backend"].Endpoints;

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(first[0].Workload, Is.EqualTo(new EndpointWorkload { Name = "backend-v1", Version = "v1" }));
            Assert.That(second[0].Workload, Is.EqualTo(new EndpointWorkload { Name = "backend-v1", Version = "v2" }));
            Assert.That(second[0].State, Is.SameAs(first[0].State), "the runtime state stays with the address");
            Assert.That(second[1], Is.SameAs(first[1]), "5002 did not change");
        });
    }

    [Test]
    public void Reload_OneEndpointChanged_UnchangedEndpointsKeepTheirModels()
    {
        // Arrange: the model of an unchanged endpoint is reused (no URI parse, no labels frozen again on a large update).
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001, 5002, 5003));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var first = state.Current.Clusters["backend"].Endpoints;

        // Act: 5003 leaves, 5004 arrives, and 5002 gets a label.
        var next = ReloadableConfiguration.Backend(5001, 5002, 5004);
        next.Add(new("Mesh:Services:backend:Endpoints:1:Labels:zone", "a"));
        configuration.Replace(next);
        var second = state.Current.Clusters["backend"].Endpoints;

        // Assert
        Assert.That(second.Select(e => e.Port), Is.EqualTo(new[] { 5001, 5002, 5004 }));
        Assert.That(second[0], Is.SameAs(first[0]), "5001 did not change");
        Assert.That(second[1], Is.Not.SameAs(first[1]), "5002 has a new label");
        Assert.That(second[1].Labels["zone"], Is.EqualTo("a"));
        Assert.That(second[1].State, Is.SameAs(first[1].State), "the runtime state stays with the address");
    }

    [Test]
    public void Reload_ValidChange_PublishesNewSnapshotWithNewEndpoint()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001, 5002));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var first = state.Current;

        // Act
        configuration.Replace(ReloadableConfiguration.Backend(5001, 5002, 5003));

        // Assert
        var second = state.Current;
        Assert.That(second, Is.Not.SameAs(first));
        Assert.That(second.Version, Is.EqualTo(first.Version + 1));
        Assert.That(second.Clusters["backend"].Endpoints.Select(e => e.Port), Is.EqualTo(new[] { 5001, 5002, 5003 }));
        Assert.That(first.Clusters["backend"].Endpoints, Has.Length.EqualTo(2), "a published snapshot never changes");
    }

    [Test]
    public void Reload_InvalidChange_KeepsPreviousSnapshotAndLogsEveryError()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var logs = provider.GetFakeLogCollector();
        var before = state.Current;
        var invalid = ReloadableConfiguration.Backend(5001, 5002);
        invalid.Add(new("Mesh:Services:backend:Endpoints:1:Weight", "abc"));
        invalid.Add(new("Mesh:Services:backend:LoadBalancer:Policy", "Fastest"));

        // Act
        configuration.Replace(invalid);

        // Assert
        Assert.That(state.Current, Is.SameAs(before));
        Assert.That(state.Current.Version, Is.EqualTo(1));
        var record = logs.LatestRecord;
        Assert.That((record.Level, record.Id.Id, record.Category), Is.EqualTo((LogLevel.Error, 2, typeof(MeshState).FullName)));
        Assert.That(record.Message, Does.StartWith($"Mesh configuration from {Source} rejected with 2 error(s); snapshot v1 stays in force."));
        Assert.That(record.Message, Does.Contain("Mesh:Services:backend:Endpoints[1]:Weight = 'abc': must be a whole number"));
        Assert.That(record.Message, Does.Contain("Mesh:Services:backend:LoadBalancer:Policy = 'Fastest': unknown load-balancing policy"));
    }

    [Test]
    public void Reload_ValidAfterInvalid_PublishesTheNextVersion()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        configuration.Replace([new("Mesh:Services:backend:Endpoints:0:Address", "not a uri")]);

        // Act
        configuration.Replace(ReloadableConfiguration.Backend(5009));

        // Assert: a rejected update does not use up a version.
        Assert.That(state.Current.Version, Is.EqualTo(2));
        Assert.That(state.Current.Clusters["backend"].Endpoints.Single().Port, Is.EqualTo(5009));
    }

    [Test]
    public void Reload_ValidChange_LogsThePublishedSnapshot()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001));
        using var provider = configuration.Services().BuildServiceProvider();
        _ = provider.GetRequiredService<MeshState>();
        var logs = provider.GetFakeLogCollector();

        // Act
        configuration.Replace(ReloadableConfiguration.Backend(5001, 5002, 5003));

        // Assert
        var record = logs.LatestRecord;
        Assert.That((record.Level, record.Id.Id), Is.EqualTo((LogLevel.Information, 1)));
        Assert.That(record.Message, Is.EqualTo($"Mesh snapshot v2 published from {Source}: 1 service(s), 1 cluster(s), 3 endpoint(s)"));
    }

    [Test]
    public void Reload_EndpointsThatRemain_KeepTheirRuntimeState()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001, 5002));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var before = state.Current.Clusters["backend"].Endpoints;
        before[1].State.OnRequestStarted();

        // Act: 5001 leaves, 5002 stays (now listed first), 5003 arrives.
        configuration.Replace(ReloadableConfiguration.Backend(5002, 5003));

        // Assert
        var after = state.Current.Clusters["backend"].Endpoints;
        Assert.That(after[0].State, Is.SameAs(before[1].State));
        Assert.That(after[0].State.InFlight, Is.EqualTo(1));
        Assert.That(after[1].State, Is.Not.SameAs(before[0].State).And.Not.SameAs(before[1].State));
        Assert.That(after[1].State.InFlight, Is.Zero);
    }

    [Test]
    public void Reload_InvalidChange_RuntimeStateStillCarriedToTheNextValidOne()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var original = state.Current.Clusters["backend"].Endpoints[0].State;
        configuration.Replace([new("Mesh:Services:backend:Endpoints:0:Weight", "0")]);

        // Act
        configuration.Replace(ReloadableConfiguration.Backend(5001, 5002));

        // Assert
        Assert.That(state.Current.Clusters["backend"].Endpoints[0].State, Is.SameAs(original));
    }

    [Test]
    public void Reload_EndpointRemovedThenAddedBack_StartsWithFreshState()
    {
        // Arrange: state survives for endpoints that remain from one snapshot to the next, not across a gap.
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001, 5002));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var original = state.Current.Clusters["backend"].Endpoints[1].State;
        configuration.Replace(ReloadableConfiguration.Backend(5001));

        // Act
        configuration.Replace(ReloadableConfiguration.Backend(5001, 5002));

        // Assert
        Assert.That(state.Current.Clusters["backend"].Endpoints[1].State, Is.Not.SameAs(original));
    }

    [Test]
    public void SnapshotChanged_ValidReload_RaisedWithTheNewSnapshot()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var raised = new List<MeshSnapshot>();
        state.SnapshotChanged += raised.Add;

        // Act
        configuration.Replace(ReloadableConfiguration.Backend(5001, 5002));

        // Assert
        Assert.That(raised, Has.Count.EqualTo(1));
        Assert.That(raised[0], Is.SameAs(state.Current));
        Assert.That(raised[0].Version, Is.EqualTo(2));
    }

    [Test]
    public void SnapshotChanged_InvalidReload_NotRaised()
    {
        // Arrange
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001));
        using var provider = configuration.Services().BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();
        var raised = 0;
        state.SnapshotChanged += _ => raised++;

        // Act
        configuration.Replace([new("Mesh:Services:backend:Endpoints:0:Address", "ftp://x")]);

        // Assert
        Assert.That(raised, Is.Zero);
    }

    [Test]
    public void ConfigUpdates_AcceptedAndRejected_CountedWithResult()
    {
        // Arrange: the collector listens before the state builds its first snapshot.
        var configuration = new ReloadableConfiguration(ReloadableConfiguration.Backend(5001));
        using var provider = configuration.Services().BuildServiceProvider();
        using var collector = new MetricCollector<long>(provider.GetRequiredService<IMeterFactory>(), "Mesh", "mesh.config.updates");
        _ = provider.GetRequiredService<MeshState>();

        // Act
        configuration.Replace(ReloadableConfiguration.Backend(5001, 5002));
        configuration.Replace([new("Mesh:Services:backend:Endpoints:0:Weight", "x")]);

        // Assert
        var measurements = collector.GetMeasurementSnapshot();
        Assert.That(measurements.Select(m => (m.Value, m.Tags["mesh.config.result"])), Is.EqualTo(new (long, object?)[]
        {
            (1, "accepted"),
            (1, "accepted"),
            (1, "rejected"),
        }));
    }

    [Test]
    public void Current_InvalidConfigurationAtStartup_ThrowsListingEveryError()
    {
        // Arrange
        var data = ReloadableConfiguration.Backend(5001, 5001);
        data.Add(new("Mesh:Services:backend:Endpoints:0:Wieght", "2"));
        var configuration = new ReloadableConfiguration(data);
        using var provider = configuration.Services().BuildServiceProvider();

        // Act
        var exception = Assert.Throws<MeshConfigurationException>(() => provider.GetRequiredService<MeshState>());

        // Assert
        string[] expected =
        [
            "Mesh:Services:backend:Endpoints[0]:Wieght: unknown setting; valid settings here are Address, Health, Labels, Locality, Weight, Workload",
            "Mesh:Services:backend:Endpoints[1]:Address = 'http://127.0.0.1:5001': duplicates Endpoints[0]; list each endpoint once and use Weight for a larger share",
        ];
        Assert.That(exception!.Errors, Is.EqualTo(expected));
        Assert.That(exception.Message, Is.EqualTo(
            $"The mesh configuration from {Source} is invalid (2 errors):{Environment.NewLine}  - {expected[0]}{Environment.NewLine}  - {expected[1]}"));
    }

    [Test]
    public void Current_OneErrorAtStartup_MessageSaysOneError()
    {
        // Arrange
        var data = ReloadableConfiguration.Backend(5001, 5002);
        data.Add(new("Mesh:Services:backend:Endpoints:0:Weight", "0"));
        var configuration = new ReloadableConfiguration(data);
        using var provider = configuration.Services().BuildServiceProvider();

        // Act
        var exception = Assert.Throws<MeshConfigurationException>(() => provider.GetRequiredService<MeshState>());

        // Assert
        Assert.That(exception!.Message, Does.StartWith($"The mesh configuration from {Source} is invalid (1 error):"));
    }
}
