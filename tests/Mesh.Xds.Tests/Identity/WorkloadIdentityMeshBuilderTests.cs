using Mesh.Identity;
using Mesh.Testing;
using Mesh.Xds.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace Mesh.Xds.Tests.Identity;

[TestFixture]
public sealed class WorkloadIdentityMeshBuilderTests
{
    private static readonly TestPki Pki = TestPki.Create("cluster.local");

    private TestCaServer _ca = null!;
    private string _directory = null!;

    [SetUp]
    public async Task SetUp()
    {
        _ca = await TestCaServer.StartAsync(Pki);
        _directory = Directory.CreateTempSubdirectory("mesh-workload-identity-").FullName;
    }

    [TearDown]
    public async Task TearDown()
    {
        await _ca.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private string WriteRoot()
    {
        var path = Path.Combine(_directory, "root-cert.pem");
        File.WriteAllText(path, Pki.RootPem);
        return path;
    }

    [Test]
    public async Task AddWorkloadIdentity_CaAddressAndRoot_HostStartObtainsTheSvidFromTheCa()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddFakeLogging();
        services.AddMesh().AddWorkloadIdentity(o =>
        {
            o.CaAddress = _ca.Address;
            o.Token = "token-1";
            o.RootCertificateFile = WriteRoot();
            o.TrustDomain = "cluster.local";
            o.Namespace = "shop";
            o.ServiceAccount = "checkout";
            o.CertificateTtl = TimeSpan.FromHours(12);
        });
        await using var provider = services.BuildServiceProvider();
        var identityProvider = provider.GetRequiredService<IWorkloadIdentityProvider>();

        // Act
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(TestCaServer.Timeout);
        }

        var identity = await identityProvider.WaitForIdentityAsync(CancellationToken.None).WaitAsync(TestCaServer.Timeout);

        // Assert
        var request = _ca.Requests.Single();
        Assert.Multiple(() =>
        {
            Assert.That(identity.SpiffeId?.Value, Is.EqualTo("spiffe://cluster.local/ns/shop/sa/checkout"));
            Assert.That(identity.Certificate.HasPrivateKey, Is.True);
            Assert.That(identity.NotAfter - identity.NotBefore, Is.EqualTo(TimeSpan.FromHours(12)));
            Assert.That(request.ValidityDuration, Is.EqualTo(12 * 3600));
            Assert.That(identityProvider.LastError, Is.Null);
            Assert.That(provider.GetFakeLogCollector().GetSnapshot().Any(r => r.Id.Id == 43), Is.False, "a configured root is not trust on first use");
        });
    }

    [Test]
    public async Task AddWorkloadIdentity_NoCaAddress_UsesTheXdsServerOfTheBootstrap()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddWorkloadIdentity(o =>
        {
            o.Bootstrap = $$"""{ "xds_servers": [ { "server_uri": "127.0.0.1:{{_ca.Port}}", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": "identity-test" } }""";
            o.Token = "token-1";
        });
        await using var provider = services.BuildServiceProvider();

        // Act
        var identity = await provider.GetRequiredService<IWorkloadIdentityProvider>().WaitForIdentityAsync(CancellationToken.None).WaitAsync(TestCaServer.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(identity.SpiffeId?.Value, Is.EqualTo("spiffe://cluster.local/ns/shop/sa/frontend"));
            Assert.That(provider.GetRequiredService<CaCertificateSigner>().Address, Is.EqualTo(_ca.Address));
        });
    }

    [Test]
    public async Task AddWorkloadIdentity_CaRefusesTheToken_LastErrorNamesTheCaAndTheStatus()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddWorkloadIdentity(o =>
        {
            o.CaAddress = _ca.Address;
            o.Token = "wrong";
            o.RootCertificateFile = WriteRoot();
        });
        await using var provider = services.BuildServiceProvider();
        var identityProvider = provider.GetRequiredService<IWorkloadIdentityProvider>();

        // Act: start, then poll until the first attempt has failed.
        var waiting = identityProvider.WaitForIdentityAsync(CancellationToken.None);
        using var bound = new CancellationTokenSource(TestCaServer.Timeout);
        while (identityProvider.LastError is null)
        {
            await Task.Delay(10, bound.Token);
        }

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(waiting.IsCompleted, Is.False);
            Assert.That(identityProvider.LastError, Does.StartWith($"CA {_ca.Address}: CreateCertificate failed with status Unauthenticated"));
        });
    }

    [Test]
    public void AddWorkloadIdentity_InvalidOptions_FailsListingEveryProblem()
    {
        // Arrange
        var services = new ServiceCollection();
        services.AddMesh().AddWorkloadIdentity(o =>
        {
            o.CaAddress = "istiod:15012";
            o.Token = "t";
            o.TokenFile = "token";
            o.RootCertificateFile = Path.Combine(_directory, "missing.pem");
            o.CertificateTtl = TimeSpan.Zero;
            o.TrustDomain = "Cluster.Local";
            o.Namespace = "a/b";
        });
        using var provider = services.BuildServiceProvider();

        // Act
        var e = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<WorkloadIdentityOptions>>().Value);

        // Assert
        Assert.That(e!.Failures, Has.Some.StartsWith("WorkloadIdentity:CaAddress = 'istiod:15012': must be an absolute http:// or https:// URI")
            .And.Some.StartsWith("WorkloadIdentity:Token and WorkloadIdentity:TokenFile are both set")
            .And.Some.StartsWith("WorkloadIdentity:RootCertificateFile = '")
            .And.Some.StartsWith("WorkloadIdentity:CertificateTtl = 00:00:00: must be a positive duration")
            .And.Some.StartsWith("WorkloadIdentity:TrustDomain = 'Cluster.Local'")
            .And.Some.StartsWith("WorkloadIdentity:Namespace = 'a/b'"));
    }

    [Test]
    public void AddWorkloadIdentity_AfterAddFileWatcherIdentity_ThrowsNamingTheFirst()
    {
        // Arrange
        var builder = new ServiceCollection().AddMesh().AddFileWatcherIdentity(_ => { });

        // Act + Assert
        Assert.That(
            () => builder.AddWorkloadIdentity(o => o.CaAddress = _ca.Address),
            Throws.InvalidOperationException.With.Message.StartsWith("AddWorkloadIdentity: a workload identity provider is already registered (FileWatcherIdentityProvider by AddFileWatcherIdentity)"));
    }
}
