using Envoy.Config.Rbac.V3;
using Mesh.Authorization;
using Mesh.Xds.Resources;
using Mesh.Xds.ServerPolicies;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using static Mesh.Xds.Tests.Resources.ServerListenerProtos;

namespace Mesh.Xds.Tests.ServerPolicies;

[TestFixture]
public sealed class XdsServerPolicySourceTests
{
    private static XdsServerPolicySource NewSource(ResourceWatchSourceFake fake, string? template = null) =>
        new(fake, template, Address, XdsServerPolicyOptions.NotServing, NullLogger<XdsServerPolicySource>.Instance);

    [Test]
    public async Task WaitForFirstListener_SourceDisposedBeforeAListener_ReturnsFalseInsteadOfThrowing()
    {
        // Arrange: the host stops (and disposes the source) while its start still waits for the first listener.
        var fake = new ResourceWatchSourceFake();
        var source = NewSource(fake);
        var wait = source.WaitForFirstListenerAsync(TimeSpan.FromMinutes(1), TimeProvider.System, CancellationToken.None);

        // Act
        source.Dispose();

        // Assert
        Assert.That(await wait.WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
    }

    [Test]
    public void Current_BeforeListener_IsStrictAndDeniesEverything()
    {
        // Arrange
        var fake = new ResourceWatchSourceFake();

        // Act
        using var source = NewSource(fake);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(fake.Watched(XdsResourceTypes.Listener), Is.EqualTo(new[] { Name }));
            Assert.That(source.Current.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Strict));
            Assert.That(source.Current.Authorization.Evaluate(null, "GET", "/").Allowed, Is.False);
        });
    }

    [Test]
    public void ListenerName_WithBootstrapTemplate_UsesIt()
    {
        // Arrange
        var fake = new ResourceWatchSourceFake();

        // Act
        using var source = NewSource(fake, "xdstp://mesh/envoy.config.listener.v3.Listener/server/%s");

        // Assert
        Assert.That(source.ListenerName, Is.EqualTo("xdstp://mesh/envoy.config.listener.v3.Listener/server/10.0.0.5:8080"));
    }

    [Test]
    public void OnChanged_ValidListener_PublishesPolicy()
    {
        // Arrange
        var fake = new ResourceWatchSourceFake();
        using var source = NewSource(fake);
        var changes = new List<Authorization.ServerPolicy>();
        source.Changed += changes.Add;

        // Act
        fake.Set(XdsResourceTypes.Listener, ServerListener(Chain("tls", true), Chain("raw_buffer", null)));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(changes, Has.Count.EqualTo(1));
            Assert.That(source.Current.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Permissive));
            Assert.That(source.Current.Authorization.Evaluate(null, "GET", "/").Allowed, Is.True);
        });
    }

    [Test]
    public void OnChanged_InvalidThenMissing_KeepsLastGood()
    {
        // Arrange
        var fake = new ResourceWatchSourceFake();
        using var source = NewSource(fake);
        fake.Set(XdsResourceTypes.Listener, ServerListener(Chain(null, true, Rbac("deny", RBAC.Types.Action.Deny, ("admin", NewPolicy(PathPrefix("/admin"), AnyPrincipal()))))));
        var good = source.Current;
        var changes = 0;
        source.Changed += _ => changes++;

        // Act: a listener with different RBAC per chain (decodes, but cannot be enforced), then the listener removed.
        fake.Set(XdsResourceTypes.Listener, ServerListener(Chain("tls", true), Chain("raw_buffer", null, Rbac("deny", RBAC.Types.Action.Deny, ("all", NewPolicy(AnyPermission(), AnyPrincipal()))))));
        fake.Remove(XdsResourceTypes.Listener, Name);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(changes, Is.Zero);
            Assert.That(source.Current, Is.SameAs(good));
            Assert.That(source.Current.Authorization.Evaluate(null, "GET", "/admin/x").Allowed, Is.False);
        });
    }

    [Test]
    public void OnChanged_AddressOfAnotherServer_IsRejected()
    {
        // Arrange
        var fake = new ResourceWatchSourceFake();
        using var source = NewSource(fake);
        var listener = ServerListener(Chain(null, null));
        listener.Address.SocketAddress.Address = "10.0.0.6";

        // Act
        fake.Set(XdsResourceTypes.Listener, listener);

        // Assert
        Assert.That(source.HasListener, Is.False);
    }

    [Test]
    public void ResolveListeningAddress_FromPodIpAndPort_CombinesThem()
    {
        // Arrange
        var options = new XdsServerPolicyOptions { Port = 8080 };

        // Act
        var v4 = options.ResolveListeningAddress(_ => "10.0.0.5", out _);
        var v6 = options.ResolveListeningAddress(_ => "fd00::5", out _);
        var none = new XdsServerPolicyOptions().ResolveListeningAddress(_ => null, out var error);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(v4, Is.EqualTo("10.0.0.5:8080"));
            Assert.That(v6, Is.EqualTo("[fd00::5]:8080"));
            Assert.That(none, Is.Null);
            Assert.That(error, Does.Contain("ListeningAddress is not set"));
        });
    }
    [Test]
    public async Task WaitForFirstListenerAsync_ListenerArrives_ReturnsTrue()
    {
        // Arrange
        var fake = new ResourceWatchSourceFake();
        using var source = NewSource(fake);
        var wait = source.WaitForFirstListenerAsync(TimeSpan.FromSeconds(10), TimeProvider.System, CancellationToken.None);

        // Act
        fake.Set(XdsResourceTypes.Listener, ServerListener(Chain(null, true)));

        // Assert
        Assert.That(await wait.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
    }

    [Test]
    public async Task WaitForFirstListenerAsync_NoListener_ReturnsFalseAfterTimeout()
    {
        // Arrange
        var fake = new ResourceWatchSourceFake();
        using var source = NewSource(fake);

        // Act
        var arrived = await source.WaitForFirstListenerAsync(TimeSpan.FromMilliseconds(50), TimeProvider.System, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(arrived, Is.False);
            Assert.That(source.Current, Is.SameAs(XdsServerPolicyOptions.NotServing));
        });
    }
}
