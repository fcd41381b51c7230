using Mesh.Identity;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Mesh.Core.Tests.Identity;

[TestFixture]
public sealed class WorkloadIdentityRegistrationTests
{
    [Test]
    public void AddFileWatcherIdentity_Resolved_OneProviderIsTheIdentityAndAHostedService()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddFileWatcherIdentity(o =>
        {
            o.CertificateFile = "cert-chain.pem";
            o.PrivateKeyFile = "key.pem";
            o.CaCertificateFile = "root-cert.pem";
        });
        using var provider = services.BuildServiceProvider();

        // Act
        var identity = provider.GetRequiredService<IWorkloadIdentityProvider>();

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(identity, Is.InstanceOf<FileWatcherIdentityProvider>());
            Assert.That(provider.GetServices<IHostedService>(), Has.Member(identity));
        });
    }

    [Test]
    public void AddFileWatcherIdentity_CalledTwice_ThrowsNamingTheExistingProvider()
    {
        // Arrange
        var builder = new ServiceCollection().AddMesh();
        builder.AddFileWatcherIdentity(o => o.CertificateFile = "a.pem");

        // Act
        var e = Assert.Throws<InvalidOperationException>(() => builder.AddFileWatcherIdentity(o => o.CertificateFile = "b.pem"));

        // Assert
        Assert.That(e!.Message, Does.StartWith("AddFileWatcherIdentity: a workload identity provider is already registered (FileWatcherIdentityProvider by AddFileWatcherIdentity)"));
    }

    [Test]
    public void AddFileWatcherIdentity_AnotherProviderRegistered_Throws()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddSingleton<IWorkloadIdentityProvider>(new StaticIdentity());

        // Act + Assert
        Assert.That(
            () => services.AddMesh().AddFileWatcherIdentity(_ => { }),
            Throws.InvalidOperationException.With.Message.Contains("already registered (StaticIdentity)"));
    }

    [Test]
    public void AddFileWatcherIdentity_InvalidOptions_FailsListingEveryProblem()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddFileWatcherIdentity(o =>
        {
            o.PrivateKeyFile = " ";
            o.RefreshInterval = TimeSpan.Zero;
            o.TrustDomain = "Cluster.Local";
        });
        using var provider = services.BuildServiceProvider();

        // Act
        var e = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<FileWatcherIdentityOptions>>().Value);

        // Assert
        Assert.That(e!.Failures, Has.Some.StartsWith("FileWatcherIdentity:CertificateFile: is not set")
            .And.Some.StartsWith("FileWatcherIdentity:PrivateKeyFile: is not set")
            .And.Some.StartsWith("FileWatcherIdentity:CaCertificateFile: is not set")
            .And.Some.StartsWith("FileWatcherIdentity:RefreshInterval = 00:00:00: must be a positive duration")
            .And.Some.StartsWith("FileWatcherIdentity:TrustDomain = 'Cluster.Local': is not a SPIFFE trust domain"));
    }

    private sealed class StaticIdentity : IWorkloadIdentityProvider
    {
        private readonly WorkloadIdentity _identity = TestPki.Create().IssueIdentity();

        public WorkloadIdentity? Current => _identity;

        public string? LastError => null;

        public event Action<WorkloadIdentity>? Changed
        {
            add { }
            remove { }
        }

        public Task<WorkloadIdentity> WaitForIdentityAsync(CancellationToken cancellationToken) => Task.FromResult(_identity);
    }
}
