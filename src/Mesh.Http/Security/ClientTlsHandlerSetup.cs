using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Mesh.Model;
using Microsoft.Extensions.Logging;

namespace Mesh.Http.Security;

/// <summary>
/// Configures the primary <see cref="SocketsHttpHandler"/> of a mesh client once, so that connections to clusters with
/// TLS are authenticated by the cluster's policy and present the workload's current certificate.
/// </summary>
/// <remarks>
/// The handler's <see cref="SslClientAuthenticationOptions"/> are shared by all its connections, and their callbacks get
/// the <see cref="SslStream"/> as sender (not the request: only HttpClientHandler's own callback gets that). So the
/// connect callback, which does see the connection's first request, notes the request's cluster against the connection's
/// stream, and the TLS callbacks find it through the stream the <see cref="SslStream"/> wraps. A connection that is not a
/// mesh TLS connection keeps the handler's previous callbacks, or the platform's validation.
/// </remarks>
internal static partial class ClientTlsHandlerSetup
{
    /// <summary>The request's cluster, set on attempts to clusters with TLS only.</summary>
    internal static readonly HttpRequestOptionsKey<ClusterModel> TlsCluster = new("Mesh.TlsCluster");

    /// <summary>The connection the request opened, when it opened one.</summary>
    internal static readonly HttpRequestOptionsKey<ClientTlsConnection> OpenedConnection = new("Mesh.TlsConnection");

    /// <summary>Marks a handler this class configured.</summary>
    internal const string ConfiguredProperty = "Mesh.ClientTls";

    private static readonly ConditionalWeakTable<Stream, ClientTlsConnection> Connections = [];

    /// <summary>Whether <paramref name="handler"/>, or the handler it ends in, was configured here.</summary>
    public static bool IsConfigured(HttpMessageHandler? handler)
    {
        while (handler is DelegatingHandler delegating)
        {
            handler = delegating.InnerHandler;
        }

        return handler is SocketsHttpHandler sockets && sockets.Properties.ContainsKey(ConfiguredProperty);
    }

    public static void Configure(SocketsHttpHandler handler, MeshState? state, IWorkloadIdentityProvider? identity, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (handler.Properties.ContainsKey(ConfiguredProperty))
        {
            return;
        }

        var tracker = new ClientTlsConnectionTracker();
        if (state is not null)
        {
            ClientTlsConnectionTracker.Follow(state, tracker, logger);
        }

        var connect = handler.ConnectCallback;
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            var stream = connect is null
                ? await ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false)
                : await connect(context, cancellationToken).ConfigureAwait(false);
            var request = context.InitialRequestMessage;
            if (request.RequestUri is { Scheme: "https" } && request.Options.TryGetValue(TlsCluster, out var cluster) && cluster.Tls is { } policy)
            {
                var connection = new ClientTlsConnection(cluster, policy, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}", identity?.Current, time);
                Connections.AddOrUpdate(stream, connection);
                tracker.Add(stream, connection);
                request.Options.Set(OpenedConnection, connection);
            }

            return stream;
        };

        var options = handler.SslOptions;
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

            Log.ServerRejected(logger, connection.Cluster.Name, connection.Endpoint, connection.Failure!);
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
        handler.Properties[ConfiguredProperty] = true;
    }

    /// <summary>The mesh connection an <see cref="SslStream"/> authenticates, or <see langword="null"/>.</summary>
    private static ClientTlsConnection? Find(object sender) =>
        sender is AuthenticatedStream ssl && Connections.TryGetValue(GetInnerStream(ssl), out var connection) ? connection : null;

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_InnerStream")]
    private static extern Stream GetInnerStream(AuthenticatedStream stream);

    /// <summary>What SocketsHttpHandler does without a connect callback.</summary>
    private static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "TLS to endpoint {Endpoint} of cluster '{Cluster}' rejected: {Reason}")]
        public static partial void ServerRejected(ILogger logger, string cluster, string endpoint, string reason);

        [LoggerMessage(2, LogLevel.Information, "The TLS settings of cluster '{Cluster}' changed in snapshot v{Version}; its connection to {Endpoint} made for the old settings is closed")]
        public static partial void ConnectionClosed(ILogger logger, string cluster, long version, string endpoint);
    }
}
