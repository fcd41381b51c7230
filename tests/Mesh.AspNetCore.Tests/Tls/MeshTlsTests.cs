using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.AspNetCore.Tests.Tls;

[TestFixture]
public sealed class MeshTlsTests
{
    private const string Whoami = "/whoami";

    private TestPki _pki = null!;

    [OneTimeSetUp]
    public void CreatePki() => _pki = TestPki.Create("cluster.local");

    [Test]
    public async Task Strict_ValidClientSvid_ServesWithSpiffeIdClaim()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict"));
        var client = _pki.IssueIdentity("shop", "frontend");
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, client.Certificate);

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Https, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Is.EqualTo("spiffe://cluster.local/ns/shop/sa/frontend|spiffe://cluster.local/ns/shop/sa/frontend|HTTP/2"));
    }

    [Test]
    public async Task Strict_ClientLeafOfTheServersIntermediateSentAlone_Serves()
    {
        // A plug-in CA: an intermediate issues every workload's certificate; the client sends its leaf without the intermediate.
        var intermediate = _pki.IssueIntermediate();
        var serverLeaf = _pki.IssueLeaf([_pki.IdOf("shop", "backend")], issuer: intermediate);
        await using var server = await MeshTestServer.StartAsync(new WorkloadIdentity(serverLeaf, [intermediate], _pki.Bundle), MeshTestServer.Settings("Strict"));
        var clientLeaf = _pki.IssueLeaf([_pki.IdOf("shop", "frontend")], issuer: intermediate);
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, clientLeaf);

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Https, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Does.StartWith("spiffe://cluster.local/ns/shop/sa/frontend|"));
    }

    [Test]
    public async Task Strict_ClientSvidFromIntermediate_Serves()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict"));
        var intermediate = _pki.IssueIntermediate();
        var leaf = _pki.IssueLeaf([_pki.IdOf("shop", "frontend")], issuer: intermediate);
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, leaf, intermediates: [intermediate]);

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Https, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Does.StartWith("spiffe://cluster.local/ns/shop/sa/frontend|"));
    }

    [Test]
    public async Task Strict_NoServerIdentityYet_HandshakeFailsAndServerSurvives()
    {
        await using var server = await MeshTestServer.StartAsync(null, MeshTestServer.Settings("Strict"));
        var client = _pki.IssueIdentity("shop", "frontend").Certificate;
        using (var http = MeshTestServer.CreateTlsClient(_pki.Bundle, client))
        {
            await AssertFailsAsync(http, new Uri(server.Https, Whoami));
        }

        server.Identity.Set(_pki.IssueIdentity("shop", "backend"));
        using var again = MeshTestServer.CreateTlsClient(_pki.Bundle, client);

        Assert.That((await MeshTestServer.GetAsync(again, new Uri(server.Https, Whoami))).Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(server.Logs.GetSnapshot().Any(r => r.Id.Id == 405), Is.True);
    }

    [Test]
    public async Task Strict_NoClientCertificate_Fails()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict"));
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, null);

        await AssertFailsAsync(http, new Uri(server.Https, Whoami));
        Assert.That(server.Logs.GetSnapshot().Any(r => r.Id.Id == 402), Is.True, "the rejection is logged");
    }

    private static IEnumerable<TestCaseData> BadClientCertificates()
    {
        yield return new TestCaseData("other-trust-domain").SetName("Strict_ClientFromOtherTrustDomain_Fails");
        yield return new TestCaseData("other-root").SetName("Strict_ClientFromOtherRoot_Fails");
        yield return new TestCaseData("expired").SetName("Strict_ExpiredClientCertificate_Fails");
        yield return new TestCaseData("ca-as-leaf").SetName("Strict_CaCertificateAsClientLeaf_Fails");
    }

    [TestCaseSource(nameof(BadClientCertificates))]
    public async Task Strict_InvalidClientCertificate_Fails(string kind)
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict"));
        var id = _pki.IdOf("shop", "frontend");
        var certificate = kind switch
        {
            "other-trust-domain" => TestPki.Create("other.local").IssueIdentity("shop", "frontend").Certificate,
            "other-root" => TestPki.Create("cluster.local", "Another root").IssueIdentity("shop", "frontend").Certificate,
            "expired" => _pki.IssueLeaf([id], notBefore: DateTimeOffset.UtcNow.AddHours(-23), lifetime: TimeSpan.FromHours(1)),
            _ => _pki.IssueLeaf([id], isCa: true, usage: X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign),
        };
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, certificate);

        await AssertFailsAsync(http, new Uri(server.Https, Whoami));
        Assert.That(server.Logs.GetSnapshot().Where(r => r.Id.Id == 403).Select(r => r.Message), Has.One.Contains("rejected"), "one line per rejected connection names the reason");
    }

    [Test]
    public async Task Strict_PlaintextRequest_Fails()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict"));
        using var http = MeshTestServer.CreatePlaintextClient();

        await AssertFailsAsync(http, new Uri(server.Http, Whoami));
    }

    [Test]
    public async Task Permissive_PlaintextRequest_ServesWithoutPeerIdentity()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Permissive"));
        using var http = MeshTestServer.CreatePlaintextClient();

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Http, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Is.EqualTo("anonymous|none|HTTP/1.1"));
    }

    [Test]
    public async Task Permissive_MutualTls_ServesWithPeerIdentity()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Permissive"));
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Https, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Does.StartWith("spiffe://cluster.local/ns/shop/sa/frontend|spiffe://cluster.local/ns/shop/sa/frontend|"));
    }

    [Test]
    public async Task Permissive_InvalidClientCertificate_Fails()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Permissive"));
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, TestPki.Create("other.local").IssueIdentity("shop", "frontend").Certificate);

        await AssertFailsAsync(http, new Uri(server.Https, Whoami));
    }

    [Test]
    public async Task Permissive_PlaintextHttp2PriorKnowledgeOnHttp2Listener_Serves()
    {
        await using var server = await MeshTestServer.StartAsync(
            _pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Permissive"), protocols: HttpProtocols.Http2);
        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = MeshTestServer.Timeout })
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = MeshTestServer.Timeout,
        };

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Http, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Is.EqualTo("anonymous|none|HTTP/2"));
        using var tls = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);
        Assert.That((await MeshTestServer.GetAsync(tls, new Uri(server.Https, Whoami))).Body, Does.EndWith("|HTTP/2"));
    }

    [Test]
    public async Task Permissive_TlsWithoutClientCertificate_ServesWithoutPeerIdentity()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Permissive"));
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, null);

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Https, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Is.EqualTo("anonymous|none|HTTP/2"));
    }

    [Test]
    public async Task Strict_GarbageHandshake_ServerKeepsServing()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict"));
        using var cts = new CancellationTokenSource(MeshTestServer.Timeout);
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, server.Port, cts.Token);
            var stream = tcp.GetStream();
            await stream.WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff }, cts.Token);
            await ReadToEndAsync(stream, cts.Token);
        }

        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);
        var (status, _) = await MeshTestServer.GetAsync(http, new Uri(server.Https, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Strict_SilentConnection_ClosedAfterHandshakeTimeout()
    {
        await using var server = await MeshTestServer.StartAsync(
            _pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict"), o => o.HandshakeTimeout = TimeSpan.FromMilliseconds(200));
        using var cts = new CancellationTokenSource(MeshTestServer.Timeout);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port, cts.Token);

        await ReadToEndAsync(tcp.GetStream(), cts.Token);

        Assert.That(cts.IsCancellationRequested, Is.False);
        Assert.That(server.Logs.GetSnapshot().Any(r => r.Id.Id == 401), Is.True);
    }

    [Test]
    public async Task Disable_PlaintextRequest_Serves()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Disable"));
        using var http = MeshTestServer.CreatePlaintextClient();

        var (status, body) = await MeshTestServer.GetAsync(http, new Uri(server.Http, Whoami));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Is.EqualTo("anonymous|none|HTTP/1.1"));
    }

    [Test]
    public async Task Rotation_NewIdentity_NewConnectionSeesNewCertificate()
    {
        var first = _pki.IssueIdentity("shop", "backend");
        var second = _pki.IssueIdentity("shop", "backend");
        await using var server = await MeshTestServer.StartAsync(first, MeshTestServer.Settings("Strict"));
        var client = _pki.IssueIdentity("shop", "frontend").Certificate;
        string? seen = null;

        using (var before = MeshTestServer.CreateTlsClient(_pki.Bundle, client, c => seen = c.SerialNumber))
        {
            Assert.That((await MeshTestServer.GetAsync(before, new Uri(server.Https, Whoami))).Status, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(seen, Is.EqualTo(first.Certificate.SerialNumber));
        server.Identity.Set(second);
        using (var after = MeshTestServer.CreateTlsClient(_pki.Bundle, client, c => seen = c.SerialNumber))
        {
            Assert.That((await MeshTestServer.GetAsync(after, new Uri(server.Https, Whoami))).Status, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(seen, Is.EqualTo(second.Certificate.SerialNumber));
    }

    [Test]
    public async Task Reload_ModeChangedToStrict_PlaintextRejectedOnNewConnections()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Permissive"));
        using (var plain = MeshTestServer.CreatePlaintextClient())
        {
            Assert.That((await MeshTestServer.GetAsync(plain, new Uri(server.Http, Whoami))).Status, Is.EqualTo(HttpStatusCode.OK));
        }

        server.Configuration.Replace(MeshTestServer.Settings("Strict"));

        using var again = MeshTestServer.CreatePlaintextClient();
        await AssertFailsAsync(again, new Uri(server.Http, Whoami));
    }

    /// <summary>Reads until the server closes the connection (or resets it).</summary>
    private static async Task ReadToEndAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer, cancellationToken) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
    }

    private static async Task AssertFailsAsync(HttpClient http, Uri uri)
    {
        using var cts = new CancellationTokenSource(MeshTestServer.Timeout);
        Exception? failure = null;
        try
        {
            using var response = await http.GetAsync(uri, cts.Token);
            await response.Content.ReadAsStringAsync(cts.Token);
        }
        catch (HttpRequestException ex)
        {
            failure = ex;
        }

        Assert.That(cts.IsCancellationRequested, Is.False, "the request failed fast rather than hanging");
        Assert.That(failure, Is.Not.Null, "the request should fail");
    }
}
