using Envoy.Config.Endpoint.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Model;
using Mesh.ControlPlane.Translation;
using Mesh.Model;
using Mesh.Xds.Resources;
using Mesh.Xds.Server;
using Mesh.ControlPlane.Tests.Infrastructure;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.Translation;

/// <summary>
/// Istio's endpoint telemetry metadata (<c>filter_metadata["istio"].workload</c>), from which clients label their
/// metrics with the destination workload, as the control plane writes it and the mesh's xDS client reads it back.
/// </summary>
[TestFixture]
public sealed class XdsTranslatorWorkloadMetadataTests
{
    private const string Cluster = "outbound|50051||orders.shop.svc.cluster.local";

    [Test]
    public void Translate_PodsOfEachKindOfOwner_EndpointsNameTheirWorkloadAsIstioDoes()
    {
        // Arrange: a Deployment's Pod, a CronJob's Pod, a StatefulSet's Pod, a bare Pod with canonical labels, a WorkloadEntry.
        List<ConfigObject> objects =
        [
            Object("v1", "Service", "shop", "orders", """{"selector":{"app":"orders"},"ports":[{"name":"grpc","port":50051,"targetPort":50051}]}"""),
            Whole("discovery.k8s.io/v1", "EndpointSlice", "shop", "orders-a", """
                {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"orders-a","namespace":"shop","labels":{"kubernetes.io/service-name":"orders"}},
                 "addressType":"IPv4","ports":[{"name":"grpc","port":50051}],"endpoints":[
                  {"addresses":["10.0.0.1"],"targetRef":{"kind":"Pod","name":"orders-v1-7d9f8b6c5-x2x9k"}},
                  {"addresses":["10.0.0.2"],"targetRef":{"kind":"Pod","name":"orders-report-29170560-abcde"}},
                  {"addresses":["10.0.0.3"],"targetRef":{"kind":"Pod","name":"orders-db-0"}},
                  {"addresses":["10.0.0.4"],"targetRef":{"kind":"Pod","name":"orders-debug"}}]}
                """),
            Pod("orders-v1-7d9f8b6c5-x2x9k", """{"app":"orders","version":"v1","pod-template-hash":"7d9f8b6c5"}""", """[{"kind":"ReplicaSet","name":"orders-v1-7d9f8b6c5","controller":true}]"""),
            Pod("orders-report-29170560-abcde", """{"app.kubernetes.io/name":"orders-report","app.kubernetes.io/version":"2.1"}""", """[{"kind":"Job","name":"orders-report-29170560","controller":true}]"""),
            Pod("orders-db-0", """{"app":"orders","version":"latest"}""", """[{"kind":"StatefulSet","name":"orders-db","controller":true}]"""),
            Pod("orders-debug", """{"app":"orders","service.istio.io/canonical-name":"orders-canonical","service.istio.io/canonical-revision":"r7"}""", "[]"),
            Object(TranslationTestObjects.Istio, "WorkloadEntry", "shop", "orders-vm", """{"address":"10.0.0.5","labels":{"app":"orders","version":"v3"}}"""),
        ];
        var read = MeshConfigReader.Read(objects);
        Assert.That(read.Errors, Is.Empty);

        // Act
        var snapshot = XdsTranslator.Translate(read, "v1", clusterId: "east").Snapshot;

        // Assert: as the proto carries it, and as the client decodes it.
        var assignment = snapshot.GetResources(XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl).Resources[Cluster].Resource;
        var sent = assignment.Unpack<ClusterLoadAssignment>().Endpoints.SelectMany(l => l.LbEndpoints)
            .ToDictionary(e => e.Endpoint.Address.SocketAddress.Address, e => e.Metadata.FilterMetadata["istio"].Fields["workload"].StringValue);
        var decoded = XdsResourceTypes.Endpoints.Decode(assignment);
        Assert.That(decoded.Error, Is.Null);
        var workloads = ((XdsEndpoints)decoded.Resource!).Priorities.Single().Localities.SelectMany(l => l.Endpoints).ToDictionary(e => e.Host, e => e.Workload);
        Assert.Multiple(() =>
        {
            Assert.That(sent["10.0.0.1"], Is.EqualTo("orders-v1;shop;orders;v1;east"), "a ReplicaSet's Pod is its Deployment's");
            Assert.That(sent["10.0.0.2"], Is.EqualTo("orders-report;shop;orders-report;2.1;east"), "a CronJob's Job loses its schedule suffix");
            Assert.That(sent["10.0.0.3"], Is.EqualTo("orders-db;shop;orders;;east"), "revision 'latest' is sent empty, as Istio does");
            Assert.That(sent["10.0.0.4"], Is.EqualTo("orders-debug;shop;orders-canonical;r7;east"), "a bare Pod is its own workload; canonical labels win");
            Assert.That(sent["10.0.0.5"], Is.EqualTo("orders-vm;shop;orders;v3;east"));
            Assert.That(workloads["10.0.0.1"], Is.EqualTo(new EndpointWorkload { Name = "orders-v1", Namespace = "shop", App = "orders", Version = "v1", Cluster = "east" }));
            Assert.That(workloads["10.0.0.3"]!.Version, Is.EqualTo("latest"));
        });
    }

    [Test]
    public void Translate_EndpointWithoutPod_HasNoWorkloadMetadata()
    {
        // Arrange: the slice's endpoint names no Pod (e.g. a manually managed slice).
        List<ConfigObject> objects =
        [
            Object("v1", "Service", "shop", "orders", """{"ports":[{"name":"grpc","port":50051,"targetPort":50051}]}"""),
            Whole("discovery.k8s.io/v1", "EndpointSlice", "shop", "orders-a", """
                {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"orders-a","namespace":"shop","labels":{"kubernetes.io/service-name":"orders"}},
                 "addressType":"IPv4","ports":[{"name":"grpc","port":50051}],"endpoints":[{"addresses":["10.0.0.9"]}]}
                """),
        ];

        // Act
        var snapshot = XdsTranslator.Translate(MeshConfigReader.Read(objects), "v1").Snapshot;

        // Assert
        var endpoint = snapshot.GetResources(XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl).Resources[Cluster].Resource.Unpack<ClusterLoadAssignment>().Endpoints.Single().LbEndpoints.Single();
        Assert.That(endpoint.Metadata, Is.Null);
    }

    private static ConfigObject Pod(string name, string labels, string owners) => Whole("v1", "Pod", "shop", name, $$$"""
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"{{{name}}}","namespace":"shop","labels":{{{labels}}},"ownerReferences":{{{owners}}} } }
        """);
}
