using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Authorization;
using Mesh.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Tests.Authorization;

[TestFixture]
public sealed class MeshAuthorizationTests
{
    private TestPki _pki = null!;

    [OneTimeSetUp]
    public void CreatePki() => _pki = TestPki.Create("cluster.local");

    private static (string, string)[] DenyAdmin => [("0:Name", "deny-admin"), ("0:Action", "DENY"), ("0:Rules:0:To:0:Paths:0", "/admin/*")];

    [Test]
    public async Task ServerSpan_MutualTlsPeer_CarriesItsSpiffeIdAndTheDenyingPolicy()
    {
        var spans = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "Microsoft.AspNetCore",
            Sample = static (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Permissive", DenyAdmin));
        using var mtls = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);
        using var plaintext = MeshTestServer.CreatePlaintextClient();

        await MeshTestServer.GetAsync(mtls, new Uri(server.Https, "/api/orders"));
        await MeshTestServer.GetAsync(mtls, new Uri(server.Https, "/admin/users"));
        await MeshTestServer.GetAsync(plaintext, new Uri(server.Http, "/api/plain"));

        // The server stops a request's span after the response went out: wait for all three.
        using var wait = new CancellationTokenSource(MeshTestServer.Timeout);
        while (spans.Count < 3)
        {
            await Task.Delay(10, wait.Token);
        }

        var tags = spans.Select(a => (Peer: a.GetTagItem("mesh.peer.spiffe_id") as string, DeniedBy: a.GetTagItem("mesh.authorization.denied_by") as string)).ToList();
        const string Frontend = "spiffe://cluster.local/ns/shop/sa/frontend";
        Assert.That(tags, Is.EquivalentTo(new (string?, string?)[] { (Frontend, null), (Frontend, "deny-admin"), (null, null) }));
    }

    [Test]
    public async Task DenyPolicy_MatchingHttpRequest_Returns403NamingPolicyAndLogsOnce()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict", DenyAdmin));
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);

        var denied = await MeshTestServer.GetAsync(http, new Uri(server.Https, "/admin/users"));
        var allowed = await MeshTestServer.GetAsync(http, new Uri(server.Https, "/api/users"));

        Assert.That(denied.Status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(denied.Body, Does.Contain("deny-admin"));
        Assert.That(allowed.Status, Is.EqualTo(HttpStatusCode.OK));
        var lines = server.Logs.GetSnapshot().Where(r => r.Id.Id == 420).ToList();
        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(lines[0].Message, Does.Contain("deny-admin").And.Contain("spiffe://cluster.local/ns/shop/sa/frontend").And.Contain("/admin/users"));
    }

    [Test]
    public async Task DenyPolicy_MatchingGrpcCall_ReturnsPermissionDenied()
    {
        var settings = MeshTestServer.Settings("Strict", ("0:Name", "deny-greeter"), ("0:Action", "Deny"), ("0:Rules:0:To:0:Paths:0", "/greet.Greeter/*"));
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), settings);
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Https, "/greet.Greeter/SayHello"))
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        using var cts = new CancellationTokenSource(MeshTestServer.Timeout);

        using var response = await http.SendAsync(request, cts.Token);
        await response.Content.ReadAsByteArrayAsync(cts.Token);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Version, Is.EqualTo(HttpVersion.Version20));
        Assert.That(GrpcHeader(response, "grpc-status"), Is.EqualTo("7"));
        Assert.That(Uri.UnescapeDataString(GrpcHeader(response, "grpc-message") ?? string.Empty), Does.Contain("deny-greeter"));
    }

    [Test]
    public async Task DenyPolicy_GrpcNetClientCall_FailsWithPermissionDenied()
    {
        var settings = MeshTestServer.Settings("Strict", ("0:Name", "deny-greeter"), ("0:Action", "Deny"), ("0:Rules:0:To:0:Paths:0", "/greet.Greeter/*"));
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), settings);
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);
        using var channel = GrpcChannel.ForAddress(server.Https, new GrpcChannelOptions { HttpClient = http });
        var marshaller = Marshallers.Create(Encoding.UTF8.GetBytes, Encoding.UTF8.GetString);
        var method = new Method<string, string>(MethodType.Unary, "greet.Greeter", "SayHello", marshaller, marshaller);

        var error = Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker()
            .AsyncUnaryCall(method, null, new CallOptions(deadline: DateTime.UtcNow + MeshTestServer.Timeout), "hello"));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(error.Status.Detail, Does.Contain("deny-greeter"));
    }

    [Test]
    public async Task AllowPolicy_PrincipalNotListed_Returns403()
    {
        var settings = MeshTestServer.Settings(
            "Permissive",
            ("0:Name", "frontend-only"), ("0:Rules:0:From:0:Principals:0", "cluster.local/ns/shop/sa/frontend"));
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), settings);
        using var frontend = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);
        using var other = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "reports").Certificate);
        using var plaintext = MeshTestServer.CreatePlaintextClient();

        var fromFrontend = await MeshTestServer.GetAsync(frontend, new Uri(server.Https, "/api"));
        var fromOther = await MeshTestServer.GetAsync(other, new Uri(server.Https, "/api"));
        var fromPlaintext = await MeshTestServer.GetAsync(plaintext, new Uri(server.Http, "/api"));

        Assert.That(fromFrontend.Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(fromOther.Status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(fromPlaintext.Status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(server.Logs.GetSnapshot().Where(r => r.Id.Id == 420).Select(r => r.Message), Has.Some.Contains("(plaintext)"));
    }

    [Test]
    public async Task Reload_InvalidPolicies_LogsEveryErrorAndKeepsLastGood()
    {
        await using var server = await MeshTestServer.StartAsync(_pki.IssueIdentity("shop", "backend"), MeshTestServer.Settings("Strict", DenyAdmin));
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);

        server.Configuration.Replace(MeshTestServer.Settings(
            "Strict",
            ("0:Name", "deny-admin"), ("0:Action", "Deny"), ("0:Rules:0:To:0:Paths:0", "admin"),
            ("1:Name", "bad-methods"), ("1:Rules:0:To:0:Methods:0", "G ET")));
        var afterInvalid = await MeshTestServer.GetAsync(http, new Uri(server.Https, "/admin/users"));

        Assert.That(afterInvalid.Status, Is.EqualTo(HttpStatusCode.Forbidden), "the last good policies keep serving");
        var error = server.Logs.GetSnapshot().Single(r => r.Id.Id == 411);
        Assert.That(error.Level, Is.EqualTo(LogLevel.Error));
        Assert.That(error.Message, Does.Contain("Mesh:Server:AuthorizationPolicies[0] (deny-admin):Rules[0]:To[0]:Paths[0] = 'admin'"));
        Assert.That(error.Message, Does.Contain("Mesh:Server:AuthorizationPolicies[1] (bad-methods):Rules[0]:To[0]:Methods[0] = 'G ET': must be an HTTP method such as GET"));

        server.Configuration.Replace(MeshTestServer.Settings("Strict"));
        var afterValid = await MeshTestServer.GetAsync(http, new Uri(server.Https, "/admin/users"));

        Assert.That(afterValid.Status, Is.EqualTo(HttpStatusCode.OK), "a valid update applies");
    }

    [Test]
    public void Start_InvalidPolicies_FailsListingEveryProblem()
    {
        var settings = MeshTestServer.Settings("Strict", ("0:Action", "Deny"), ("0:Rules:0:From:0:Principals:0", "spiffe://cluster.local/ns/a/sa/b"), ("1:Name", "x"), ("1:Rules:0:To:0:Methods:0", ""));

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await MeshTestServer.StartAsync(_pki.IssueIdentity(), settings));

        Assert.That(error!.Failures.Count(), Is.EqualTo(3));
        Assert.That(error.Message, Does.Contain("Mesh:Server:AuthorizationPolicies[0]:Name = ''"));
        Assert.That(error.Message, Does.Contain("write the principal without 'spiffe://'"));
        Assert.That(error.Message, Does.Contain("Mesh:Server:AuthorizationPolicies[1] (x):Rules[0]:To[0]:Methods[0] = '': must be an HTTP method such as GET"));
    }

    [Test]
    public async Task AddMeshServer_CodeConfiguredPolicy_Enforced()
    {
        await using var server = await MeshTestServer.StartAsync(
            _pki.IssueIdentity("shop", "backend"),
            MeshTestServer.Settings("Strict"),
            o => o.AuthorizationPolicies.Add(new AuthorizationPolicyOptions
            {
                Name = "no-deletes",
                Action = AuthorizationAction.Deny,
                Rules = [new() { To = [new() { Methods = ["POST"], NotPaths = ["/public/*"] }] }],
            }));
        using var http = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("shop", "frontend").Certificate);
        using var cts = new CancellationTokenSource(MeshTestServer.Timeout);

        using var denied = await http.PostAsync(new Uri(server.Https, "/orders"), new StringContent("x"), cts.Token);
        using var allowed = await http.PostAsync(new Uri(server.Https, "/public/form"), new StringContent("x"), cts.Token);

        Assert.That(denied.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(server.Policy.Current.PeerAuthentication, Is.EqualTo(PeerAuthenticationMode.Strict));
    }

    private static string? GrpcHeader(HttpResponseMessage response, string name)
        => response.Headers.TryGetValues(name, out var values) || response.TrailingHeaders.TryGetValues(name, out values) ? values.FirstOrDefault() : null;
}
