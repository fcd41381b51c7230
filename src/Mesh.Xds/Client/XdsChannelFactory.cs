using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Client;

/// <summary>The default channel to an xDS server: one long-lived HTTP/2 connection kept alive with pings.</summary>
internal static class XdsChannelFactory
{
    /// <summary>Interval of HTTP/2 keepalive pings on the xDS connection, so a dead peer is noticed without traffic.</summary>
    public static readonly TimeSpan KeepAlivePingDelay = TimeSpan.FromSeconds(30);

    /// <summary>How long a keepalive ping may stay unanswered before the connection is closed.</summary>
    public static readonly TimeSpan KeepAlivePingTimeout = TimeSpan.FromSeconds(20);

    /// <summary>gRPC's minimum connection attempt timeout.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);

    public static GrpcChannel Create(XdsServerConfig server, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(server);
        // The ADS stream is one long call: a single connection, never idled out; TLS (https) validates the
        // server against the bootstrap's ca_certificate_file, else the system trust store.
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            KeepAlivePingDelay = KeepAlivePingDelay,
            KeepAlivePingTimeout = KeepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            ConnectTimeout = ConnectTimeout,
        };
        if (server.Credentials == XdsChannelCredentials.Tls && server.RootCertificatesPem is { } roots)
        {
            Identity.PrivateRootTrust.Apply(handler, roots);
        }

        return GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            LoggerFactory = loggerFactory,
            // Discovery responses carry every listener or cluster of the mesh; gRPC does not cap them either.
            MaxReceiveMessageSize = null,
        });
    }
}
