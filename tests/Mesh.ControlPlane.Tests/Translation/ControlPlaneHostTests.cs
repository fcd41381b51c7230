using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;
using Mesh.Xds.Server;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.Translation;

[TestFixture]
public sealed class ControlPlaneHostTests
{
    private static (ControlPlaneHost Host, ConfigStore Store, XdsSnapshotCache Cache, FakeTimeProvider Time) Create(bool synced = true)
    {
        var store = new ConfigStore();
        store.Register("test");
        store.Replace("test", Seed());
        if (synced)
        {
            store.MarkSynced("test");
        }

        var time = new FakeTimeProvider();
        var cache = new XdsSnapshotCache(new XdsServerOptions { NodeHash = XdsNodeHash.Constant(ControlPlaneHost.SnapshotKey) });
        return (new ControlPlaneHost(store, cache, NullLogger<ControlPlaneHost>.Instance, time, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10)), store, cache, time);
    }

    [Test]
    public void Signal_AfterAQuietPeriod_TranslatesOnceAndPublishes()
    {
        var (host, store, cache, time) = Create();
        using var _ = host;
        host.Start();
        store.Upsert("test", Seed()[1]);
        store.Upsert("test", Seed()[2]);

        time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.That(host.Status.Published, Is.Zero, "nothing before 100 ms of quiet");
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.That(host.Status.Published, Is.EqualTo(1), "three changes, one translation");
        Assert.That(cache.GetSnapshot(ControlPlaneHost.SnapshotKey)!.GetResources(XdsResourceSnapshot.ListenerTypeUrl).Contains("backend.demo.svc.cluster.local:8080"), Is.True);
    }

    [Test]
    public void Signal_NeverQuiet_TranslatesAtTheMaximumDelay()
    {
        var (host, _, _, time) = Create();
        using var __ = host;
        host.Start();

        for (var i = 0; i < 199; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            host.Signal();
        }

        Assert.That(host.Status.Published, Is.Zero, "changes every 50 ms keep postponing the translation");
        time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.That(host.Status.Published, Is.EqualTo(1), "but never beyond 10 s after the first change");
    }

    [Test]
    public void Rebuild_SourcesNotSynced_PublishesNothing()
    {
        var (host, store, cache, time) = Create(synced: false);
        using var _ = host;
        host.Start();

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(cache.GetSnapshot(ControlPlaneHost.SnapshotKey), Is.Null, "an empty snapshot would tell clients their resources do not exist");

        store.MarkSynced("test");
        time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.That(cache.GetSnapshot(ControlPlaneHost.SnapshotKey), Is.Not.Null);
    }

    [Test]
    public void TryParse_CommandLine_ReadsEveryOption()
    {
        var error = ControlPlaneOptions.TryParse(["--manifests", "dir", "--kubeconfig", "kc", "--xds-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:9"], out var options);

        Assert.That(error, Is.Null);
        Assert.That((options.ManifestsDirectory, options.KubeconfigPath, options.InCluster, options.XdsListen, options.AdminListen), Is.EqualTo(("dir", "kc", false, "127.0.0.1:0", "127.0.0.1:9")));
    }

    [TestCase(new string[0], "give a source")]
    [TestCase(new[] { "--manifests", "d", "--kubeconfig", "k", "--in-cluster" }, "either --kubeconfig or --in-cluster")]
    [TestCase(new[] { "--manifests", "d", "--xds-listen", "localhost" }, "--xds-listen = localhost: must be IP:PORT")]
    [TestCase(new[] { "--manifests" }, "--manifests needs a value")]
    [TestCase(new[] { "--bogus" }, "unknown argument '--bogus'")]
    public void TryParse_BadCommandLine_SaysWhy(string[] args, string message) =>
        Assert.That(ControlPlaneOptions.TryParse(args, out _), Does.Contain(message));
}
