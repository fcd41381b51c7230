using System.Text.Json;
using Mesh.Xds.Client;

namespace Mesh.Xds.Tests.Client;

public class XdsBootstrapTests
{
    private const string Valid = """
        {
          "xds_servers": [
            { "server_uri": "dns:///xds.example.com:18000", "channel_creds": [ { "type": "google_default" }, { "type": "tls" } ], "server_features": [ "xds_v3", "fail_on_data_errors" ] },
            { "server_uri": "127.0.0.1", "channel_creds": [ { "type": "insecure" } ] }
          ],
          "node": {
            "id": "app-1", "cluster": "shop",
            "locality": { "region": "eu", "zone": "eu-b", "sub_zone": "rack-3" },
            "metadata": { "version": "v1", "replicas": 3 }
          },
          "certificate_providers": { "default": { "plugin_name": "file_watcher", "config": { "certificate_file": "/certs/cert.pem", "private_key_file": "/certs/key.pem" } } },
          "authorities": { "example.com": { } },
          "server_listener_resource_name_template": "grpc/server?xds.resource.listening_address=%s",
          "unknown_field": 1
        }
        """;

    [Test]
    public void Parse_ValidBootstrap_ReadsEveryField()
    {
        var bootstrap = XdsBootstrap.Parse(Valid, "test");

        Assert.That(bootstrap.Servers, Has.Count.EqualTo(2));
        var first = bootstrap.Servers[0];
        Assert.Multiple(() =>
        {
            Assert.That(first.ServerUri, Is.EqualTo("dns:///xds.example.com:18000"));
            Assert.That(first.Address, Is.EqualTo(new Uri("https://xds.example.com:18000")), "first supported creds type (tls) wins, as gRPC");
            Assert.That(first.Credentials, Is.EqualTo(XdsChannelCredentials.Tls));
            Assert.That(first.ServerFeatures, Is.EqualTo(new[] { "xds_v3", "fail_on_data_errors" }));
            Assert.That(first.FailOnDataErrors, Is.True);
            Assert.That(bootstrap.Servers[1].Address, Is.EqualTo(new Uri("http://127.0.0.1:443")), "no port means 443, as gRPC's dns resolver");
            Assert.That(bootstrap.Servers[1].FailOnDataErrors, Is.False);
            Assert.That(bootstrap.Node.Id, Is.EqualTo("app-1"));
            Assert.That(bootstrap.Node.Cluster, Is.EqualTo("shop"));
            Assert.That(bootstrap.Node.Locality.Region, Is.EqualTo("eu"));
            Assert.That(bootstrap.Node.Locality.Zone, Is.EqualTo("eu-b"));
            Assert.That(bootstrap.Node.Locality.SubZone, Is.EqualTo("rack-3"));
            Assert.That(bootstrap.Node.Metadata.Fields["version"].StringValue, Is.EqualTo("v1"));
            Assert.That(bootstrap.Node.Metadata.Fields["replicas"].NumberValue, Is.EqualTo(3));
            Assert.That(bootstrap.Node.UserAgentName, Is.EqualTo(XdsBootstrap.UserAgentName));
            Assert.That(bootstrap.Node.UserAgentVersion, Is.Not.Empty);
            Assert.That(bootstrap.Node.ClientFeatures, Does.Contain("envoy.lb.does_not_support_overprovisioning"));
            Assert.That(bootstrap.CertificateProviders.Keys, Is.EqualTo(new[] { "default" }));
            Assert.That(bootstrap.CertificateProviders["default"].PluginName, Is.EqualTo("file_watcher"));
            Assert.That(bootstrap.CertificateProviders["default"].CertificateFile, Is.EqualTo("/certs/cert.pem"));
            Assert.That(bootstrap.HasAuthorities, Is.True);
            Assert.That(bootstrap.ServerListenerResourceNameTemplate, Is.EqualTo("grpc/server?xds.resource.listening_address=%s"));
        });
    }

    [TestCase("127.0.0.1:18000", "http://127.0.0.1:18000/")]
    [TestCase("localhost:18000", "http://localhost:18000/")]
    [TestCase("dns:///xds.mesh.svc:15010", "http://xds.mesh.svc:15010/")]
    [TestCase("dns:xds.mesh.svc:15010", "http://xds.mesh.svc:15010/")]
    [TestCase("dns://8.8.8.8/xds.mesh.svc:15010", "http://xds.mesh.svc:15010/")]
    [TestCase("[::1]:18000", "http://[::1]:18000/")]
    public void Parse_ServerUriForms_BecomeChannelAddresses(string serverUri, string expected)
    {
        var bootstrap = XdsBootstrap.Parse(Bootstrap(serverUri), "test");

        Assert.That(bootstrap.Servers[0].Address.ToString(), Is.EqualTo(expected));
    }

    [TestCase("""{ "node": { "id": "a" } }""", "test: xds_servers: is required, e.g. [{\"server_uri\": \"127.0.0.1:18000\"")]
    [TestCase("""{ "xds_servers": [] }""", "test: xds_servers: must list at least one server")]
    [TestCase("""{ "xds_servers": [ { "channel_creds": [ { "type": "insecure" } ] } ] }""", "test: xds_servers[0].server_uri: is required, e.g. \"127.0.0.1:18000\"")]
    [TestCase("""{ "xds_servers": [ { "server_uri": 5, "channel_creds": [ { "type": "insecure" } ] } ] }""", "test: xds_servers[0].server_uri: must be a non-empty string")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "a:1" } ] }""", "test: xds_servers[0].channel_creds: is required, e.g. [{\"type\": \"insecure\"}]")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "a:1", "channel_creds": [ { "type": "google_default" } ] } ] }""", "test: xds_servers[0].channel_creds: no supported type among 'google_default'; supported: 'insecure' (plaintext HTTP/2), 'tls'")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "a:1", "channel_creds": [ { } ] } ] }""", "test: xds_servers[0].channel_creds[0].type: is required")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "http://a:1", "channel_creds": [ { "type": "insecure" } ] } ] }""", "test: xds_servers[0].server_uri = 'http://a:1': the scheme 'http' is not supported; write host:port")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "a:99999", "channel_creds": [ { "type": "insecure" } ] } ] }""", "test: xds_servers[0].server_uri = 'a:99999': the port '99999' is not a number from 1 to 65535")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "::1", "channel_creds": [ { "type": "insecure" } ] } ] }""", "test: xds_servers[0].server_uri = '::1': an IPv6 address needs brackets")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "a:1", "channel_creds": [ { "type": "insecure" } ], "server_features": [ 1 ] } ] }""", "test: xds_servers[0].server_features[0]: must be a string")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "a:1", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "id": 7 } }""", "test: node.id: must be a string")]
    [TestCase("""{ "xds_servers": [ { "server_uri": "a:1", "channel_creds": [ { "type": "insecure" } ] } ], "node": { "locality": "eu" } }""", "test: node.locality: must be an object")]
    [TestCase("""[ 1 ]""", "test: must be a JSON object")]
    [TestCase("""{ "xds_servers": [ """, "test: is not valid JSON")]
    public void Parse_InvalidBootstrap_NamesSourcePathAndFix(string json, string expectedStart)
    {
        var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Parse(json, "test"))!;

        Assert.That(e.Message, Does.StartWith(expectedStart));
    }

    [Test]
    public void Parse_SeveralProblems_ListsEveryOne()
    {
        const string Json = """{ "xds_servers": [ { "channel_creds": [ { "type": "ssl" } ] }, 3 ], "node": { "cluster": false } }""";

        var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Parse(Json, "test"))!;

        Assert.That(e.Errors, Has.Count.EqualTo(4), string.Join(Environment.NewLine, e.Errors));
        Assert.That(e.Errors, Has.Some.StartWith("xds_servers[0].server_uri: is required"));
        Assert.That(e.Errors, Has.Some.StartWith("xds_servers[0].channel_creds: no supported type among 'ssl'"));
        Assert.That(e.Errors, Has.Some.StartWith("xds_servers[1]: must be an object"));
        Assert.That(e.Errors, Has.Some.StartWith("node.cluster: must be a string"));
        Assert.That(e.Message, Does.StartWith("test: 4 problems:"));
    }

    [Test]
    public void Load_FileVariable_ErrorNamesTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"xds-bootstrap-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "xds_servers": [ { "channel_creds": [ { "type": "insecure" } ] } ] }""");
        try
        {
            var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Load(getEnvironmentVariable: Env((XdsBootstrap.FileVariable, path))))!;

            Assert.That(e.Message, Is.EqualTo($"GRPC_XDS_BOOTSTRAP file '{path}': xds_servers[0].server_uri: is required, e.g. \"127.0.0.1:18000\" or \"dns:///xds.example.com:443\""));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Load_MissingFile_SaysSoAndHowToFix()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.json");

        var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Load(getEnvironmentVariable: Env((XdsBootstrap.FileVariable, path))))!;

        Assert.That(e.Message, Does.StartWith($"GRPC_XDS_BOOTSTRAP file '{path}': cannot be read ("));
        Assert.That(e.Message, Does.EndWith("set GRPC_XDS_BOOTSTRAP to the path of a readable bootstrap file"));
    }

    [Test]
    public void Load_Precedence_OptionsThenFileThenConfigVariable()
    {
        var path = Path.Combine(Path.GetTempPath(), $"xds-bootstrap-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, Bootstrap("file:1"));
        try
        {
            var env = Env((XdsBootstrap.FileVariable, path), (XdsBootstrap.ConfigVariable, Bootstrap("config:1")));
            using var document = JsonDocument.Parse(Bootstrap("object:1"));

            Assert.Multiple(() =>
            {
                Assert.That(XdsBootstrap.Load(json: Bootstrap("json:1"), config: document.RootElement, getEnvironmentVariable: env).Servers[0].ServerUri, Is.EqualTo("json:1"));
                Assert.That(XdsBootstrap.Load(config: document.RootElement, getEnvironmentVariable: env).Servers[0].ServerUri, Is.EqualTo("object:1"));
                Assert.That(XdsBootstrap.Load(getEnvironmentVariable: env).Servers[0].ServerUri, Is.EqualTo("file:1"));
                Assert.That(XdsBootstrap.Load(getEnvironmentVariable: Env((XdsBootstrap.ConfigVariable, Bootstrap("config:1")))).Servers[0].ServerUri, Is.EqualTo("config:1"));
                Assert.That(XdsBootstrap.Load(getEnvironmentVariable: env).Source, Is.EqualTo($"GRPC_XDS_BOOTSTRAP file '{path}'"));
                Assert.That(XdsBootstrap.Load(getEnvironmentVariable: Env((XdsBootstrap.ConfigVariable, Bootstrap("config:1")))).Source, Is.EqualTo("GRPC_XDS_BOOTSTRAP_CONFIG environment variable"));
            });
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Load_NoSource_ExplainsTheThreeWays()
    {
        var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Load(getEnvironmentVariable: Env()))!;

        Assert.That(e.Message, Does.Contain("GRPC_XDS_BOOTSTRAP").And.Contain("GRPC_XDS_BOOTSTRAP_CONFIG").And.Contain("options"));
    }

    [Test]
    public void Load_ConfigVariableInvalid_ErrorNamesTheVariable()
    {
        var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Load(getEnvironmentVariable: Env((XdsBootstrap.ConfigVariable, "{}"))))!;

        Assert.That(e.Message, Does.StartWith("GRPC_XDS_BOOTSTRAP_CONFIG environment variable: xds_servers: is required"));
    }

    [Test]
    public void Parse_TlsCredentialsWithCaCertificateFile_KeepsTheRoots()
    {
        // Arrange: gRFC A65's tls config, the mesh's root in a file.
        var pki = Mesh.Testing.TestPki.Create();
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, pki.RootPem);
            var json = $$"""{ "xds_servers": [ { "server_uri": "cp:15012", "channel_creds": [ { "type": "tls", "config": { "ca_certificate_file": "{{file.Replace("\\", "\\\\", StringComparison.Ordinal)}}", "refresh_interval": "600s" } } ] } ] }""";

            // Act
            var server = XdsBootstrap.Parse(json, "test").Servers[0];

            // Assert
            Assert.Multiple(() =>
            {
                Assert.That(server.Address, Is.EqualTo(new Uri("https://cp:15012")));
                Assert.That(server.RootCertificatesPem, Is.EqualTo(pki.RootPem));
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Parse_TlsCredentialsWithoutConfig_UsesTheSystemTrustStore()
    {
        var server = XdsBootstrap.Parse("""{ "xds_servers": [ { "server_uri": "cp:443", "channel_creds": [ { "type": "tls" } ] } ] }""", "test").Servers[0];

        Assert.That(server.RootCertificatesPem, Is.Null);
    }

    [TestCase("""{ "ca_certificate_file": "/nonexistent/root-cert.pem" }""", "xds_servers[0].channel_creds[0].config.ca_certificate_file = '/nonexistent/root-cert.pem': cannot be read")]
    [TestCase("""{ "ca_certificate_file": "" }""", "xds_servers[0].channel_creds[0].config.ca_certificate_file: must be the path of a PEM file of root certificates")]
    [TestCase("""{ "ca_certificate_file": "r.pem", "certificate_file": "c.pem", "private_key_file": "k.pem" }""", "xds_servers[0].channel_creds[0].config.certificate_file: client certificates to the xDS server are not supported")]
    [TestCase("\"r.pem\"", "xds_servers[0].channel_creds[0].config: must be an object")]
    public void Parse_InvalidTlsConfig_NamesTheFieldAndTheFix(string config, string expectedStart)
    {
        // Arrange
        var json = $$"""{ "xds_servers": [ { "server_uri": "cp:15012", "channel_creds": [ { "type": "tls", "config": {{config}} } ] } ] }""";

        // Act
        var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Parse(json, "test"))!;

        // Assert
        Assert.That(e.Errors, Has.Some.StartsWith(expectedStart), string.Join(Environment.NewLine, e.Errors));
    }

    [Test]
    public void Parse_CaCertificateFileWithoutCertificates_IsRejected()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "not a certificate\n");
            var json = $$"""{ "xds_servers": [ { "server_uri": "cp:15012", "channel_creds": [ { "type": "tls", "config": { "ca_certificate_file": "{{file}}" } } ] } ] }""";

            var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Parse(json, "test"))!;

            Assert.That(e.Errors, Has.Some.Contains("holds no certificate; give the PEM file of the mesh's root certificate"), string.Join(Environment.NewLine, e.Errors));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Parse_FileWatcherProviders_ReadsEveryInstance()
    {
        // Arrange
        const string Json = """
            {
              "xds_servers": [ { "server_uri": "a:1", "channel_creds": [ { "type": "insecure" } ] } ],
              "certificate_providers": {
                "default": { "plugin_name": "file_watcher", "config": {
                  "certificate_file": "certs/cert-chain.pem", "private_key_file": "certs/key.pem", "ca_certificate_file": "certs/root-cert.pem", "refresh_interval": "1.5s" } },
                "roots": { "plugin_name": "file_watcher", "config": { "ca_certificate_file": "certs/root-cert.pem" } }
              }
            }
            """;

        // Act
        var providers = XdsBootstrap.Parse(Json, "test").CertificateProviders;

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(providers["default"], Is.EqualTo(new XdsBootstrapCertificateProvider("default", "file_watcher", "certs/cert-chain.pem", "certs/key.pem", "certs/root-cert.pem", TimeSpan.FromSeconds(1.5))));
            Assert.That(providers["default"].ProvidesIdentity && providers["default"].ProvidesRoots, Is.True);
            Assert.That(providers["roots"], Is.EqualTo(new XdsBootstrapCertificateProvider("roots", "file_watcher", null, null, "certs/root-cert.pem", TimeSpan.FromMinutes(10))));
            Assert.That(providers["roots"].ProvidesIdentity, Is.False);
        });
    }

    [TestCase("""{ "x": 1 }""", "certificate_providers.x: must be an object with plugin_name and config")]
    [TestCase("""{ "x": { "config": { "ca_certificate_file": "ca.pem" } } }""", "certificate_providers.x.plugin_name: is required; the supported plugin is \"file_watcher\"")]
    [TestCase("""{ "x": { "plugin_name": "meshca", "config": { } } }""", "certificate_providers.x.plugin_name = 'meshca': is not a known certificate provider plugin; the supported plugin is \"file_watcher\"")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher" } }""", "certificate_providers.x.config: is required for file_watcher")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher", "config": { } } }""", "certificate_providers.x.config: sets none of certificate_file, private_key_file and ca_certificate_file")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher", "config": { "certificate_file": "c.pem" } } }""", "certificate_providers.x.config.private_key_file: is required with certificate_file")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher", "config": { "private_key_file": "k.pem" } } }""", "certificate_providers.x.config.certificate_file: is required with private_key_file")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher", "config": { "ca_certificate_file": 3 } } }""", "certificate_providers.x.config.ca_certificate_file: must be a string")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher", "config": { "ca_certificate_file": "" } } }""", "certificate_providers.x.config.ca_certificate_file: is empty")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher", "config": { "ca_certificate_file": "ca.pem", "refresh_interval": "10m" } } }""", "certificate_providers.x.config.refresh_interval = \"10m\": must be a positive protobuf JSON duration")]
    [TestCase("""{ "x": { "plugin_name": "file_watcher", "config": { "ca_certificate_file": "ca.pem", "refresh_interval": "0s" } } }""", "certificate_providers.x.config.refresh_interval = \"0s\": must be a positive protobuf JSON duration")]
    [TestCase("""[ ]""", "certificate_providers: must be an object of named instances")]
    public void Parse_InvalidCertificateProvider_NamesInstanceAndField(string providers, string expectedStart)
    {
        // Arrange
        var json = $$"""{ "xds_servers": [ { "server_uri": "a:1", "channel_creds": [ { "type": "insecure" } ] } ], "certificate_providers": {{providers}} }""";

        // Act
        var e = Assert.Throws<XdsBootstrapException>(() => XdsBootstrap.Parse(json, "test"))!;

        // Assert
        Assert.That(e.Errors, Has.Count.EqualTo(1), string.Join(Environment.NewLine, e.Errors));
        Assert.That(e.Errors[0], Does.StartWith(expectedStart));
    }

    private static string Bootstrap(string serverUri) =>
        $$"""{ "xds_servers": [ { "server_uri": "{{serverUri}}", "channel_creds": [ { "type": "insecure" } ] } ] }""";

    private static Func<string, string?> Env(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;
}
