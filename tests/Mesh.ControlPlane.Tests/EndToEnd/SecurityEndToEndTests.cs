using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Configuration;
using Mesh.Model;
using Microsoft.Extensions.DependencyInjection;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>
/// Security configuration end to end: a DestinationRule with ISTIO_MUTUAL in the store → the control plane's CDS
/// (UpstreamTlsContext, gRFC A29) → our own xDS client → the mesh's <see cref="ClusterModel.Tls"/>.
/// </summary>
[NonParallelizable]
public sealed class SecurityEndToEndTests
{
    private const string Host = "backend.demo.svc.cluster.local";
    private const string Target = Host + ":8080";
    private const string V1 = "outbound|8080|v1|" + Host;
    private const string BackendId = "spiffe://cluster.local/ns/demo/sa/backend";

    [Test]
    public async Task DestinationRuleIstioMutual_OwnClient_ClusterTlsIsMutualWithTheExpectedSan()
    {
        // Arrange: the seed scenario whose DestinationRule asks for ISTIO_MUTUAL with the backend's SPIFFE ID.
        var objects = Seed();
        objects[5] = Object(TranslationTestObjects.Istio, "DestinationRule", "demo", "backend", $$$"""
            {"host":"backend","trafficPolicy":{"tls":{"mode":"ISTIO_MUTUAL","subjectAltNames":["{{{BackendId}}}"]}},"subsets":[
              {"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]}
            """);
        var store = new ConfigStore();
        store.Register("test");
        store.Replace("test", objects);
        store.MarkSynced("test");
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { Store = store, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);

        // The bootstrap declares the "default" certificate provider instance that the control plane's clusters name.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh().AddXds(o =>
        {
            o.Targets.Add(Target);
            o.Bootstrap = $$"""
                { "xds_servers": [ { "server_uri": "127.0.0.1:{{controlPlane.XdsPort}}", "channel_creds": [ { "type": "insecure" } ] } ],
                  "node": { "id": "e2e-tls", "cluster": "frontend" },
                  "certificate_providers": { "default": { "plugin_name": "file_watcher", "config": {
                    "certificate_file": "certs/cert-chain.pem", "private_key_file": "certs/key.pem", "ca_certificate_file": "certs/root-cert.pem" } } } }
                """;
        });
        await using var provider = services.BuildServiceProvider();
        var state = provider.GetRequiredService<MeshState>();

        // Act
        await TestWait.UntilAsync(() => state.Current.Clusters.ContainsKey(V1), "the cluster reaches the client");

        // Assert
        var tls = state.Current.Clusters[V1].Tls;
        Assert.That(tls, Is.Not.Null, "the cluster must not be plaintext");
        Assert.Multiple(() =>
        {
            Assert.That(tls!.Mode, Is.EqualTo(TlsMode.Mutual));
            Assert.That(tls.IsMutual, Is.True);
            Assert.That(tls.ToString(), Does.Contain(BackendId));
            Assert.That(controlPlane.Host.Status.Errors, Is.Empty);
        });
    }
}
