using System.Net;
using System.Net.Sockets;
using Mesh.Identity;
using Mesh.Model;
using Microsoft.Extensions.Logging;

namespace Mesh.Http.Security;

/// <summary>
/// Configures the primary <see cref="SocketsHttpHandler"/> of a mesh client once, so that connections to clusters with
/// TLS are authenticated by the cluster's policy and present the workload's current certificate.
/// </summary>
/// <remarks>
/// The connect callback, which sees the connection's first request, registers the request's cluster against the
/// connection's stream for <see cref="ClientTlsCallbacks"/> (the TLS callbacks get the SslStream, not the request).
/// </remarks>
internal static partial class ClientTlsHandlerSetup
{
    /// <summary>The request's cluster, set on attempts to clusters with TLS only.</summary>
    internal static readonly HttpRequestOptionsKey<ClusterModel> TlsCluster = new("Mesh.TlsCluster");

    /// <summary>The connection the request opened, when it opened one.</summary>
    internal static readonly HttpRequestOptionsKey<ClientTlsConnection> OpenedConnection = new("Mesh.TlsConnection");

    /// <summary>Marks a handler this class configured.</summary>
    internal const string ConfiguredProperty = "Mesh.ClientTls";

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
                var endpoint = cluster.FindEndpoint(context.DnsEndPoint.Host, context.DnsEndPoint.Port);
                var connection = new ClientTlsConnection(cluster.Name, policy, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}", identity?.Current, time, endpoint?.State);
                ClientTlsCallbacks.Register(stream, connection);
                tracker.Add(stream, connection);
                request.Options.Set(OpenedConnection, connection);
            }

            return stream;
        };

        ClientTlsCallbacks.Install(handler.SslOptions, connection => Log.ServerRejected(logger, connection.Cluster, connection.Endpoint, connection.Failure!));
        handler.Properties[ConfiguredProperty] = true;
    }

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
