using Envoy.Config.Core.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Type.Matcher.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.ControlPlane.Model;

namespace Mesh.ControlPlane.Translation;

/// <summary>
/// Client TLS of clusters (gRFC A29): a DestinationRule's <c>tls</c>, else auto mTLS as in Istio: mutual TLS when every
/// endpoint's workload is covered by a STRICT or PERMISSIVE PeerAuthentication, with the endpoints' SPIFFE IDs as the
/// expected server names.
/// </summary>
internal static partial class XdsTranslator
{
    /// <summary>Istio's default cluster ID, named in the endpoints' telemetry metadata.</summary>
    public const string DefaultClusterId = "Kubernetes";

    /// <summary>The trust domain of the workload identities when none is configured (Istio's default).</summary>
    public const string DefaultTrustDomain = Security.CertificateAuthorityOptions.DefaultTrustDomain;

    /// <summary>The root namespace when none is configured (Istio's): its selector-less PeerAuthentication is mesh-wide.</summary>
    public const string DefaultRootNamespace = "istio-system";

    /// <summary>
    /// The certificate provider instance every cluster names for both its certificate and its CA: the name Istio's
    /// proxyless bootstraps declare, and the one a Mesh client maps to its workload identity.
    /// </summary>
    public const string CertificateProviderInstance = "default";

    /// <summary>The transport socket of TLS clusters.</summary>
    public const string TlsTransportSocketName = "envoy.transport_sockets.tls";

    private static readonly IReadOnlyDictionary<string, string> EmptyLabels = new Dictionary<string, string>();

    /// <summary>The transport socket of a cluster, or <see langword="null"/> for plaintext.</summary>
    private static TransportSocket? BuildTransportSocket(XdsTranslationContext context, string clusterName, string serviceNamespace, ClientTlsModel? tls, IReadOnlyList<EndpointInfo> endpoints)
    {
        bool mutual;
        IEnumerable<string> names;
        string? sni = null;
        if (tls is not null)
        {
            switch (tls.Mode)
            {
                case ClientTlsModelMode.Disable:
                    return null;
                case ClientTlsModelMode.Simple:
                    mutual = false;
                    names = tls.SubjectAltNames;
                    break;
                default:
                    mutual = true;

                    // As Istio: without subjectAltNames, the server must be one of the destination's service accounts.
                    names = tls.SubjectAltNames.IsDefaultOrEmpty ? ServiceAccountIds(context, serviceNamespace, endpoints) : tls.SubjectAltNames;
                    break;
            }

            sni = tls.Sni;
        }
        else
        {
            if (!AcceptsMutualTls(context, clusterName, serviceNamespace, endpoints))
            {
                return null;
            }

            mutual = true;
            names = ServiceAccountIds(context, serviceNamespace, endpoints);
        }

        var validation = new CertificateValidationContext
        {
            CaCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = CertificateProviderInstance, CertificateName = "ROOTCA" },
        };
        foreach (var name in names)
        {
            validation.MatchSubjectAltNames.Add(new StringMatcher { Exact = name });
        }

        var common = new CommonTlsContext { ValidationContext = validation };
        if (mutual)
        {
            common.TlsCertificateProviderInstance = new CertificateProviderPluginInstance { InstanceName = CertificateProviderInstance, CertificateName = "default" };
        }

        var upstream = new UpstreamTlsContext { CommonTlsContext = common };
        if (sni is not null)
        {
            upstream.Sni = sni;
        }

        return new TransportSocket { Name = TlsTransportSocketName, TypedConfig = Any.Pack(upstream) };
    }

    /// <summary>
    /// Auto mTLS: whether every endpoint accepts mutual TLS (STRICT or PERMISSIVE). A cluster has one transport socket
    /// (gRFC A29 rejects transport_socket_matches), so a cluster whose endpoints disagree stays plaintext, with a warning
    /// when some of them accept mutual TLS only. Without endpoints, the policy of the Service's namespace decides.
    /// </summary>
    private static bool AcceptsMutualTls(XdsTranslationContext context, string clusterName, string serviceNamespace, IReadOnlyList<EndpointInfo> endpoints)
    {
        if (context.PeerAuthentications.Count == 0)
        {
            return false;
        }

        if (endpoints.Count == 0)
        {
            return context.PeerAuthenticationModeFor(serviceNamespace, EmptyLabels) is PeerAuthenticationMode.Strict or PeerAuthenticationMode.Permissive;
        }

        var mutual = 0;
        var strict = 0;
        foreach (var endpoint in endpoints)
        {
            var mode = context.PeerAuthenticationModeFor(endpoint.Namespace ?? serviceNamespace, endpoint.Labels);
            mutual += mode is PeerAuthenticationMode.Strict or PeerAuthenticationMode.Permissive ? 1 : 0;
            strict += mode is PeerAuthenticationMode.Strict ? 1 : 0;
        }

        if (mutual == endpoints.Count)
        {
            return true;
        }

        if (strict > 0)
        {
            context.Warnings.Add($"Cluster {clusterName}: {strict} of its {endpoints.Count} endpoints accept mutual TLS only (PeerAuthentication STRICT) and others do not accept it; the cluster stays plaintext and requests to the STRICT endpoints fail: make the PeerAuthentications of the Service's workloads agree, or set the DestinationRule's trafficPolicy.tls.mode");
        }

        return false;
    }

    /// <summary>The SPIFFE IDs of the endpoints' service accounts, distinct and sorted.</summary>
    private static SortedSet<string> ServiceAccountIds(XdsTranslationContext context, string serviceNamespace, IReadOnlyList<EndpointInfo> endpoints)
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints)
        {
            if (endpoint.ServiceAccount is { } account)
            {
                ids.Add(context.SpiffeId(endpoint.Namespace ?? serviceNamespace, account));
            }
        }

        return ids;
    }
}
