using Mesh.ControlPlane.Model;
using Mesh.ControlPlane.Tests.Infrastructure;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.Model;

/// <summary>Reading and validating DestinationRule tls, PeerAuthentication and AuthorizationPolicy.</summary>
[TestFixture]
public sealed class SecurityConfigReaderTests
{
    private const string Security = "security.istio.io/v1";

    private static string Prefix(string kind, string name) => $"test.yaml, {kind} {name}: {kind} demo/{name}: ";

    [Test]
    public void Read_DestinationRuleTls_AtEveryLevel()
    {
        // Arrange
        var rule = Object(TranslationTestObjects.Istio, "DestinationRule", "demo", "backend", """
            {"host":"backend",
             "trafficPolicy":{"tls":{"mode":"ISTIO_MUTUAL","subjectAltNames":["spiffe://cluster.local/ns/demo/sa/backend"],"sni":"backend.demo"},
                              "portLevelSettings":[{"port":{"number":9090},"tls":{"mode":"DISABLE"}}]},
             "subsets":[{"name":"v1","labels":{"version":"v1"},"trafficPolicy":{"tls":{"mode":"SIMPLE"}}}]}
            """);

        // Act
        var result = MeshConfigReader.Read([rule]);

        // Assert
        var model = result.DestinationRules.Single();
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty);
            Assert.That(result.Warnings, Is.Empty);
            Assert.That(model.TrafficPolicy.Tls!.Mode, Is.EqualTo(ClientTlsModelMode.IstioMutual));
            Assert.That(model.TrafficPolicy.Tls.SubjectAltNames, Is.EqualTo(new[] { "spiffe://cluster.local/ns/demo/sa/backend" }));
            Assert.That(model.TrafficPolicy.Tls.Sni, Is.EqualTo("backend.demo"));
            Assert.That(model.TrafficPolicy.ForPort(9090).Tls!.Mode, Is.EqualTo(ClientTlsModelMode.Disable));
            Assert.That(model.TrafficPolicy.ForPort(8080).Tls!.Mode, Is.EqualTo(ClientTlsModelMode.IstioMutual));
            Assert.That(model.TrafficPolicy.Override(model.Subsets.Single().TrafficPolicy).Tls!.Mode, Is.EqualTo(ClientTlsModelMode.Simple));
        });
    }

    [TestCase("""{"mode":"MUTUAL","clientCertificate":"/etc/certs/cert.pem"}""", "spec.trafficPolicy.tls.mode = MUTUAL: MUTUAL (mutual TLS with your own certificate files) is not supported: use ISTIO_MUTUAL, which uses the mesh's workload certificates")]
    [TestCase("""{"mode":"MUTUAL","clientCertificate":"/etc/certs/cert.pem"}""", "spec.trafficPolicy.tls.clientCertificate = /etc/certs/cert.pem: certificate files and secrets are not supported")]
    [TestCase("""{"mode":"SIMPLE","credentialName":"backend-ca"}""", "spec.trafficPolicy.tls.credentialName = backend-ca: certificate files and secrets are not supported")]
    [TestCase("""{"mode":"SIMPLE","insecureSkipVerify":true}""", "spec.trafficPolicy.tls.insecureSkipVerify = true: is not supported: the server is always verified; remove it")]
    [TestCase("""{"mode":"OPTIONAL"}""", "spec.trafficPolicy.tls.mode = OPTIONAL: must be DISABLE, SIMPLE or ISTIO_MUTUAL")]
    [TestCase("""{"mode":"SIMPLE","sni":"not a host"}""", "spec.trafficPolicy.tls.sni = not a host: must be a host name")]
    [TestCase("""{"mode":"ISTIO_MUTUAL","subjectAltNames":[""]}""", "spec.trafficPolicy.tls.subjectAltNames[0] = : must be a non-empty string")]
    [TestCase("""{"mode":"ISTIO_MUTUAL","cipherSuites":["x"]}""", "spec.trafficPolicy.tls.cipherSuites: is not supported, and ignoring a security setting could let through traffic the policy is meant to stop: remove it")]
    public void Validate_DestinationRuleTls_RejectedWithFieldAndFix(string tls, string expected)
    {
        // Arrange
        var rule = Object(TranslationTestObjects.Istio, "DestinationRule", "demo", "backend", $$$"""{"host":"backend","trafficPolicy":{"tls":{{{tls}}}}}""");

        // Act
        var errors = MeshConfigReader.Validate(rule);

        // Assert
        Assert.That(errors, Does.Contain(Prefix("DestinationRule", "backend") + expected).Or.Some.StartWith(Prefix("DestinationRule", "backend") + expected));
    }

    [Test]
    public void Read_PeerAuthentication_SelectorAndMode()
    {
        // Arrange
        var strict = Object(Security, "PeerAuthentication", "demo", "strict", """{"selector":{"matchLabels":{"app":"backend"}},"mtls":{"mode":"STRICT"}}""");
        var namespaceWide = Object(Security, "PeerAuthentication", "demo", "default", """{"mtls":{"mode":"PERMISSIVE"}}""");
        var empty = Object(Security, "PeerAuthentication", "demo", "empty", "{}");

        // Act
        var result = MeshConfigReader.Read([strict, namespaceWide, empty]);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty);
            Assert.That(result.PeerAuthentications.Select(p => (p.Name, p.Mode)), Is.EqualTo(new[]
            {
                ("strict", PeerAuthenticationMode.Strict), ("default", PeerAuthenticationMode.Permissive), ("empty", PeerAuthenticationMode.Unset),
            }));
            Assert.That(result.PeerAuthentications[0].Selector, Is.EquivalentTo(new Dictionary<string, string> { ["app"] = "backend" }));
            Assert.That(result.PeerAuthentications[1].Selector, Is.Null);
        });
    }

    [TestCase("""{"mtls":{"mode":"ON"}}""", "spec.mtls.mode = ON: must be STRICT, PERMISSIVE, DISABLE or UNSET")]
    [TestCase("""{"mtls":{"mode":"STRICT"},"portLevelMtls":{"8080":{"mode":"DISABLE"}}}""", "spec.portLevelMtls = {\"8080\":{\"mode\":\"DISABLE\"}}: is not supported: set spec.mtls.mode for the whole workload, or give the port's workloads their own PeerAuthentication with a selector")]
    [TestCase("""{"selector":{"matchExpressions":[]},"mtls":{"mode":"STRICT"}}""", "spec.selector.matchExpressions: is not supported, and ignoring a security setting could let through traffic the policy is meant to stop: remove it; workloads are selected by matchLabels only")]
    [TestCase("""{"targetRef":{"kind":"Service","name":"backend"}}""", "spec.targetRef: is not supported")]
    public void Validate_PeerAuthentication_RejectedWithFieldAndFix(string spec, string expected)
    {
        // Arrange
        var policy = Object(Security, "PeerAuthentication", "demo", "pa", spec);

        // Act
        var errors = MeshConfigReader.Validate(policy);

        // Assert
        Assert.That(errors, Has.Some.StartWith(Prefix("PeerAuthentication", "pa") + expected));
    }

    [Test]
    public void Validate_SecurityKindWithNetworkingVersion_IsRejected()
    {
        // Arrange
        var policy = Object(TranslationTestObjects.Istio, "PeerAuthentication", "demo", "pa", """{"mtls":{"mode":"STRICT"}}""");

        // Act
        var errors = MeshConfigReader.Validate(policy);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { Prefix("PeerAuthentication", "pa") + "apiVersion = networking.istio.io/v1: must be security.istio.io/v1 (v1beta1 is accepted)" }));
    }

    [Test]
    public void Read_AuthorizationPolicy_SourcesAndOperations()
    {
        // Arrange
        var policy = Object(Security, "AuthorizationPolicy", "demo", "backend", """
            {"selector":{"matchLabels":{"app":"backend"}},"action":"DENY","rules":[
              {"from":[{"source":{"principals":["cluster.local/ns/demo/sa/frontend"],"notNamespaces":["test"]}}],
               "to":[{"operation":{"paths":["/admin/*"],"methods":["POST"],"notMethods":["GET"]}}]},
              {"from":[{"source":{"namespaces":["ops"],"notPrincipals":["*/sa/robot"]}}],"to":[{"operation":{"notPaths":["/healthz"]}}]}]}
            """);

        // Act
        var result = MeshConfigReader.Read([policy]);

        // Assert
        var model = result.AuthorizationPolicies.Single();
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty);
            Assert.That(model.Action, Is.EqualTo(AuthorizationAction.Deny));
            Assert.That(model.Selector, Is.EquivalentTo(new Dictionary<string, string> { ["app"] = "backend" }));
            Assert.That(model.Rules, Has.Length.EqualTo(2));
            Assert.That(model.Rules[0].From.Single().Principals, Is.EqualTo(new[] { "cluster.local/ns/demo/sa/frontend" }));
            Assert.That(model.Rules[0].From.Single().NotNamespaces, Is.EqualTo(new[] { "test" }));
            Assert.That(model.Rules[0].To.Single().Paths, Is.EqualTo(new[] { "/admin/*" }));
            Assert.That(model.Rules[0].To.Single().Methods, Is.EqualTo(new[] { "POST" }));
            Assert.That(model.Rules[0].To.Single().NotMethods, Is.EqualTo(new[] { "GET" }));
            Assert.That(model.Rules[1].From.Single().Namespaces, Is.EqualTo(new[] { "ops" }));
            Assert.That(model.Rules[1].From.Single().NotPrincipals, Is.EqualTo(new[] { "*/sa/robot" }));
            Assert.That(model.Rules[1].To.Single().NotPaths, Is.EqualTo(new[] { "/healthz" }));
        });
    }

    [Test]
    public void Read_AuthorizationPolicyWithoutSpec_IsAllowNothing()
    {
        // Arrange
        var policy = Object(Security, "AuthorizationPolicy", "demo", "deny-all", "{}");

        // Act
        var result = MeshConfigReader.Read([policy]);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty);
            Assert.That(result.AuthorizationPolicies.Single().Action, Is.EqualTo(AuthorizationAction.Allow));
            Assert.That(result.AuthorizationPolicies.Single().Rules, Is.Empty);
            Assert.That(result.AuthorizationPolicies.Single().Selector, Is.Null);
        });
    }

    [TestCase("""{"action":"AUDIT"}""", "spec.action = AUDIT: AUDIT is not supported (it needs an external provider): use ALLOW or DENY")]
    [TestCase("""{"action":"CUSTOM","provider":{"name":"opa"}}""", "spec.action = CUSTOM: CUSTOM is not supported (it needs an external provider): use ALLOW or DENY")]
    [TestCase("""{"action":"CUSTOM","provider":{"name":"opa"}}""", "spec.provider: is not supported")]
    [TestCase("""{"rules":[{"when":[{"key":"request.headers[x]","values":["1"]}]}]}""", "spec.rules[0].when: is not supported, and ignoring a security setting could let through traffic the policy is meant to stop: remove it (conditions such as when are not supported)")]
    [TestCase("""{"rules":[{"from":[{"source":{"ipBlocks":["10.0.0.0/8"]}}]}]}""", "spec.rules[0].from[0].source.ipBlocks: is not supported")]
    [TestCase("""{"rules":[{"from":[{"source":{"requestPrincipals":["*"]}}]}]}""", "spec.rules[0].from[0].source.requestPrincipals: is not supported")]
    [TestCase("""{"rules":[{"to":[{"operation":{"hosts":["backend"]}}]}]}""", "spec.rules[0].to[0].operation.hosts: is not supported, and ignoring a security setting could let through traffic the policy is meant to stop: remove it; operations are matched by paths and methods only")]
    [TestCase("""{"rules":[{"to":[{"operation":{"ports":["8080"]}}]}]}""", "spec.rules[0].to[0].operation.ports: is not supported")]
    [TestCase("""{"rules":[{"to":[{"operation":{"paths":[3]}}]}]}""", "spec.rules[0].to[0].operation.paths[0] = 3: must be a non-empty string")]
    [TestCase("""{"rules":[{"from":[{}]}]}""", "spec.rules[0].from[0].source: is required")]
    [TestCase("""{"targetRefs":[{"kind":"Service","name":"backend"}]}""", "spec.targetRefs: is not supported")]
    public void Validate_AuthorizationPolicy_RejectedNamingTheField(string spec, string expected)
    {
        // Arrange
        var policy = Object(Security, "AuthorizationPolicy", "demo", "ap", spec);

        // Act
        var errors = MeshConfigReader.Validate(policy);

        // Assert
        Assert.That(errors, Has.Some.StartWith(Prefix("AuthorizationPolicy", "ap") + expected), string.Join(Environment.NewLine, errors));
    }

    [Test]
    public void Read_WorkloadEntryServiceAccount_IsKept()
    {
        // Arrange
        var entry = Object(TranslationTestObjects.Istio, "WorkloadEntry", "demo", "vm", """{"address":"10.0.0.5","serviceAccount":"backend"}""");

        // Act
        var result = MeshConfigReader.Read([entry]);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty);
            Assert.That(result.Warnings, Is.Empty);
            Assert.That(result.WorkloadEntries.Single().ServiceAccount, Is.EqualTo("backend"));
        });
    }
}
