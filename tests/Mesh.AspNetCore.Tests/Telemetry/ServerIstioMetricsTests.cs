using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Authorization;
using Mesh.Identity;
using Mesh.Telemetry;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tests.Telemetry;

/// <summary>
/// <c>UseMeshIstioMetrics()</c>: Istio's metrics for the requests a workload serves (<c>reporter="destination"</c>),
/// on a real Kestrel server with <c>UseMeshTls</c> (PERMISSIVE: mutual TLS and plaintext on one port).
/// </summary>
[TestFixture]
public sealed class ServerIstioMetricsTests
{
    private const string ServerId = "spiffe://cluster.local/ns/shop/sa/backend";
    private const string ClientId = "spiffe://cluster.local/ns/web/sa/frontend";

    private TestPki _pki = null!;
    private WebApplication _app = null!;
    private Uri _address = null!;
    private MetricCollector<long> _requests = null!;
    private MetricCollector<long> _requestBytes = null!;
    private MetricCollector<long> _responseBytes = null!;

    [OneTimeSetUp]
    public async Task StartServer()
    {
        _pki = TestPki.Create();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IWorkloadIdentityProvider>(new TestIdentityProvider(_pki.IssueIdentity("shop", "backend")));
        builder.Services.AddMeshServer(o => o.PeerAuthentication = PeerAuthenticationMode.Permissive);
        builder.Services.AddMesh().AddIstioMetrics(o =>
        {
            o.SourceWorkload = "backend-v1";
            o.SourceWorkloadNamespace = "shop";
            o.SourceApp = "backend";
            o.SourceVersion = "v1";
        });
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http1AndHttp2;
            l.UseMeshTls();
        }));
        _app = builder.Build();
        _app.UseMeshIstioMetrics();
        _app.MapPost("/echo", static async (HttpContext context) =>
        {
            // Reads the whole body, answers 1,000 bytes in two writes without Content-Length.
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.Body.WriteAsync(new byte[400]);
            await context.Response.Body.WriteAsync(new byte[600]);
        });
        _app.MapGet("/throw", static HttpContext () => throw new InvalidOperationException("handler failed"));
        _app.MapGet("/seen-metadata", static (HttpContext context) => context.Request.Headers.ContainsKey("x-envoy-peer-metadata") ? "present" : "removed");
        _app.MapPost("/test.Svc/Call", static async (HttpContext context) =>
        {
            // Read and answered as Grpc.AspNetCore does, through the pipes: one 10-byte message, then status NOT_FOUND.
            while (true)
            {
                var read = await context.Request.BodyReader.ReadAsync();
                context.Request.BodyReader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            context.Response.ContentType = "application/grpc";
            var frame = context.Response.BodyWriter.GetSpan(15);
            frame[..15].Clear();
            frame[4] = 10;
            context.Response.BodyWriter.Advance(15);
            await context.Response.BodyWriter.FlushAsync();
            context.Response.AppendTrailer("grpc-status", "5");
            context.Response.AppendTrailer("grpc-message", "not here");
        });
        await _app.StartAsync().WaitAsync(MeshTestServer.Timeout);
        _address = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var meters = _app.Services.GetRequiredService<IMeterFactory>();
        _requests = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_requests_total");
        _requestBytes = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_request_bytes");
        _responseBytes = new MetricCollector<long>(meters, IstioMetrics.Name, "istio_response_bytes");
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        _requests.Dispose();
        _requestBytes.Dispose();
        _responseBytes.Dispose();
        await _app.StopAsync().WaitAsync(MeshTestServer.Timeout);
        await _app.DisposeAsync();
        _pki.Root.Dispose();
    }

    [SetUp]
    public void Clear()
    {
        _requests.Clear();
        _requestBytes.Clear();
        _responseBytes.Clear();
    }

    [Test]
    public async Task MutualTlsRequest_RecordedAsDestinationWithThePeerAndTheCountedBodies()
    {
        // Arrange
        using var client = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("web", "frontend").Certificate);

        // Act
        using var response = await client.PostAsync(new Uri($"https://127.0.0.1:{_address.Port}/echo"), new ByteArrayContent(new byte[300])).WaitAsync(MeshTestServer.Timeout);
        await response.Content.ReadAsByteArrayAsync();

        // Assert
        await WaitForAsync(1);
        var tags = _requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(tags["reporter"], Is.EqualTo("destination"));
            Assert.That(tags["destination_workload"], Is.EqualTo("backend-v1"));
            Assert.That(tags["destination_workload_namespace"], Is.EqualTo("shop"));
            Assert.That(tags["destination_app"], Is.EqualTo("backend"));
            Assert.That(tags["destination_version"], Is.EqualTo("v1"));
            Assert.That(tags["destination_principal"], Is.EqualTo(ServerId));
            Assert.That(tags["destination_service"], Is.EqualTo("127.0.0.1"));
            Assert.That(tags["source_principal"], Is.EqualTo(ClientId));
            Assert.That(tags["source_workload_namespace"], Is.EqualTo("web"));
            Assert.That(tags["source_workload"], Is.EqualTo("unknown"));
            Assert.That(tags["connection_security_policy"], Is.EqualTo("mutual_tls"));
            Assert.That(tags["request_protocol"], Is.EqualTo("http"));
            Assert.That(tags["response_code"], Is.EqualTo(200));
            Assert.That(_requestBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(300));
            Assert.That(_responseBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(1000));
        });
    }

    [Test]
    public async Task PlaintextRequest_RecordedWithoutPrincipalAndPolicyNone()
    {
        // Arrange
        using var client = MeshTestServer.CreatePlaintextClient();

        // Act
        using var response = await client.PostAsync(new Uri($"http://127.0.0.1:{_address.Port}/echo"), new ByteArrayContent(new byte[7])).WaitAsync(MeshTestServer.Timeout);

        // Assert
        await WaitForAsync(1);
        var tags = _requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(tags["connection_security_policy"], Is.EqualTo("none"));
            Assert.That(tags["source_principal"], Is.EqualTo("unknown"));
            Assert.That(tags["source_workload_namespace"], Is.EqualTo("unknown"));
            Assert.That(_requestBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(7));
        });
    }

    [Test]
    public async Task GrpcCall_RecordedWithTheStatusFromTheTrailersAndTheFramedBytes()
    {
        // Arrange: a real gRPC client (raw bytes as messages) over mutual TLS.
        var identity = _pki.IssueIdentity("web", "frontend");
        using var handler = new SocketsHttpHandler
        {
            SslOptions =
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(identity.Certificate, null, offline: true),
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                    certificate is X509Certificate2 server && SpiffeValidator.Validate(server, chain?.ChainPolicy.ExtraStore, _pki.Bundle, DateTimeOffset.UtcNow).IsValid,
            },
        };
        using var channel = GrpcChannel.ForAddress($"https://127.0.0.1:{_address.Port}", new GrpcChannelOptions { HttpHandler = handler });
        var bytes = Marshallers.Create(static (byte[] b) => b, static b => b);
        var method = new Method<byte[], byte[]>(MethodType.Unary, "test.Svc", "Call", bytes, bytes);

        // Act
        var error = Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(deadline: DateTime.UtcNow + MeshTestServer.Timeout), new byte[20]));

        // Assert: 5 + 20 bytes in, 5 + 10 out.
        await WaitForAsync(1);
        var tags = _requests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.NotFound));
            Assert.That(tags["request_protocol"], Is.EqualTo("grpc"));
            Assert.That(tags["grpc_response_status"], Is.EqualTo("5"));
            Assert.That(tags["response_code"], Is.EqualTo(200));
            Assert.That(tags["source_principal"], Is.EqualTo(ClientId));
            Assert.That(_requestBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(25));
            Assert.That(_responseBytes.GetMeasurementSnapshot().Single().Value, Is.EqualTo(15));
        });
    }

    [Test]
    public async Task HandlerThrows_RecordedAs500()
    {
        // Arrange
        using var client = MeshTestServer.CreatePlaintextClient();

        // Act
        using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{_address.Port}/throw")).WaitAsync(MeshTestServer.Timeout);

        // Assert
        await WaitForAsync(1);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
            Assert.That(_requests.GetMeasurementSnapshot().Single().Tags["response_code"], Is.EqualTo(500));
        });
    }

    [Test]
    public async Task CallerSendsIstioPeerMetadata_SourceLabelsFromItNamespaceFromTheCertificate_AnswerCarriesOurs()
    {
        // Arrange: Istio's metadata exchange header, built here from Istio's field names; it claims another namespace than the certificate's.
        var metadata = new Struct
        {
            Fields =
            {
                ["WORKLOAD_NAME"] = Value.ForString("frontend"),
                ["NAMESPACE"] = Value.ForString("spoofed"),
                ["CLUSTER_ID"] = Value.ForString("east"),
                ["LABELS"] = Value.ForStruct(new Struct { Fields = { ["app"] = Value.ForString("web"), ["version"] = Value.ForString("v7") } }),
            },
        };
        using var client = MeshTestServer.CreateTlsClient(_pki.Bundle, _pki.IssueIdentity("web", "frontend").Certificate);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"https://127.0.0.1:{_address.Port}/seen-metadata"));
        request.Headers.Add("x-envoy-peer-metadata", Convert.ToBase64String(metadata.ToByteArray()));
        request.Headers.Add("x-envoy-peer-metadata-id", "sidecar~10.0.0.7~frontend-1.web~web.svc.cluster.local");

        // Act
        using var response = await client.SendAsync(request).WaitAsync(MeshTestServer.Timeout);
        var body = await response.Content.ReadAsStringAsync();

        // Assert
        await WaitForAsync(1);
        var tags = _requests.GetMeasurementSnapshot().Single().Tags;
        var answered = Struct.Parser.ParseFrom(Convert.FromBase64String(response.Headers.GetValues("x-envoy-peer-metadata").Single()));
        Assert.Multiple(() =>
        {
            Assert.That(body, Is.EqualTo("removed"), "the application does not see the exchange, as behind a sidecar");
            Assert.That(tags["source_workload"], Is.EqualTo("frontend"));
            Assert.That(tags["source_workload_namespace"], Is.EqualTo("web"), "the certificate's namespace, not the claimed one");
            Assert.That(tags["source_app"], Is.EqualTo("web"));
            Assert.That(tags["source_version"], Is.EqualTo("v7"));
            Assert.That(tags["source_canonical_service"], Is.EqualTo("web"));
            Assert.That(tags["source_cluster"], Is.EqualTo("east"));
            Assert.That(answered.Fields["WORKLOAD_NAME"].StringValue, Is.EqualTo("backend-v1"));
            Assert.That(answered.Fields["LABELS"].StructValue.Fields["version"].StringValue, Is.EqualTo("v1"));
        });
    }

    [Test]
    public async Task MeshHttpClientWithIstioMetrics_ServerReportNamesTheCallingWorkload()
    {
        // Arrange: a mesh HttpClient (AddIstioMetrics names it "frontend") calls this server in plaintext.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh(o => o.Services["backend"] = new Mesh.Configuration.ServiceOptions { Endpoints = { new Mesh.Configuration.EndpointOptions { Address = $"http://127.0.0.1:{_address.Port}" } } })
            .AddIstioMetrics(o =>
            {
                o.SourceWorkload = "frontend";
                o.SourceWorkloadNamespace = "web";
                o.SourceApp = "frontend";
                o.SourceVersion = "v2";
            });
        services.AddHttpClient("backend", c => c.BaseAddress = new Uri("http://backend")).AddMesh();
        await using var provider = services.BuildServiceProvider();
        using var clientRequests = new MetricCollector<long>(provider.GetRequiredService<IMeterFactory>(), IstioMetrics.Name, "istio_requests_total");
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("backend");

        // Act
        using var response = await client.GetAsync("/seen-metadata").WaitAsync(MeshTestServer.Timeout);
        var body = await response.Content.ReadAsStringAsync();

        // Assert: both sides report the same edge.
        await WaitForAsync(1);
        var server = _requests.GetMeasurementSnapshot().Single().Tags;
        var caller = clientRequests.GetMeasurementSnapshot().Single().Tags;
        Assert.Multiple(() =>
        {
            Assert.That(body, Is.EqualTo("removed"));
            Assert.That(server["reporter"], Is.EqualTo("destination"));
            Assert.That(server["source_workload"], Is.EqualTo("frontend"));
            Assert.That(server["source_workload_namespace"], Is.EqualTo("web"));
            Assert.That(server["source_version"], Is.EqualTo("v2"));
            Assert.That(server["destination_service"], Is.EqualTo("backend"), "the Host the mesh keeps is the logical one");
            Assert.That(caller["reporter"], Is.EqualTo("source"));
            Assert.That(caller["source_workload"], Is.EqualTo("frontend"));
            Assert.That(caller["destination_workload"], Is.EqualTo("backend-v1"), "named by the server's answer: the configuration says nothing");
            Assert.That(caller["destination_version"], Is.EqualTo("v1"));
            Assert.That(caller["destination_workload_namespace"], Is.EqualTo("shop"));
            Assert.That(response.Headers.Contains("x-envoy-peer-metadata"), Is.False, "the application does not see the exchange");
        });
    }

    [Test]
    public void UseMeshIstioMetrics_IstioMetricsNotRegistered_FailsNamingTheRegistration()
    {
        // Arrange
        var builder = WebApplication.CreateSlimBuilder();
        using var app = (IDisposable)builder.Build();

        // Act
        var error = Assert.Throws<InvalidOperationException>(() => ((WebApplication)app).UseMeshIstioMetrics());

        // Assert
        Assert.That(error!.Message, Does.Contain("services.AddMesh().AddIstioMetrics("));
    }

    // The server records when its middleware returns, which can be just after the client has its answer.
    private async Task WaitForAsync(int count)
    {
        using var timeout = new CancellationTokenSource(MeshTestServer.Timeout);
        while (_requests.GetMeasurementSnapshot().Count < count)
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
