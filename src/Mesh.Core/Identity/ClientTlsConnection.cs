using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Mesh.Model;

namespace Mesh.Identity;

/// <summary>
/// One TLS connection a mesh client opens to an endpoint of a cluster with a <see cref="ClientTlsPolicy"/>: the policy,
/// the workload identity read when the connection was opened (so a rotation applies to the next connection), and, after
/// a rejected handshake, why it was rejected. Shared by the HTTP and gRPC clients. An accepted server's SPIFFE ID is
/// noted on the endpoint's <see cref="EndpointState"/> (Istio's <c>destination_principal</c>).
/// </summary>
internal sealed class ClientTlsConnection(string cluster, ClientTlsPolicy policy, string endpoint, WorkloadIdentity? identity, TimeProvider time, EndpointState? endpointState = null)
{
    /// <summary>The cluster's name.</summary>
    public string Cluster { get; } = cluster;

    public ClientTlsPolicy Policy { get; } = policy;

    /// <summary>The endpoint's host and port.</summary>
    public string Endpoint { get; } = endpoint;

    /// <summary>Why the handshake was rejected, or <see langword="null"/>.</summary>
    public string? Failure { get; private set; }

    /// <summary>The certificate to present: the workload's, only to clusters with mutual TLS.</summary>
    public X509Certificate2? SelectClientCertificate() => Policy.IsMutual ? identity?.Certificate : null;

    /// <summary>Checks the server with the cluster's policy against the identity's trust bundle; records the reason when it is rejected.</summary>
    public bool ValidateServer(X509Certificate? certificate, X509Chain? chain)
    {
        string? failure;
        if (identity is null)
        {
            failure = "no workload identity to check the server against";
        }
        else if (certificate is null)
        {
            failure = "the server presented no certificate";
        }
        else
        {
            var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());

            // SslStream puts the certificates the server sent besides its leaf in the chain's extra store.
            failure = Policy.CheckServer(leaf, chain?.ChainPolicy.ExtraStore, identity.TrustBundle, time.GetUtcNow(), out var server);
            if (server is not null)
            {
                endpointState?.OnPeerVerified(server.Value);
            }
        }

        Failure = failure;
        return failure is null;
    }

    /// <summary>The message of a failed handshake: the cluster, the endpoint and the reason.</summary>
    public string Describe(string? fallback) =>
        $"TLS to endpoint {Endpoint} of cluster '{Cluster}' ({Policy}) failed: {Failure ?? fallback ?? "the handshake failed"}";
}

/// <summary>
/// The TLS callbacks of a client's <c>SocketsHttpHandler</c>. Its <see cref="SslClientAuthenticationOptions"/> are shared by
/// all its connections and the callbacks get the <see cref="SslStream"/> as sender (not the request), so the connect
/// callback, which sees the connection's first request, registers the connection against the stream it returns, and the
/// callbacks find it through the stream the <see cref="SslStream"/> wraps. A connection the mesh did not register keeps
/// the handler's previous callbacks, or the platform's validation.
/// </summary>
internal static class ClientTlsCallbacks
{
    private static readonly ConditionalWeakTable<Stream, ClientTlsConnection> Connections = [];

    /// <summary>Notes the mesh connection that <paramref name="stream"/> (returned by a connect callback) carries.</summary>
    public static void Register(Stream stream, ClientTlsConnection connection) => Connections.AddOrUpdate(stream, connection);

    /// <summary>Installs the certificate selection and validation callbacks, keeping the previous ones for other connections.</summary>
    public static void Install(SslClientAuthenticationOptions options, Action<ClientTlsConnection> rejected)
    {
        var validate = options.RemoteCertificateValidationCallback;
        var select = options.LocalCertificateSelectionCallback;
        options.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            if (Find(sender) is not { } connection)
            {
                return validate is null ? errors == SslPolicyErrors.None : validate(sender, certificate, chain, errors);
            }

            if (connection.ValidateServer(certificate, chain))
            {
                return true;
            }

            rejected(connection);
            return false;
        };
        options.LocalCertificateSelectionCallback = (sender, targetHost, localCertificates, remoteCertificate, acceptableIssuers) =>
        {
            if (Find(sender) is { } connection)
            {
                return connection.SelectClientCertificate()!;
            }

            return select is not null
                ? select(sender, targetHost, localCertificates, remoteCertificate, acceptableIssuers)
                : localCertificates.Count > 0 ? localCertificates[0] : null!;
        };
    }

    /// <summary>The mesh connection an <see cref="SslStream"/> authenticates, or <see langword="null"/>.</summary>
    private static ClientTlsConnection? Find(object sender) =>
        sender is AuthenticatedStream ssl && Connections.TryGetValue(GetInnerStream(ssl), out var connection) ? connection : null;

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_InnerStream")]
    private static extern Stream GetInnerStream(AuthenticatedStream stream);
}
