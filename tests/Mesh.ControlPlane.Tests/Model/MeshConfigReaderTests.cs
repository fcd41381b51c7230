using Mesh.ControlPlane.Model;
using Mesh.ControlPlane.Tests.Infrastructure;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.Model;

[TestFixture]
public sealed class MeshConfigReaderTests
{
    [Test]
    public void Validate_NegativeWeight_NamesOriginKindFieldValueAndRule()
    {
        // Arrange
        var vs = Object(TranslationTestObjects.Istio, "VirtualService", "demo", "backend", """
            {"hosts":["backend"],"http":[{"route":[{"destination":{"host":"backend","subset":"v1"},"weight":105},{"destination":{"host":"backend","subset":"v2"},"weight":-5}]}]}
            """);

        // Act
        var errors = MeshConfigReader.Validate(vs);

        // Assert
        Assert.That(errors, Does.Contain("test.yaml, VirtualService backend: VirtualService demo/backend: spec.http[0].route[1].weight = -5: must be between 0 and 100"));
        Assert.That(errors, Does.Contain("test.yaml, VirtualService backend: VirtualService demo/backend: spec.http[0].route[0].weight = 105: must be between 0 and 100"));
    }

    [Test]
    public void Validate_WeightsNotAddingUpTo100_IsAnError()
    {
        var vs = Object(TranslationTestObjects.Istio, "VirtualService", "demo", "backend", """
            {"hosts":["backend"],"http":[{"route":[{"destination":{"host":"backend","subset":"v1"},"weight":70},{"destination":{"host":"backend","subset":"v2"},"weight":20}]}]}
            """);

        var errors = MeshConfigReader.Validate(vs);

        Assert.That(errors, Has.One.EndsWith("spec.http[0].route: the weights add up to 90: they must add up to 100"));
    }

    [Test]
    public void Check_MirrorAndRedirect_MirrorWarnsRedirectRejects()
    {
        // Mirroring does not change where requests go; a redirect does, so ignoring it would change traffic.
        var vs = Object(TranslationTestObjects.Istio, "VirtualService", "demo", "backend", """
            {"hosts":["backend"],"http":[{"mirror":{"host":"shadow"},"route":[{"destination":{"host":"backend"}}]},{"redirect":{"uri":"/x"},"route":[{"destination":{"host":"backend"}}]}]}
            """);

        var (errors, warnings) = MeshConfigReader.Check(vs);

        Assert.That(warnings, Has.One.EndsWith("spec.http[0].mirror: not supported; ignored (it does not change where requests go)"));
        Assert.That(errors, Has.One.Contains("spec.http[1].redirect: not supported, and ignoring it would change how traffic is routed"));
    }

    [Test]
    public void Read_InvalidObject_LeftOutWholeOthersKept()
    {
        var objects = Seed();
        objects.Add(Object(TranslationTestObjects.Istio, "DestinationRule", "demo", "other", """{"host":"other","trafficPolicy":{"loadBalancer":{"simple":"PASSTHROUGH"}}}"""));
        objects.Add(Object("apps/v1", "Deployment", "demo", "frontend", "{}"));

        var result = MeshConfigReader.Read(objects);

        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Has.Count.EqualTo(1));
            Assert.That(result.Errors[0], Does.Contain("DestinationRule demo/other: spec.trafficPolicy.loadBalancer.simple = PASSTHROUGH: PASSTHROUGH is not supported"));
            Assert.That(result.Warnings, Has.One.Contains("apps/v1/Deployment is not used by the mesh; ignored"));
            Assert.That(result.DestinationRules.Select(r => r.Name), Is.EqualTo(new[] { "backend" }));
            Assert.That(result.Services, Has.Count.EqualTo(1));
            Assert.That(result.WorkloadEntries, Has.Count.EqualTo(3));
            Assert.That(result.VirtualServices, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public void Read_FullVirtualService_ReadsEveryField()
    {
        var vs = Object("networking.istio.io/v1beta1", "VirtualService", "demo", "backend", """
            {"hosts":["backend"],"http":[{"name":"r","match":[{"uri":{"prefix":"/api"},"headers":{"X-User":{"regex":"a.*"}},"queryParams":{"q":{"exact":"1"}},"method":{"exact":"GET"}}],
              "route":[{"destination":{"host":"backend","subset":"v1","port":{"number":8080}}}],
              "timeout":"2s","retries":{"attempts":3,"perTryTimeout":"100ms","retryOn":"5xx,503"},
              "fault":{"delay":{"fixedDelay":"1m","percentage":{"value":12.5}},"abort":{"httpStatus":503,"percentage":{"value":10}}}}]}
            """);

        var result = MeshConfigReader.Read([vs]);

        Assert.That(result.Errors, Is.Empty);
        var route = result.VirtualServices.Single().Http.Single();
        Assert.Multiple(() =>
        {
            Assert.That(route.Match[0].Uri, Is.EqualTo(new StringMatchModel(null, "/api", null)));
            Assert.That(route.Match[0].Headers.Single().Key, Is.EqualTo("x-user"));
            Assert.That(route.Match[0].QueryParams.Single().Value.Exact, Is.EqualTo("1"));
            Assert.That(route.Match[0].Method!.Exact, Is.EqualTo("GET"));
            Assert.That(route.Route.Single().Destination, Is.EqualTo(new DestinationModel("backend", "v1", 8080)));
            Assert.That(route.Timeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
            Assert.That(route.Retries, Is.EqualTo(new RetriesModel(3, TimeSpan.FromMilliseconds(100), "5xx,503")));
            Assert.That(route.Fault!.Delay, Is.EqualTo(new FaultDelayModel(TimeSpan.FromMinutes(1), 12.5)));
            Assert.That(route.Fault.Abort, Is.EqualTo(new FaultAbortModel(503, null, 10)));
        });
    }

    [Test]
    public void Validate_BadDurationAndUnknownApiVersion_ReportEach()
    {
        var vs = Object(TranslationTestObjects.Istio, "VirtualService", "demo", "a", """{"hosts":["backend"],"http":[{"timeout":"2 seconds","route":[{"destination":{"host":"backend"}}]}]}""");
        var wrongVersion = Object("networking.istio.io/v2", "DestinationRule", "demo", "b", """{"host":"backend"}""");

        Assert.That(MeshConfigReader.Validate(vs), Has.One.EndsWith("spec.http[0].timeout = 2 seconds: must be a duration such as \"2s\", \"100ms\" or \"1m\""));
        Assert.That(MeshConfigReader.Validate(wrongVersion), Has.One.Contains("apiVersion = networking.istio.io/v2: must be networking.istio.io/v1"));
    }

    [Test]
    public void Read_DestinationRulePolicies_ReadsHashPoolOutlierAndPortLevel()
    {
        var dr = Object("networking.istio.io/v1alpha3", "DestinationRule", "demo", "backend", """
            {"host":"backend.demo.svc.cluster.local","trafficPolicy":{
               "loadBalancer":{"consistentHash":{"httpHeaderName":"x-user","ringHash":{"minimumRingSize":1024}}},
               "connectionPool":{"http":{"http2MaxRequests":100,"http1MaxPendingRequests":10,"maxRetries":3},"tcp":{"maxConnections":5}},
               "outlierDetection":{"consecutive5xxErrors":5,"consecutiveGatewayErrors":3,"interval":"10s","baseEjectionTime":"30s","maxEjectionPercent":50,"minHealthPercent":20},
               "portLevelSettings":[{"port":{"number":9090},"loadBalancer":{"simple":"RANDOM"}}]},
             "subsets":[{"name":"v1","labels":{"version":"v1"}}]}
            """);

        var result = MeshConfigReader.Read([dr]);

        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.Warnings, Has.One.EndsWith("spec.trafficPolicy.connectionPool.tcp.maxConnections: not enforced (clients multiplex requests on their own connections); ignored"));
        var policy = result.DestinationRules.Single().TrafficPolicy;
        Assert.Multiple(() =>
        {
            Assert.That(policy.LoadBalancer!.ConsistentHash, Is.EqualTo(new ConsistentHashModel("x-user", null, null, false, 1024, null)));
            Assert.That(policy.ConnectionPool, Is.EqualTo(new ConnectionPoolModel(100, 10, 3, null)));
            Assert.That(policy.OutlierDetection, Is.EqualTo(new OutlierDetectionModel(5, 3, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), 50, 20)));
            Assert.That(policy.ForPort(9090).LoadBalancer!.Simple, Is.EqualTo(SimpleLoadBalancer.Random));
            Assert.That(policy.ForPort(9090).ConnectionPool, Is.SameAs(policy.ConnectionPool));
        });
    }

    [TestCase("2s", 2000)]
    [TestCase("100ms", 100)]
    [TestCase("1m", 60_000)]
    [TestCase("1h30m", 5_400_000)]
    [TestCase("1.5s", 1500)]
    public void TryParse_IstioDuration_Parses(string text, int milliseconds)
    {
        Assert.That(IstioDuration.TryParse(text, out var value), Is.True);
        Assert.That(value, Is.EqualTo(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [TestCase("")]
    [TestCase("2")]
    [TestCase("2 s")]
    [TestCase("-1s")]
    [TestCase("1d")]
    public void TryParse_NotADuration_Fails(string text) => Assert.That(IstioDuration.TryParse(text, out _), Is.False);
}
