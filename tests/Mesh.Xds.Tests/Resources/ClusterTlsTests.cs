using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Type.Matcher.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Mesh.Configuration;
using Mesh.Xds.Client;
using Mesh.Xds.Resources;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

/// <summary>gRFC A29 on the client: a cluster's <c>UpstreamTlsContext</c>.</summary>
[TestFixture]
public sealed class ClusterTlsTests
{
    private const string SpiffeId = "spiffe://cluster.local/ns/shop/sa/backend";

    private const string Bootstrap = """
        {
          "xds_servers": [ { "server_uri": "127.0.0.1:18000", "channel_creds": [ { "type": "insecure" } ] } ],
          "certificate_providers": {
            "files": { "plugin_name": "file_watcher", "config": { "certificate_file": "cert.pem", "private_key_file": "key.pem", "ca_certificate_file": "ca.pem" } },
            "roots": { "plugin_name": "file_watcher", "config": { "ca_certificate_file": "ca.pem" } }
          }
        }
        """;

    /// <summary>Clusters may name the bootstrap's "files" and "roots", and "default", which the application registers.</summary>
    private static readonly XdsClusterResourceType Checked =
        (XdsClusterResourceType)XdsResourceTypes.Create(XdsBootstrap.Parse(Bootstrap, "test"), ["default"])[2];

    private static Cluster TlsCluster(UpstreamTlsContext context)
    {
        var cluster = EdsCluster(V1);
        cluster.TransportSocket = new TransportSocket { Name = XdsClusterResourceType.TlsTransportSocketName, TypedConfig = Any.Pack(context) };
        return cluster;
    }

    private static UpstreamTlsContext Context(string? certificate = "default", string? ca = "default", params StringMatcher[] sans)
    {
        var validation = new CertificateValidationContext();
        if (ca is not null)
        {
            validation.CaCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = ca };
        }

        validation.MatchSubjectAltNames.Add(sans);
        var common = new CommonTlsContext { ValidationContext = validation };
        if (certificate is not null)
        {
            common.TlsCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = certificate };
        }

        return new UpstreamTlsContext { CommonTlsContext = common };
    }

    private static XdsClusterTls DecodeTls(UpstreamTlsContext context) => Valid<XdsCluster>(Checked, TlsCluster(context)).Tls!;

    [Test]
    public void Decode_UpstreamTlsContextWithCertificate_IsMutualWithNamesAndSni()
    {
        // Arrange
        var context = Context("default", "default", new StringMatcher { Exact = SpiffeId });
        context.Sni = "backend.shop.svc.cluster.local";

        // Act
        var tls = DecodeTls(context);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(tls.Mutual, Is.True);
            Assert.That(tls.CertificateInstance, Is.EqualTo("default"));
            Assert.That(tls.CaInstance, Is.EqualTo("default"));
            Assert.That(tls.SubjectAltNames, Is.EqualTo(new[] { new XdsStringMatch(XdsStringMatchKind.Exact, SpiffeId) }));
            Assert.That(tls.Sni, Is.EqualTo("backend.shop.svc.cluster.local"));
        });
    }

    [Test]
    public void Decode_UpstreamTlsContextWithoutCertificate_IsSimpleTls()
    {
        // Act
        var tls = DecodeTls(Context(certificate: null, ca: "roots"));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(tls.Mutual, Is.False);
            Assert.That(tls.CertificateInstance, Is.Null);
            Assert.That(tls.CaInstance, Is.EqualTo("roots"));
            Assert.That(tls.SubjectAltNames, Is.Empty);
            Assert.That(tls.Sni, Is.Null);
        });
    }

    [Test]
    public void Decode_CombinedValidationContext_TakesDefaultValidationContext()
    {
        // Arrange
        var context = Context("files", ca: null);
        var validation = context.CommonTlsContext.ValidationContext;
        validation.CaCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = "files" };
        validation.MatchSubjectAltNames.Add(new StringMatcher { Prefix = "spiffe://cluster.local/ns/shop/" });
        context.CommonTlsContext.CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext { DefaultValidationContext = validation };

        // Act
        var tls = DecodeTls(context);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(tls.CaInstance, Is.EqualTo("files"));
            Assert.That(tls.SubjectAltNames, Is.EqualTo(new[] { new XdsStringMatch(XdsStringMatchKind.Prefix, "spiffe://cluster.local/ns/shop/") }));
        });
    }

    [Test]
    public void Decode_EverySanMatcherKind_IsKept()
    {
        // Arrange
        var context = Context(
            "default",
            "default",
            new StringMatcher { Exact = SpiffeId, IgnoreCase = true },
            new StringMatcher { Prefix = "spiffe://cluster.local/" },
            new StringMatcher { Suffix = ".svc.cluster.local" },
            new StringMatcher { Contains = "ns/shop" },
            new StringMatcher { SafeRegex = new RegexMatcher { Regex = "spiffe://cluster\\.local/ns/[a-z]+/sa/backend" } });
        context.CommonTlsContext.ValidationContext.MatchTypedSubjectAltNames.Add(new SubjectAltNameMatcher
        {
            SanType = SubjectAltNameMatcher.Types.SanType.Dns,
            Matcher = new StringMatcher { Exact = "backend.shop.svc" },
        });

        // Act
        var names = DecodeTls(context).SubjectAltNames;

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(names, Has.Length.EqualTo(6));
            Assert.That(names[0], Is.EqualTo(new XdsStringMatch(XdsStringMatchKind.Exact, SpiffeId, IgnoreCase: true)));
            Assert.That(names[1].Kind, Is.EqualTo(XdsStringMatchKind.Prefix));
            Assert.That(names[2].Kind, Is.EqualTo(XdsStringMatchKind.Suffix));
            Assert.That(names[3], Is.EqualTo(new XdsStringMatch(XdsStringMatchKind.Regex, "(?s:.*)ns/shop(?s:.*)")));
            Assert.That(names[4], Is.EqualTo(new XdsStringMatch(XdsStringMatchKind.Regex, "spiffe://cluster\\.local/ns/[a-z]+/sa/backend")));
            Assert.That(names[5], Is.EqualTo(new XdsStringMatch(XdsStringMatchKind.Exact, "backend.shop.svc")));
        });
    }

    [Test]
    public void Decode_UncheckedInstance_AcceptsAnyProviderName()
    {
        // Act
        var cluster = Valid<XdsCluster>(XdsClusterResourceType.Instance, TlsCluster(Context("anything", "anything")));

        // Assert
        Assert.That(cluster.Tls!.CertificateInstance, Is.EqualTo("anything"));
    }

    private static IEnumerable<TestCaseData> Rejected()
    {
        const string Common = "transport_socket.typed_config.common_tls_context";
        const string Validation = Common + ".validation_context";

        yield return Case("UnknownCertificateInstance", c => c.CommonTlsContext.TlsCertificateProviderInstance.InstanceName = "other",
            $"{Common}.tls_certificate_provider_instance.instance_name = 'other': is not a certificate provider instance of the bootstrap (certificate_providers) nor one the application registers (Xds:CertificateProviderInstances); known: 'default', 'files', 'roots'");
        yield return Case("UnknownCaInstance", c => c.CommonTlsContext.ValidationContext.CaCertificateProviderInstance.InstanceName = "other",
            $"{Validation}.ca_certificate_provider_instance.instance_name = 'other': is not a certificate provider instance");
        yield return Case("RootsOnlyInstanceAsCertificate", c => c.CommonTlsContext.TlsCertificateProviderInstance.InstanceName = "roots",
            $"{Common}.tls_certificate_provider_instance.instance_name = 'roots': provides no certificate");
        yield return Case("EmptyInstanceName", c => c.CommonTlsContext.TlsCertificateProviderInstance.InstanceName = string.Empty,
            $"{Common}.tls_certificate_provider_instance.instance_name: is empty");
        yield return Case("NoCaInstance", c => c.CommonTlsContext.ValidationContext.CaCertificateProviderInstance = null,
            $"{Validation}.ca_certificate_provider_instance: is not set; gRFC A29 needs the certificate provider instance whose CA certificates validate the server");
        yield return Case("NoValidationContext", c => c.CommonTlsContext.ClearValidationContextType(),
            $"{Validation}.ca_certificate_provider_instance: is not set");
        yield return Case("TlsCertificates", c => c.CommonTlsContext.TlsCertificates.Add(new TlsCertificate()),
            $"{Common}.tls_certificates: is not supported (gRFC A29)");
        yield return Case("TlsCertificateSds", c => c.CommonTlsContext.TlsCertificateSdsSecretConfigs.Add(new SdsSecretConfig { Name = "cert" }),
            $"{Common}.tls_certificate_sds_secret_configs: SDS is not supported (gRFC A29)");
        yield return Case("ValidationSds", c => c.CommonTlsContext.ValidationContextSdsSecretConfig = new SdsSecretConfig { Name = "ca" },
            $"{Common}.validation_context_sds_secret_config: SDS is not supported (gRFC A29)");
        yield return Case("TlsParams", c => c.CommonTlsContext.TlsParams = new TlsParameters(),
            $"{Common}.tls_params: is not supported (gRFC A29)");
        yield return Case("SignedCertificateTimestamp", c => c.CommonTlsContext.ValidationContext.RequireSignedCertificateTimestamp = true,
            $"{Validation}.require_signed_certificate_timestamp: is not supported (gRFC A29)");
        yield return Case("Crl", c => c.CommonTlsContext.ValidationContext.Crl = new DataSource { Filename = "crl.pem" },
            $"{Validation}.crl: is not supported (gRFC A29)");
        yield return Case("CustomValidator", c => c.CommonTlsContext.ValidationContext.CustomValidatorConfig = new TypedExtensionConfig { Name = "v" },
            $"{Validation}.custom_validator_config: is not supported (gRFC A29)");
        yield return Case("VerifySpki", c => c.CommonTlsContext.ValidationContext.VerifyCertificateSpki.Add("abc"),
            $"{Validation}.verify_certificate_spki: is not supported");
        yield return Case("VerifyHash", c => c.CommonTlsContext.ValidationContext.VerifyCertificateHash.Add("abc"),
            $"{Validation}.verify_certificate_hash: is not supported");
        yield return Case("TrustedCa", c => c.CommonTlsContext.ValidationContext.TrustedCa = new DataSource { Filename = "ca.pem" },
            $"{Validation}.trusted_ca: is not supported (gRFC A29)");
        yield return Case("AcceptUntrusted", c => c.CommonTlsContext.ValidationContext.TrustChainVerification = CertificateValidationContext.Types.TrustChainVerification.AcceptUntrusted,
            $"{Validation}.trust_chain_verification = AcceptUntrusted: is not supported");
        yield return Case("EmptySan", c => c.CommonTlsContext.ValidationContext.MatchSubjectAltNames.Add(new StringMatcher { Exact = string.Empty }),
            $"{Validation}.match_subject_alt_names[0]: is empty");
        yield return Case("BadSanRegex", c => c.CommonTlsContext.ValidationContext.MatchSubjectAltNames.Add(new StringMatcher { SafeRegex = new RegexMatcher { Regex = "(a" } }),
            $"{Validation}.match_subject_alt_names[0].safe_regex.regex = '(a': not a regular expression");
        yield return Case("EmailTypedSan", c => c.CommonTlsContext.ValidationContext.MatchTypedSubjectAltNames.Add(new SubjectAltNameMatcher { SanType = SubjectAltNameMatcher.Types.SanType.Email, Matcher = new StringMatcher { Exact = "a@b" } }),
            $"{Validation}.match_typed_subject_alt_names[0].san_type = Email: is not supported; use DNS, URI or IP_ADDRESS");
        yield return Case("BadSni", c => c.Sni = "not a host",
            "transport_socket.typed_config.sni = 'not a host': must be a host name");
        yield return Case("AutoSniSanValidation", c => c.AutoSniSanValidation = true,
            "transport_socket.typed_config.auto_sni_san_validation: is not supported");

        static TestCaseData Case(string name, Action<UpstreamTlsContext> change, string expected)
        {
            var context = Context();
            change(context);
            return new TestCaseData(context, expected).SetArgDisplayNames(name);
        }
    }

    [TestCaseSource(nameof(Rejected))]
    public void Decode_UnsupportedTlsSetting_IsNackedNamingClusterAndField(UpstreamTlsContext context, string expected)
    {
        // Act
        var error = Invalid(Checked, TlsCluster(context));

        // Assert
        Assert.That(error, Does.StartWith($"Cluster '{V1}': ").And.Contain(expected));
    }

    [Test]
    public void Decode_OtherTransportSocket_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.alts", TypedConfig = Any.Pack(new Empty()) };

        // Act
        var error = Invalid(Checked, cluster);

        // Assert
        Assert.That(error, Is.EqualTo($"Cluster '{V1}': transport_socket 'envoy.transport_sockets.alts': typed_config 'google.protobuf.Empty' is not supported; use envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext for TLS (gRFC A29) or envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer for plaintext"));
    }

    [Test]
    public void Translate_TlsCluster_SetsClusterTlsOptions()
    {
        // Arrange
        var context = Context("default", "default", new StringMatcher { Exact = SpiffeId }, new StringMatcher { Contains = "shop" });
        context.Sni = "backend.shop";
        var cluster = Valid<XdsCluster>(Checked, TlsCluster(context));
        var listener = Valid<XdsListener>(XdsResourceTypes.Listener, NewListener());
        var routes = Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, NewRouteConfig());
        var endpoints = Valid<XdsEndpoints>(XdsResourceTypes.Endpoints, Assignment(V1, "10.0.0.1:8080"));

        // Act
        var translation = XdsMeshTranslator.Translate(
            [new XdsTargetConfig(new XdsTarget(Target, Host), listener, routes, null)],
            new Dictionary<string, XdsClusterConfig> { [V1] = new(cluster, endpoints, null) });

        // Assert
        var tls = translation.Options.Clusters[V1].Tls!;
        Assert.Multiple(() =>
        {
            Assert.That(tls.Mode, Is.EqualTo(TlsMode.Mutual));
            Assert.That(tls.Sni, Is.EqualTo("backend.shop"));
            Assert.That(tls.SubjectAltNames.Select(m => m.Exact), Is.EqualTo(new[] { SpiffeId, null }));
            Assert.That(tls.SubjectAltNames[1].Regex, Is.EqualTo("(?s:.*)shop(?s:.*)"));
        });
    }

    [Test]
    public void Translate_PlaintextCluster_HasNoTls()
    {
        // Arrange
        var cluster = Valid<XdsCluster>(Checked, EdsCluster(V1));
        var listener = Valid<XdsListener>(XdsResourceTypes.Listener, NewListener());
        var routes = Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, NewRouteConfig());

        // Act
        var translation = XdsMeshTranslator.Translate(
            [new XdsTargetConfig(new XdsTarget(Target, Host), listener, routes, null)],
            new Dictionary<string, XdsClusterConfig> { [V1] = new(cluster, null, null) });

        // Assert
        Assert.That(translation.Options.Clusters[V1].Tls, Is.Null);
    }
}
