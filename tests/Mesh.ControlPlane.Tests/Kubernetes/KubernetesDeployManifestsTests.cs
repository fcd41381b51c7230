using k8s;
using k8s.Models;

namespace Mesh.ControlPlane.Tests.Kubernetes;

/// <summary>The manifests under deploy/ parse as Kubernetes objects and say what the README promises.</summary>
public sealed class KubernetesDeployManifestsTests
{
    private static string DeployDirectory()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            var deploy = Path.Combine(dir.FullName, "deploy");
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")) && Directory.Exists(deploy))
            {
                return deploy;
            }
        }

        throw new DirectoryNotFoundException("deploy/ not found above the test directory");
    }

    private static List<object> LoadAll()
    {
        var objects = new List<object>();
        foreach (var file in Directory.GetFiles(DeployDirectory(), "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            objects.AddRange(KubernetesYaml.LoadAllFromString(File.ReadAllText(file)).Where(o => o is not null));
        }

        return objects;
    }

    [Test]
    public void DeployYaml_EveryDocument_ParsesToTheExpectedKindsAndNames()
    {
        var objects = LoadAll();

        Assert.That(objects.Select(o => o is IKubernetesObject<V1ObjectMeta> k ? $"{k.Kind}/{k.Metadata.Name}" : o.GetType().Name), Is.EquivalentTo(new[]
        {
            "ServiceAccount/mesh-control-plane",
            "ClusterRole/mesh-control-plane",
            "ClusterRoleBinding/mesh-control-plane",
            "Role/mesh-control-plane-ca",
            "RoleBinding/mesh-control-plane-ca",
            "Deployment/mesh-control-plane",
            "Service/mesh-control-plane",
            "CustomResourceDefinition/virtualservices.networking.istio.io",
            "CustomResourceDefinition/destinationrules.networking.istio.io",
            "CustomResourceDefinition/workloadentries.networking.istio.io",
            "CustomResourceDefinition/peerauthentications.security.istio.io",
            "CustomResourceDefinition/authorizationpolicies.security.istio.io",
        }));
        Assert.That(objects.OfType<IKubernetesObject<V1ObjectMeta>>().All(o => o.Metadata.NamespaceProperty is null), Is.True, "the manifests are namespace-agnostic");
    }

    [Test]
    public void ClusterRole_IsReadOnly_ExceptTokenReviewCreate()
    {
        var role = LoadAll().OfType<V1ClusterRole>().Single();

        var grants = role.Rules.SelectMany(r => r.ApiGroups.SelectMany(g => r.Resources.Select(res => $"{(g.Length == 0 ? "core" : g)}/{res}: {string.Join(",", r.Verbs)}"))).ToList();
        Assert.That(grants, Is.EquivalentTo(new[]
        {
            "core/services: get,list,watch",
            "core/pods: get,list,watch",
            "discovery.k8s.io/endpointslices: get,list,watch",
            "networking.istio.io/virtualservices: get,list,watch",
            "networking.istio.io/destinationrules: get,list,watch",
            "networking.istio.io/workloadentries: get,list,watch",
            "security.istio.io/peerauthentications: get,list,watch",
            "security.istio.io/authorizationpolicies: get,list,watch",
            "authentication.k8s.io/tokenreviews: create",
        }));
    }

    [Test]
    public void Deployment_RunsInClusterWithProbesOnTheAdminPort_AndServiceExposesBothPorts()
    {
        var objects = LoadAll();
        var deployment = objects.OfType<V1Deployment>().Single();
        var service = objects.OfType<V1Service>().Single();
        var container = deployment.Spec.Template.Spec.Containers.Single();

        Assert.Multiple(() =>
        {
            Assert.That(deployment.Spec.Template.Spec.ServiceAccountName, Is.EqualTo("mesh-control-plane"));
            Assert.That(container.Args, Is.EqualTo(new[] { "--in-cluster", "--xds-listen", "0.0.0.0:18000", "--admin-listen", "0.0.0.0:18001", "--ca", "--ca-secret", "mesh-system/cacerts", "--xds-tls" }));
            Assert.That(Hosting.ControlPlaneOptions.TryParse([.. container.Args], out var parsed), Is.Null, "the arguments are valid");
            Assert.That(parsed.XdsTls, Is.True);
            Assert.That(Hosting.ControlPlaneOptions.DefaultXdsTlsNames, Does.Contain($"{service.Metadata.Name}.{service.Metadata.NamespaceProperty ?? "mesh-system"}.svc.cluster.local"), "the xDS certificate names the Service clients dial");
            Assert.That(container.ReadinessProbe.HttpGet.Path, Is.EqualTo("/readyz"));
            Assert.That(container.LivenessProbe.HttpGet.Path, Is.EqualTo("/healthz"));
            Assert.That(container.ReadinessProbe.HttpGet.Port.Value, Is.EqualTo("http-admin"));
            Assert.That(container.Ports.Select(p => $"{p.Name}:{p.ContainerPort}"), Is.EqualTo(new[] { "grpc-xds:18000", "http-admin:18001" }));
            Assert.That(service.Spec.Ports.Select(p => $"{p.Name}:{p.Port}"), Is.EqualTo(new[] { "grpc-xds:18000", "http-admin:18001" }));
            Assert.That(service.Spec.Selector, Is.EqualTo(deployment.Spec.Selector.MatchLabels));
            Assert.That(objects.OfType<V1ClusterRoleBinding>().Single().Subjects.Single().Name, Is.EqualTo("mesh-control-plane"));
        });
    }

    [Test]
    public void Crds_AreMinimalNamespacedV1_PreservingUnknownFields()
    {
        var crds = LoadAll().OfType<V1CustomResourceDefinition>().ToList();

        Assert.That(crds.Select(c => c.Spec.Names.Kind), Is.EquivalentTo(new[] { "VirtualService", "DestinationRule", "WorkloadEntry", "PeerAuthentication", "AuthorizationPolicy" }));
        Assert.Multiple(() =>
        {
            foreach (var crd in crds)
            {
                Assert.That(crd.Spec.Group, Is.EqualTo(crd.Spec.Names.Kind is "PeerAuthentication" or "AuthorizationPolicy" ? "security.istio.io" : "networking.istio.io"));
                Assert.That(crd.Spec.Scope, Is.EqualTo("Namespaced"));
                var version = crd.Spec.Versions.Single();
                Assert.That((version.Name, version.Served, version.Storage), Is.EqualTo(("v1", true, true)));
                Assert.That(version.Schema.OpenAPIV3Schema.XKubernetesPreserveUnknownFields, Is.True);
            }
        });
    }
}
