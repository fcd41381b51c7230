using System.Collections.Immutable;
using Mesh.Authorization;

namespace Mesh.Xds.Resources;

/// <summary>
/// A validated server-side <c>Listener</c> (gRFC A36), reduced to what an xDS-enabled server enforces: per filter
/// chain, the transport (plaintext or TLS, client certificate required or not) and the RBAC filters of its
/// <c>HttpConnectionManager</c>.
/// </summary>
/// <param name="Name">The listener name, e.g. <c>grpc/server?xds.resource.listening_address=10.0.0.5:8080</c>.</param>
/// <param name="Address">The <c>address.socket_address</c> as <c>IP:PORT</c>, or <see langword="null"/> when not set.</param>
/// <param name="FilterChains">The <c>filter_chains</c>, in order.</param>
/// <param name="DefaultFilterChain">The <c>default_filter_chain</c>, or <see langword="null"/>.</param>
internal sealed record XdsServerListener(
    string Name,
    string? Address,
    ImmutableArray<XdsServerFilterChain> FilterChains,
    XdsServerFilterChain? DefaultFilterChain)
{
    /// <summary>The filter chains and the default one, if any.</summary>
    public IEnumerable<XdsServerFilterChain> AllChains => DefaultFilterChain is { } chain ? FilterChains.Append(chain) : FilterChains;
}

/// <summary>One filter chain of a server listener.</summary>
/// <param name="Name">The chain name (for messages), or its path in the listener when unnamed.</param>
/// <param name="TransportProtocol"><c>filter_chain_match.transport_protocol</c>: <c>tls</c>, <c>raw_buffer</c>, or empty for any.</param>
/// <param name="Tls">The <c>DownstreamTlsContext</c>, or <see langword="null"/> for plaintext.</param>
/// <param name="Rbac">The RBAC filters in chain order (filters without <c>rules</c>, which enforce nothing, left out).</param>
/// <param name="RbacKey">The RBAC filters' configuration bytes, so chains can be compared for equal policies.</param>
internal sealed record XdsServerFilterChain(
    string Name,
    string TransportProtocol,
    XdsDownstreamTls? Tls,
    ImmutableArray<RbacEngine> Rbac,
    string RbacKey);

/// <summary>A chain's TLS settings (gRFC A29's server side).</summary>
/// <param name="RequireClientCertificate">Whether the peer must present a certificate (mutual TLS).</param>
/// <param name="CertificateProviderInstance">The provider instance of the server's certificate.</param>
/// <param name="CaCertificateProviderInstance">The provider instance of the trust bundle client certificates are checked against, if any.</param>
internal sealed record XdsDownstreamTls(bool RequireClientCertificate, string CertificateProviderInstance, string? CaCertificateProviderInstance);
