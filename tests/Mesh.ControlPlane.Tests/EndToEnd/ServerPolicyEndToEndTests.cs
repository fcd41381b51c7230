using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Net.Client;
using Mesh.Authorization;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.ControlPlane.Translation;
using Mesh.Identity;
using Mesh.Xds.Server;
using Microsoft.Extensions.DependencyInjection;
using static Mesh.ControlPlane.Tests.Infrastructure.TranslationTestObjects;

namespace Mesh.ControlPlane.Tests.EndToEnd;

/// <summary>
/// Server policy end to end: PeerAuthentication and AuthorizationPolicy in the store → the control plane's server
/// listener (gRFC A36, A41) → a server's xDS client → its <see cref="IServerPolicySource"/>.
/// </summary>
[NonParallelizable]
public sealed class ServerPolicyEndToEndTests
{
    private const string Security = "security.istio.io/v1";

    [Test]
    public async Task StrictAndDenyAdmin_ServerWithXdsServerPolicy_PolicySourceIsStrictAndDeniesAdmin()
    {
        // Arrange: the seed scenario; v1 workloads are STRICT and deny /admin*.
        var objects = Seed();
        objects.Add(Object(Security, "PeerAuthentication", "demo", "v1-strict", """{"selector":{"matchLabels":{"version":"v1"}},"mtls":{"mode":"STRICT"}}"""));
        objects.Add(Object(Security, "AuthorizationPolicy", "demo", "deny-admin", """{"selector":{"matchLabels":{"version":"v1"}},"action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin*"]}}]}]}"""));
        var store = new ConfigStore();
        store.Register("test");
        store.Replace("test", objects);
        store.MarkSynced("test");
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { Store = store, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMeshServer();
        services.AddMesh()
            .AddXds(o =>
            {
                o.Targets.Add("backend.demo.svc.cluster.local:8080");
                o.Bootstrap = $$"""
                    { "xds_servers": [ { "server_uri": "127.0.0.1:{{controlPlane.XdsPort}}", "channel_creds": [ { "type": "insecure" } ] } ],
                      "node": { "id": "e2e-server-policy", "cluster": "backend" },
                      "server_listener_resource_name_template": "grpc/server?xds.resource.listening_address=%s",
                      "certificate_providers": { "default": { "plugin_name": "file_watcher", "config": {
                        "certificate_file": "certs/cert-chain.pem", "private_key_file": "certs/key.pem", "ca_certificate_file": "certs/root-cert.pem" } } } }
                    """;
            })
            .AddXdsServerPolicy(o => o.ListeningAddress = "127.0.0.1:5101");
        await using var provider = services.BuildServiceProvider();
        var source = provider.GetRequiredService<IServerPolicySource>();
        var peer = SpiffeId.Parse("spiffe://cluster.local/ns/demo/sa/frontend");

        // Act: before the listener arrives every request is denied; wait until "/" is allowed.
        await TestWait.UntilAsync(() => source.Current.Authorization.Evaluate(peer, "GET", "/").Allowed, "the server listener reaches the server");

        // Assert
        var policy = source.Current;
        Assert.Multiple(() =>
        {
            Assert.That(source.GetType().Name, Is.EqualTo("XdsServerPolicySource"), "the xDS source replaces AddMeshServer's");
            Assert.That(policy.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Strict));
            Assert.That(policy.Authorization.Evaluate(peer, "GET", "/admin/x").Allowed, Is.False);
            Assert.That(policy.Authorization.Evaluate(peer, "GET", "/admin/x").PolicyName, Is.EqualTo("ns[demo]-policy[deny-admin]-rule[0]"));
            Assert.That(policy.Authorization.Evaluate(peer, "GET", "/").Allowed, Is.True);
            Assert.That(XdsTranslator.ServerListenerName("127.0.0.1", 5101), Is.EqualTo("grpc/server?xds.resource.listening_address=127.0.0.1:5101"));
            Assert.That(controlPlane.Host.Status.Errors, Is.Empty);
        });
    }
    [Test]
    public async Task NamedServerListenerSubscription_SotwAndDelta_AreAnswered()
    {
        // Arrange: the seed scenario with a mesh-wide STRICT policy.
        var objects = Seed();
        objects.Add(Object(Security, "PeerAuthentication", XdsTranslator.DefaultRootNamespace, "default", """{"mtls":{"mode":"STRICT"}}"""));
        var store = new ConfigStore();
        store.Register("test");
        store.Replace("test", objects);
        store.MarkSynced("test");
        await using var controlPlane = await ControlPlaneApp.StartAsync(new ControlPlaneOptions { Store = store, XdsListen = "127.0.0.1:0", AdminListen = "127.0.0.1:0" }).WaitAsync(TestWait.Timeout);
        var name = XdsTranslator.ServerListenerName("127.0.0.1", 5102);
        using var channel = GrpcChannel.ForAddress(controlPlane.XdsAddress);
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel);
        using var timeout = new CancellationTokenSource(TestWait.Timeout);

        // Act: SotW.
        using var sotw = client.StreamAggregatedResources(cancellationToken: timeout.Token);
        await sotw.RequestStream.WriteAsync(new DiscoveryRequest { Node = new Node { Id = "sotw-server" }, TypeUrl = XdsResourceSnapshot.ListenerTypeUrl, ResourceNames = { name } }).WaitAsync(TestWait.Timeout);
        Assert.That(await sotw.ResponseStream.MoveNext(timeout.Token).WaitAsync(TestWait.Timeout), Is.True, "a SotW response is sent");
        var sotwNames = sotw.ResponseStream.Current.Resources.Select(r => r.Unpack<Listener>().Name).ToList();
        await sotw.RequestStream.CompleteAsync().WaitAsync(TestWait.Timeout);

        // Act: delta.
        using var delta = client.DeltaAggregatedResources(cancellationToken: timeout.Token);
        await delta.RequestStream.WriteAsync(new DeltaDiscoveryRequest { Node = new Node { Id = "delta-server" }, TypeUrl = XdsResourceSnapshot.ListenerTypeUrl, ResourceNamesSubscribe = { name } }).WaitAsync(TestWait.Timeout);
        Assert.That(await delta.ResponseStream.MoveNext(timeout.Token).WaitAsync(TestWait.Timeout), Is.True, "a delta response is sent");
        var deltaNames = delta.ResponseStream.Current.Resources.Select(r => r.Name).ToList();
        await delta.RequestStream.CompleteAsync().WaitAsync(TestWait.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(sotwNames, Is.EqualTo(new[] { name }));
            Assert.That(deltaNames, Is.EqualTo(new[] { name }));
        });
    }
}
