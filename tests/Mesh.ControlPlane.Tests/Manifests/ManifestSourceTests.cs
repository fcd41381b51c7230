using System.Text.Json;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Configuration.Manifests;
using Mesh.ControlPlane.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Manifests;

[TestFixture]
public sealed class ManifestSourceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private ManifestTestDirectory _dir = null!;
    private ConfigStore _store = null!;
    private FakeLogger<ManifestSource> _logger = null!;
    private readonly List<ManifestSource> _sources = [];

    [SetUp]
    public void SetUp()
    {
        _dir = new ManifestTestDirectory();
        _store = new ConfigStore();
        _logger = new FakeLogger<ManifestSource>();
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var source in _sources)
        {
            source.Dispose();
        }

        _sources.Clear();
        _dir.Dispose();
    }

    private static string Service(string name, string? ns = null, int port = 80) => $"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
        {(ns is null ? "" : $"  namespace: {ns}")}
        spec:
          ports:
          - port: {port}
        """;

    private static string VirtualService(string name, int weight) => $$"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: {{name}}
          namespace: demo
        spec:
          hosts: [{{name}}]
          http:
          - route:
            - destination: { host: {{name}}, subset: v1 }
              weight: {{weight}}
        """;

    // These tests exercise the source alone; the typed validator has its own tests.
    private static IReadOnlyList<string> NoValidation(ConfigObject configObject) => [];

    private ManifestSource Create(TimeProvider? time = null, Func<ConfigObject, IReadOnlyList<string>>? validate = null, bool watch = false, TimeSpan? rescan = null)
    {
        var source = new ManifestSource(_dir.Path, _store, _logger, time, validate ?? NoValidation)
        {
            WatchFileSystem = watch,
            RescanInterval = rescan ?? TimeSpan.FromHours(1),
        };
        _sources.Add(source);
        return source;
    }

    private async Task<ManifestSource> StartAsync(TimeProvider? time = null, Func<ConfigObject, IReadOnlyList<string>>? validate = null, bool watch = false, TimeSpan? rescan = null)
    {
        var source = Create(time, validate, watch, rescan);
        await source.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        return source;
    }

    private ConfigObject? Find(string kind, string ns, string name) =>
        _store.Snapshot().SingleOrDefault(o => o.Key == new ConfigKey(kind, ns, name));

    private static int Weight(ConfigObject vs) =>
        vs.Body.GetProperty("spec").GetProperty("http")[0].GetProperty("route")[0].GetProperty("weight").GetInt32();

    [Test]
    public async Task StartAsync_MultiDocumentFiles_StoresEveryObjectWithIdentityAndOrigin()
    {
        _dir.Write("routes.yaml", Service("backend", "demo") + "\n---\n" + VirtualService("backend", 80) + "\n---\n# only a comment\n");
        _dir.Write("nested/more.yml", Service("frontend", "demo"));
        _dir.Write("notes.txt", "not: a manifest");

        var source = await StartAsync();

        var service = Find("Service", "demo", "backend");
        var vs = Find("VirtualService", "demo", "backend");
        var nested = Find("Service", "demo", "frontend");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(_store.Snapshot(), Has.Count.EqualTo(3));
            Assert.That(service?.ApiVersion, Is.EqualTo("v1"));
            Assert.That(service?.Origin, Is.EqualTo("routes.yaml, document 1"));
            Assert.That(vs?.ApiVersion, Is.EqualTo("networking.istio.io/v1"));
            Assert.That(vs?.Origin, Is.EqualTo("routes.yaml, document 2"));
            Assert.That(vs?.Body.GetProperty("metadata").GetProperty("name").GetString(), Is.EqualTo("backend"));
            Assert.That(nested?.Origin, Is.EqualTo("nested/more.yml, document 1"));
            Assert.That(source.SourceId, Does.StartWith("manifests:"));
            Assert.That(source.Problems, Is.Empty);
            Assert.That(_store.IsSynced, Is.True);
        }
    }

    [Test]
    public async Task StartAsync_ScalarTypes_FollowYamlNotQuoting()
    {
        _dir.Write("types.yaml", """
            apiVersion: v1
            kind: Service
            metadata:
              name: typed
              labels:
                quotedBool: "true"
                quotedNumber: "80"
            spec:
              number: 80
              quotedNumber: "80"
              singleQuoted: '80'
              flag: true
              quotedFlag: "true"
              fraction: 0.25
              negative: -3
              nothing: null
              tilde: ~
              text: hello
              taggedString: !!str 42
              block: |
                line
              list: [1, "1", yes]
            """);

        await StartAsync();

        var spec = Find("Service", "default", "typed")!.Body.GetProperty("spec");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(spec.GetProperty("number").ValueKind, Is.EqualTo(JsonValueKind.Number));
            Assert.That(spec.GetProperty("number").GetInt32(), Is.EqualTo(80));
            Assert.That(spec.GetProperty("quotedNumber").GetString(), Is.EqualTo("80"));
            Assert.That(spec.GetProperty("singleQuoted").GetString(), Is.EqualTo("80"));
            Assert.That(spec.GetProperty("flag").ValueKind, Is.EqualTo(JsonValueKind.True));
            Assert.That(spec.GetProperty("quotedFlag").GetString(), Is.EqualTo("true"));
            Assert.That(spec.GetProperty("fraction").GetDouble(), Is.EqualTo(0.25));
            Assert.That(spec.GetProperty("negative").GetInt32(), Is.EqualTo(-3));
            Assert.That(spec.GetProperty("nothing").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(spec.GetProperty("tilde").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(spec.GetProperty("text").GetString(), Is.EqualTo("hello"));
            Assert.That(spec.GetProperty("taggedString").GetString(), Is.EqualTo("42"));
            Assert.That(spec.GetProperty("block").GetString(), Is.EqualTo("line\n"));
            Assert.That(spec.GetProperty("list").GetRawText(), Is.EqualTo("""[1,"1","yes"]"""));
        }
    }

    [Test]
    public async Task StartAsync_AnchorsAndMergeKeys_AreExpanded()
    {
        _dir.Write("anchors.yaml", """
            apiVersion: v1
            kind: Service
            metadata:
              name: anchored
              labels: &labels
                app: web
            spec:
              selector: *labels
              merged:
                <<: *labels
                tier: front
            """);

        await StartAsync();

        var spec = Find("Service", "default", "anchored")!.Body.GetProperty("spec");
        Assert.That(spec.GetRawText(), Is.EqualTo("""{"selector":{"app":"web"},"merged":{"tier":"front","app":"web"}}"""));
    }

    [Test]
    public async Task StartAsync_NoNamespace_UsesDefault()
    {
        _dir.Write("svc.yaml", Service("backend"));

        await StartAsync();

        Assert.That(Find("Service", "default", "backend"), Is.Not.Null);
    }

    [Test]
    public async Task ReloadAsync_SyntaxError_ReportsFileDocumentLineAndKeepsLastGood()
    {
        _dir.Write("a.yaml", Service("one") + "\n---\n" + Service("two"));
        _dir.Write("b.yaml", Service("three"));
        var source = await StartAsync();

        _dir.Write("a.yaml", Service("one") + "\n---\n" + Service("renamed") + "\n  bad: [unclosed\n");
        _dir.Write("b.yaml", Service("three") + "\n---\n" + Service("four"));
        await source.ReloadAsync().WaitAsync(Timeout);

        var names = _store.Snapshot().Select(o => o.Name);
        var problem = source.Problems.Single();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(names, Is.EquivalentTo(new[] { "one", "two", "three", "four" }));
            Assert.That(problem.File, Is.EqualTo("a.yaml"));
            Assert.That(problem.Document, Is.EqualTo(2));
            Assert.That(problem.Severity, Is.EqualTo(ManifestProblemSeverity.Error));
            Assert.That(problem.Message, Does.StartWith("a.yaml, document 2, line ").And.Contain("YAML syntax error"));
            Assert.That(_logger.Collector.GetSnapshot().Any(r => r.Level == LogLevel.Error && r.Message.Contains("a.yaml, document 2, line")), Is.True);
        }
    }

    [Test]
    public async Task ReloadAsync_DocumentWithoutName_KeepsFileLastGoodState()
    {
        _dir.Write("a.yaml", Service("one") + "\n---\n" + VirtualService("backend", 80));
        var source = await StartAsync();

        _dir.Write("a.yaml", Service("one") + "\n---\n" + VirtualService("backend", 50) + "\n---\napiVersion: v1\nkind: Service\nmetadata:\n  namespace: demo\n");
        await source.ReloadAsync().WaitAsync(Timeout);

        var problem = source.Problems.Single();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Weight(Find("VirtualService", "demo", "backend")!), Is.EqualTo(80));
            Assert.That(problem.Document, Is.EqualTo(3));
            Assert.That(problem.Message, Does.StartWith("a.yaml, document 3, line 24: Service demo/?: metadata.name is missing"));
        }
    }

    [Test]
    public async Task ReloadAsync_ValidatorErrors_KeepFileLastGoodStateAndAreReported()
    {
        static IReadOnlyList<string> Validate(ConfigObject o) =>
            o.Kind == "VirtualService" && Weight(o) > 100 ? [$"{o.Origin}: VirtualService {o.Namespace}/{o.Name}: spec.http[0].route[0].weight = {Weight(o)}: must be between 0 and 100"] : [];
        _dir.Write("vs.yaml", VirtualService("backend", 80));
        var source = await StartAsync(validate: Validate);

        _dir.Write("vs.yaml", VirtualService("backend", 150));
        await source.ReloadAsync().WaitAsync(Timeout);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Weight(Find("VirtualService", "demo", "backend")!), Is.EqualTo(80));
            Assert.That(source.Problems.Single().Message, Is.EqualTo("vs.yaml, document 1: VirtualService demo/backend: spec.http[0].route[0].weight = 150: must be between 0 and 100"));
        }
    }

    [Test]
    public async Task ReloadAsync_FixedFile_AppliesAndClearsProblems()
    {
        _dir.Write("vs.yaml", VirtualService("backend", 80));
        var source = await StartAsync();
        _dir.Write("vs.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: backend, namespace: demo\n");
        await source.ReloadAsync().WaitAsync(Timeout);
        Assert.That(source.Problems, Has.Count.EqualTo(1));

        _dir.Write("vs.yaml", VirtualService("backend", 20));
        await source.ReloadAsync().WaitAsync(Timeout);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Weight(Find("VirtualService", "demo", "backend")!), Is.EqualTo(20));
            Assert.That(source.Problems, Is.Empty);
        }
    }

    [Test]
    public async Task StartAsync_FileThatNeverWasGood_ContributesNothing()
    {
        _dir.Write("bad.yaml", Service("one") + "\n---\nkind: Service\nmetadata: {name: x}\n");
        _dir.Write("good.yaml", Service("two"));

        var source = await StartAsync();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(_store.Snapshot().Select(o => o.Name), Is.EqualTo(new[] { "two" }));
            Assert.That(source.Problems.Single().Message, Does.Contain("bad.yaml, document 2").And.Contain("apiVersion is missing"));
            Assert.That(_store.IsSynced, Is.True);
        }
    }

    [TestCase("apiVersion: v2\nkind: Service\nmetadata: {name: x}\n", "apiVersion 'v2' is not one Mesh reads for Service: use v1")]
    [TestCase("apiVersion: v1\nkind: service\nmetadata: {name: x}\n", "kinds are case-sensitive: write kind: Service")]
    [TestCase("apiVersion: v1\nkind: Service\nmetadata: {name: 5}\n", "metadata.name is a number (5), not a string")]
    [TestCase("apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n", "duplicate key 'name'")]
    [TestCase("- just\n- a list\n", "not a mapping")]
    public async Task StartAsync_InvalidDocument_IsReportedAsError(string yaml, string expected)
    {
        _dir.Write("x.yaml", yaml);

        var source = await StartAsync();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(_store.Snapshot(), Is.Empty);
            Assert.That(source.Problems.Single().Severity, Is.EqualTo(ManifestProblemSeverity.Error));
            Assert.That(source.Problems.Single().Message, Does.StartWith("x.yaml, document 1").And.Contain(expected));
        }
    }

    [Test]
    public async Task ReloadAsync_DeletedFile_RemovesItsObjects()
    {
        _dir.Write("a.yaml", Service("one"));
        _dir.Write("b.yaml", Service("two"));
        var source = await StartAsync();

        _dir.Delete("a.yaml");
        await source.ReloadAsync().WaitAsync(Timeout);

        Assert.That(_store.Snapshot().Select(o => o.Name), Is.EqualTo(new[] { "two" }));
    }

    [Test]
    public async Task ReloadAsync_DuplicateAcrossFiles_FirstInPathOrderWinsAndBothPlacesAreNamed()
    {
        _dir.Write("a.yaml", Service("same", port: 1));
        _dir.Write("b.yaml", Service("other") + "\n---\n" + Service("same", port: 2));

        var source = await StartAsync();

        var kept = Find("Service", "default", "same")!;
        var problem = source.Problems.Single();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kept.Origin, Is.EqualTo("a.yaml, document 1"));
            Assert.That(Find("Service", "default", "other"), Is.Not.Null);
            Assert.That(problem.File, Is.EqualTo("b.yaml"));
            Assert.That(problem.Document, Is.EqualTo(2));
            Assert.That(problem.Message, Does.Contain("b.yaml, document 2").And.Contain("a.yaml, document 1").And.Contain("Service default/same"));
            Assert.That(_logger.Collector.GetSnapshot().Count(r => r.Level == LogLevel.Error), Is.EqualTo(1));
        }
    }

    [Test]
    public async Task StartAsync_UnknownKind_WarnsAndAppliesTheRest()
    {
        _dir.Write("app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\n" + Service("web"));

        var source = await StartAsync();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(_store.Snapshot().Select(o => o.Key.ToString()), Is.EqualTo(new[] { "Service default/web" }));
            Assert.That(source.Problems.Single().Severity, Is.EqualTo(ManifestProblemSeverity.Warning));
            Assert.That(_logger.Collector.GetSnapshot().Any(r => r.Level == LogLevel.Warning && r.Message.Contains("app.yaml, document 1: kind Deployment is not used by Mesh; ignored")), Is.True);
            Assert.That(_logger.Collector.GetSnapshot().Any(r => r.Level >= LogLevel.Error), Is.False);
        }
    }

    [Test]
    public void StartAsync_MissingDirectory_ThrowsNamingPathAndFix()
    {
        var missing = Path.Combine(_dir.Path, "nope");
        var source = new ManifestSource(missing, _store, _logger);
        _sources.Add(source);

        var ex = Assert.ThrowsAsync<DirectoryNotFoundException>(() => source.StartAsync(CancellationToken.None));

        Assert.That(ex!.Message, Does.Contain(missing).And.Contain("Create it"));
    }

    [Test]
    public async Task ReloadAsync_ManyFilesChanged_RaisesChangedOnce()
    {
        _dir.Write("a.yaml", Service("one"));
        var source = await StartAsync();
        var changed = 0;
        _store.Changed += () => Interlocked.Increment(ref changed);

        _dir.Write("a.yaml", Service("one", port: 81));
        _dir.Write("b.yaml", Service("two"));
        _dir.Write("c.yaml", Service("three"));
        await source.ReloadAsync().WaitAsync(Timeout);
        var afterChange = changed;
        await source.ReloadAsync().WaitAsync(Timeout);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(afterChange, Is.EqualTo(1));
            Assert.That(changed, Is.EqualTo(1), "a re-read that finds nothing new must not raise Changed");
        }
    }

    [Test]
    public async Task Watcher_NewFile_IsPickedUpWithinASecond()
    {
        await StartAsync(watch: true);

        _dir.Write("new.yaml", Service("fresh"));

        Assert.That(await ManifestTestDirectory.EventuallyAsync(() => Find("Service", "default", "fresh") is not null, TimeSpan.FromSeconds(1.5)), Is.True);
    }

    [Test]
    public async Task Watcher_RapidSuccessiveWrites_EndInFinalContent()
    {
        await StartAsync(watch: true);

        for (var weight = 0; weight <= 30; weight++)
        {
            _dir.Write("vs.yaml", VirtualService("backend", weight));
        }

        Assert.That(await ManifestTestDirectory.EventuallyAsync(() => Find("VirtualService", "demo", "backend") is { } vs && Weight(vs) == 30, Timeout), Is.True);
    }

    [Test]
    public async Task Watcher_BurstOfFileEvents_ReloadsOnceAfterTheQuietPeriod()
    {
        var time = new FakeTimeProvider();
        var source = await StartAsync(time, watch: true);
        var changed = 0;
        _store.Changed += () => Interlocked.Increment(ref changed);

        _dir.Write("a.yaml", Service("one"));
        _dir.Write("b.yaml", Service("two"));
        _dir.Write("c.yaml", Service("three"));
        var expected = new[] { "a.yaml", "b.yaml", "c.yaml" }.Select(_dir.FullPath).ToArray();
        Assert.That(await ManifestTestDirectory.EventuallyAsync(() => expected.All(source.PendingPaths.Contains), Timeout), Is.True, "the watcher saw every file");
        Assert.That(_store.Snapshot(), Is.Empty, "nothing is read before the quiet period ends");

        time.Advance(source.Debounce);

        Assert.That(await ManifestTestDirectory.EventuallyAsync(() => _store.Snapshot().Count == 3, Timeout), Is.True);
        Assert.That(changed, Is.EqualTo(1));
    }

    [Test]
    public async Task Rescan_WithoutWatcher_PicksUpChanges()
    {
        var time = new FakeTimeProvider();
        await StartAsync(time, watch: false, rescan: TimeSpan.FromSeconds(2));

        _dir.Write("late.yaml", Service("late"));
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.That(await ManifestTestDirectory.EventuallyAsync(() => Find("Service", "default", "late") is not null, Timeout), Is.True);
    }

    [Test]
    public async Task ReloadAsync_HiddenFilesAndFolders_AreSkipped()
    {
        _dir.Write(".editor-swap.yaml", Service("hidden"));
        _dir.Write("..data/svc.yaml", Service("mounted-twice"));
        _dir.Write("svc.yaml", Service("visible"));

        await StartAsync();

        Assert.That(_store.Snapshot().Select(o => o.Name), Is.EqualTo(new[] { "visible" }));
    }

    [Test]
    public async Task ReloadAsync_ConfigMapMountSymlinkSwap_ReadsEachFileOnceAndSeesTheNewVersion()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "symbolic links need privileges on Windows");

        // The layout the kubelet writes for a mounted ConfigMap: svc.yaml -> ..data/svc.yaml, ..data -> ..v1.
        _dir.Write("..v1/svc.yaml", Service("backend", port: 1));
        Directory.CreateSymbolicLink(_dir.FullPath("..data"), "..v1");
        File.CreateSymbolicLink(_dir.FullPath("svc.yaml"), "..data/svc.yaml");
        var source = await StartAsync();
        Assert.That(_store.Snapshot().Single().Origin, Is.EqualTo("svc.yaml, document 1"));

        // An update: a new version folder and ..data pointed at it (the kubelet renames atomically; a test need not).
        // Neither the name nor the timestamps of svc.yaml itself change.
        _dir.Write("..v2/svc.yaml", Service("backend", port: 2));
        File.Delete(_dir.FullPath("..data"));
        Directory.CreateSymbolicLink(_dir.FullPath("..data"), "..v2");
        await source.ReloadAsync().WaitAsync(Timeout);

        var port = _store.Snapshot().Single().Body.GetProperty("spec").GetProperty("ports")[0].GetProperty("port").GetInt32();
        Assert.That(port, Is.EqualTo(2));
    }

    [Test]
    public async Task ReloadAsync_FileReadEmpty_KeepsObjectsUntilTheNextReadConfirms()
    {
        _dir.Write("a.yaml", Service("one"));
        var source = await StartAsync();

        _dir.Write("a.yaml", string.Empty);
        await source.ReloadAsync().WaitAsync(Timeout);
        var afterFirstRead = _store.Snapshot().Count;
        await source.ReloadAsync().WaitAsync(Timeout);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(afterFirstRead, Is.EqualTo(1), "an empty read may be a truncate-then-write in progress");
            Assert.That(_store.Snapshot(), Is.Empty);
        }
    }
}
