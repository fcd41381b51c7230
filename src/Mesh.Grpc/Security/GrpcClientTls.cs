using System.Net.Security;
using Grpc.Net.Client.Balancer;
using Mesh.Grpc.Balancer.Internal;
using Mesh.Identity;
using Mesh.Model;
using Microsoft.Extensions.Logging;

namespace Mesh.Grpc.Security;

/// <summary>
/// Secures a mesh channel's connections per endpoint. A <c>GrpcChannel</c> picks http or https once, from its credentials,
/// while the mesh's clusters decide per endpoint and may change with every snapshot; so mesh channels are insecure at the
/// gRPC level, and <see cref="MeshGrpcTlsHandler"/> (between grpc-dotnet's balancer and the SocketsHttpHandler) sends each
/// call to an endpoint with <see cref="EndpointTls"/> to <c>https://</c>, where the SocketsHttpHandler's TLS, configured
/// here once, authenticates the server with the endpoint's policy and presents the workload's current certificate.
/// </summary>
/// <remarks>
/// The handler's <see cref="SslClientAuthenticationOptions"/> are shared by its connections and their callbacks get the
/// <see cref="SslStream"/> as sender, so the connect callback grpc-dotnet installs is wrapped: it sees the connection's first
/// request, and notes that request's endpoint TLS against the stream the <see cref="SslStream"/> then wraps.
/// </remarks>
internal static partial class GrpcClientTls
{
    /// <summary>The option grpc-dotnet sets on every request: the address it picked.</summary>
    internal static readonly HttpRequestOptionsKey<BalancerAddress> CurrentAddress = new("CurrentAddress");

    /// <summary>The connection a request opened, when it opened one.</summary>
    internal static readonly HttpRequestOptionsKey<ClientTlsConnection> OpenedConnection = new("Mesh.GrpcTlsConnection");

    /// <summary>What the connect callback needs of a request to a TLS endpoint.</summary>
    internal static readonly HttpRequestOptionsKey<PendingTls> Pending = new("Mesh.GrpcTlsPending");

    internal const string InstalledProperty = "Mesh.GrpcClientTls";

    /// <summary>The handler's <see cref="GrpcConnectionTracker"/>, in its properties.</summary>
    internal const string TrackerProperty = "Mesh.GrpcConnections";

    /// <summary>A request's endpoint TLS and the identity it will present, checked before the request is sent.</summary>
    internal sealed record PendingTls(EndpointTls Tls, ClientTlsPolicy Policy, WorkloadIdentity Identity, EndpointState? State);

    /// <summary>
    /// Configures the SocketsHttpHandler a channel sends through, once; returns why it cannot (the channel's TLS endpoints
    /// then fail their picks), or <see langword="null"/>.
    /// </summary>
    public static string? TryInstall(HttpMessageHandler? handler, TimeProvider time, ILogger logger, out GrpcConnectionTracker? tracker)
    {
        tracker = null;
        while (handler is DelegatingHandler delegating)
        {
            handler = delegating.InnerHandler;
        }

        if (handler is not SocketsHttpHandler sockets)
        {
            return "the channel does not send through a SocketsHttpHandler (GrpcChannelOptions.HttpClient, or an HttpHandler of another kind), so the mesh cannot secure its connections";
        }

        lock (sockets)
        {
            if (sockets.Properties.ContainsKey(InstalledProperty))
            {
                tracker = sockets.Properties.TryGetValue(TrackerProperty, out var existing) ? existing as GrpcConnectionTracker : null;
                return null;
            }

            if (sockets.ConnectCallback is not { } connect)
            {
                return "the channel's SocketsHttpHandler has no connect callback from grpc-dotnet's load balancing, so the mesh cannot secure its connections";
            }

            var connections = new GrpcConnectionTracker();
            try
            {
                sockets.ConnectCallback = async (context, cancellationToken) =>
                {
                    var stream = await connect(context, cancellationToken).ConfigureAwait(false);
                    var request = context.InitialRequestMessage;
                    var endpointTls = request.Options.TryGetValue(CurrentAddress, out var address) && address.Attributes.TryGetValue(MeshResolution.TlsKey, out var tls) ? tls : null;
                    connections.Add($"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}", stream, endpointTls);
                    if (request.RequestUri is { Scheme: "https" } && request.Options.TryGetValue(Pending, out var pending))
                    {
                        var connection = new ClientTlsConnection(pending.Tls.Cluster, pending.Policy, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}", pending.Identity, time, pending.State);
                        ClientTlsCallbacks.Register(stream, connection);
                        request.Options.Set(OpenedConnection, connection);
                    }

                    return stream;
                };

                ClientTlsCallbacks.Install(sockets.SslOptions, connection => Log.ServerRejected(logger, connection.Cluster, connection.Endpoint, connection.Failure!));
                sockets.Properties[InstalledProperty] = true;
                sockets.Properties[TrackerProperty] = connections;
                tracker = connections;
                return null;
            }
            catch (InvalidOperationException ex)
            {
                return $"the channel's SocketsHttpHandler already sent requests before the mesh could secure it ({ex.Message})";
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "TLS to endpoint {Endpoint} of cluster '{Cluster}' rejected: {Reason}")]
        public static partial void ServerRejected(ILogger logger, string cluster, string endpoint, string reason);
    }
}
