using System.Collections.Immutable;
using Envoy.Config.Core.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Type.Matcher.V3;

namespace Mesh.Xds.Resources;

/// <summary>gRFC A29: the client side of xDS security, a cluster's <c>UpstreamTlsContext</c>.</summary>
internal sealed partial class XdsClusterResourceType
{
    /// <summary>The transport socket name of TLS; the type of its <c>typed_config</c> is what decides.</summary>
    public const string TlsTransportSocketName = "envoy.transport_sockets.tls";

    /// <summary>The transport socket name of plaintext.</summary>
    public const string RawBufferTransportSocketName = "envoy.transport_sockets.raw_buffer";

    /// <summary>The message of a TLS transport socket's <c>typed_config</c>.</summary>
    public const string UpstreamTlsContextType = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

    /// <summary>
    /// Reads <c>transport_socket</c>: <see langword="null"/> for plaintext (none, or raw_buffer), the TLS settings for
    /// an <c>UpstreamTlsContext</c>; anything else is an error, so that traffic meant to be encrypted never goes out in
    /// plaintext.
    /// </summary>
    private XdsClusterTls? ParseTransportSocket(TransportSocket? socket, List<string> errors)
    {
        if (socket is null)
        {
            return null;
        }

        var type = socket.TypedConfig is null ? null : XdsTypeUrls.MessageType(socket.TypedConfig.TypeUrl);
        if (type == XdsTypeUrls.RawBuffer || (type is null && socket.Name == RawBufferTransportSocketName))
        {
            return null;
        }

        const string Path = "transport_socket.typed_config";
        if (type != UpstreamTlsContextType)
        {
            errors.Add(type is null
                ? $"transport_socket {XdsFields.Quote(socket.Name)}: has no typed_config; set an {UpstreamTlsContextType} for TLS (gRFC A29), or remove transport_socket only if plaintext is intended"
                : $"transport_socket {XdsFields.Quote(socket.Name)}: typed_config '{type}' is not supported; use {UpstreamTlsContextType} for TLS (gRFC A29) or {XdsTypeUrls.RawBuffer} for plaintext");
            return null;
        }

        if (!XdsFields.TryParse(UpstreamTlsContext.Parser, socket.TypedConfig!.Value, Path, errors, out var context))
        {
            return null;
        }

        return ParseUpstreamTlsContext(context, Path, errors);
    }

    private XdsClusterTls? ParseUpstreamTlsContext(UpstreamTlsContext context, string path, List<string> errors)
    {
        var before = errors.Count;
        if (context.CommonTlsContext is not { } common)
        {
            errors.Add($"{path}.common_tls_context: is not set; gRFC A29 needs at least validation_context.ca_certificate_provider_instance naming the CA certificates to trust");
            return null;
        }

        if (context.AutoSniSanValidation)
        {
            errors.Add($"{path}.auto_sni_san_validation: is not supported; list the expected names in match_subject_alt_names instead");
        }

        string? sni = null;
        if (context.Sni.Length > 0)
        {
            if (Uri.CheckHostName(context.Sni) is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6)
            {
                sni = context.Sni;
            }
            else
            {
                errors.Add($"{path}.sni = {XdsFields.Quote(context.Sni)}: must be a host name, e.g. backend.shop.svc.cluster.local");
            }
        }

        var commonPath = $"{path}.common_tls_context";
        if (common.TlsParams is not null)
        {
            errors.Add($"{commonPath}.tls_params: is not supported (gRFC A29); remove it, the TLS versions and ciphers are the platform's");
        }

        if (common.TlsCertificates.Count > 0)
        {
            errors.Add($"{commonPath}.tls_certificates: is not supported (gRFC A29); name a bootstrap certificate provider in tls_certificate_provider_instance instead");
        }

        if (common.TlsCertificateSdsSecretConfigs.Count > 0)
        {
            errors.Add($"{commonPath}.tls_certificate_sds_secret_configs: SDS is not supported (gRFC A29); name a bootstrap certificate provider in tls_certificate_provider_instance instead");
        }

        string? certificateInstance = null;
        if (common.TlsCertificateProviderInstance is { } identity)
        {
            certificateInstance = CheckInstance(identity.InstanceName, $"{commonPath}.tls_certificate_provider_instance.instance_name", identity: true, errors);
        }
        else if (common.TlsCertificateCertificateProviderInstance is { } legacyIdentity)
        {
            certificateInstance = CheckInstance(legacyIdentity.InstanceName, $"{commonPath}.tls_certificate_certificate_provider_instance.instance_name", identity: true, errors);
        }

        var (caInstance, subjectAltNames) = ParseValidationContext(common, commonPath, errors);
        if (errors.Count > before || caInstance is null)
        {
            return null;
        }

        return new XdsClusterTls(certificateInstance is not null, certificateInstance, caInstance, subjectAltNames, sni);
    }

    private (string? CaInstance, ImmutableArray<XdsStringMatch> SubjectAltNames) ParseValidationContext(CommonTlsContext common, string path, List<string> errors)
    {
        CertificateValidationContext? validation = null;
        var validationPath = $"{path}.validation_context";
        string? caInstance = null;
        switch (common.ValidationContextTypeCase)
        {
            case CommonTlsContext.ValidationContextTypeOneofCase.ValidationContext:
                validation = common.ValidationContext;
                break;
            case CommonTlsContext.ValidationContextTypeOneofCase.CombinedValidationContext:
                var combined = common.CombinedValidationContext;
                validationPath = $"{path}.combined_validation_context.default_validation_context";
                validation = combined.DefaultValidationContext;
                if (combined.ValidationContextSdsSecretConfig is not null)
                {
                    errors.Add($"{path}.combined_validation_context.validation_context_sds_secret_config: SDS is not supported (gRFC A29); name a bootstrap certificate provider in default_validation_context.ca_certificate_provider_instance instead");
                }

                if (combined.ValidationContextCertificateProviderInstance is { } legacyCombined)
                {
                    caInstance = CheckInstance(legacyCombined.InstanceName, $"{path}.combined_validation_context.validation_context_certificate_provider_instance.instance_name", identity: false, errors);
                }

                break;
            case CommonTlsContext.ValidationContextTypeOneofCase.ValidationContextSdsSecretConfig:
                errors.Add($"{path}.validation_context_sds_secret_config: SDS is not supported (gRFC A29); name a bootstrap certificate provider in validation_context.ca_certificate_provider_instance instead");
                return (null, []);
            case CommonTlsContext.ValidationContextTypeOneofCase.ValidationContextCertificateProviderInstance:
                caInstance = CheckInstance(common.ValidationContextCertificateProviderInstance.InstanceName, $"{path}.validation_context_certificate_provider_instance.instance_name", identity: false, errors);
                break;
        }

        var subjectAltNames = ImmutableArray<XdsStringMatch>.Empty;
        if (validation is not null)
        {
            if (validation.CaCertificateProviderInstance is { } ca)
            {
                caInstance = CheckInstance(ca.InstanceName, $"{validationPath}.ca_certificate_provider_instance.instance_name", identity: false, errors);
            }

            RejectValidationFields(validation, validationPath, errors);
            subjectAltNames = ParseSubjectAltNames(validation, validationPath, errors);
        }

        if (caInstance is null && common.ValidationContextTypeCase != CommonTlsContext.ValidationContextTypeOneofCase.ValidationContextCertificateProviderInstance
            && !(common.CombinedValidationContext?.ValidationContextCertificateProviderInstance is not null))
        {
            errors.Add($"{path}.validation_context.ca_certificate_provider_instance: is not set; gRFC A29 needs the certificate provider instance whose CA certificates validate the server, e.g. {{ instance_name: \"default\" }}");
        }

        return (caInstance, subjectAltNames);
    }

    /// <summary>The validation features gRPC does not implement are rejected rather than ignored: ignoring them would accept servers they reject.</summary>
    private static void RejectValidationFields(CertificateValidationContext validation, string path, List<string> errors)
    {
        if (validation.TrustedCa is not null)
        {
            errors.Add($"{path}.trusted_ca: is not supported (gRFC A29); name a bootstrap certificate provider in ca_certificate_provider_instance instead");
        }

        if (validation.SystemRootCerts is not null)
        {
            errors.Add($"{path}.system_root_certs: is not supported; the mesh trusts its workload trust bundle, named by ca_certificate_provider_instance");
        }

        if (validation.VerifyCertificateSpki.Count > 0)
        {
            errors.Add($"{path}.verify_certificate_spki: is not supported; pin servers by identity with match_subject_alt_names instead");
        }

        if (validation.VerifyCertificateHash.Count > 0)
        {
            errors.Add($"{path}.verify_certificate_hash: is not supported; pin servers by identity with match_subject_alt_names instead");
        }

        if (validation.RequireSignedCertificateTimestamp is true)
        {
            errors.Add($"{path}.require_signed_certificate_timestamp: is not supported (gRFC A29); remove it");
        }

        if (validation.Crl is not null)
        {
            errors.Add($"{path}.crl: is not supported (gRFC A29); remove it, workload certificates are short-lived instead of revoked");
        }

        if (validation.CustomValidatorConfig is not null)
        {
            errors.Add($"{path}.custom_validator_config: is not supported (gRFC A29); remove it");
        }

        if (validation.TrustChainVerification != CertificateValidationContext.Types.TrustChainVerification.VerifyTrustChain)
        {
            errors.Add($"{path}.trust_chain_verification = {validation.TrustChainVerification}: is not supported; the server's chain is always verified");
        }
    }

    private static ImmutableArray<XdsStringMatch> ParseSubjectAltNames(CertificateValidationContext validation, string path, List<string> errors)
    {
        var names = ImmutableArray.CreateBuilder<XdsStringMatch>();
        for (var i = 0; i < validation.MatchSubjectAltNames.Count; i++)
        {
            if (ParseSanMatcher(validation.MatchSubjectAltNames[i], $"{path}.match_subject_alt_names[{XdsFields.Format(i)}]", errors) is { } match)
            {
                names.Add(match);
            }
        }

        for (var i = 0; i < validation.MatchTypedSubjectAltNames.Count; i++)
        {
            var typed = validation.MatchTypedSubjectAltNames[i];
            var itemPath = $"{path}.match_typed_subject_alt_names[{XdsFields.Format(i)}]";

            // The model matches any of the certificate's DNS, URI and IP names; those kinds have distinct shapes, so the
            // type adds little. E-mail and other names are never compared, so they are rejected rather than misread.
            if (typed.SanType is not (SubjectAltNameMatcher.Types.SanType.Dns or SubjectAltNameMatcher.Types.SanType.Uri or SubjectAltNameMatcher.Types.SanType.IpAddress))
            {
                errors.Add($"{itemPath}.san_type = {typed.SanType}: is not supported; use DNS, URI or IP_ADDRESS");
                continue;
            }

            if (typed.Matcher is null)
            {
                errors.Add($"{itemPath}.matcher: is not set; set the condition on the name, e.g. {{ exact: \"spiffe://cluster.local/ns/shop/sa/backend\" }}");
                continue;
            }

            if (ParseSanMatcher(typed.Matcher, $"{itemPath}.matcher", errors) is { } match)
            {
                names.Add(match);
            }
        }

        return names.ToImmutable();
    }

    private static XdsStringMatch? ParseSanMatcher(StringMatcher matcher, string path, List<string> errors)
    {
        // An empty exact name would match no certificate: gRPC rejects it rather than failing every handshake.
        if (matcher.MatchPatternCase is StringMatcher.MatchPatternOneofCase.Exact or StringMatcher.MatchPatternOneofCase.Prefix or StringMatcher.MatchPatternOneofCase.Suffix or StringMatcher.MatchPatternOneofCase.Contains
            && (matcher.Exact + matcher.Prefix + matcher.Suffix + matcher.Contains).Length == 0)
        {
            errors.Add($"{path}: is empty; set the expected name, e.g. exact: \"spiffe://cluster.local/ns/shop/sa/backend\"");
            return null;
        }

        return XdsRouteConfigurationResourceType.ParseStringMatcher(matcher, path, errors);
    }

    private string? CheckInstance(string name, string path, bool identity, List<string> errors)
    {
        if (string.IsNullOrEmpty(name))
        {
            errors.Add($"{path}: is empty; name a certificate provider instance, e.g. \"default\"");
            return null;
        }

        if (_providerNames?.Check(name, identity) is { } problem)
        {
            errors.Add($"{path} = '{name}': {problem}");
            return null;
        }

        return name;
    }
}
