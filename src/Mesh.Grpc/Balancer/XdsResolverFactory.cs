using Grpc.Net.Client.Balancer;
using Mesh.Grpc.Balancer.Internal;
using Mesh.Grpc.Security;
using Mesh.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Grpc.Balancer;

/// <summary>
/// Resolves <c>xds:///host:port</c> channel targets from the mesh, whatever feeds it (an xDS server through
/// <c>AddXds()</c>, or the static <c>Mesh</c> configuration): the addresses are the endpoints of every cluster
/// the service's routes can send to, and the channel's load-balancing policy is the mesh's
/// (<see cref="MeshLoadBalancerFactory"/>), which routes each call. Updates follow every new mesh snapshot.
/// </summary>
/// <remarks>Registered by <c>AddMeshGrpc()</c>; a <c>GrpcChannel</c> finds it through <c>GrpcChannelOptions.ServiceProvider</c>.</remarks>
public sealed class XdsResolverFactory : ResolverFactory
{
    /// <summary>The URI scheme, <c>xds</c>, as gRPC's own xDS clients use it.</summary>
    public const string Scheme = "xds";

    private readonly MeshState _state;
    private readonly IServiceProvider? _services;

    /// <summary>Creates the factory over the application's mesh.</summary>
    public XdsResolverFactory(MeshState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _state = state;
    }

    /// <summary>Creates the factory over the application's mesh, with its workload identity (if registered) for clusters with TLS.</summary>
    public XdsResolverFactory(MeshState state, IServiceProvider services)
        : this(state)
    {
        ArgumentNullException.ThrowIfNull(services);
        _services = services;
    }

    /// <inheritdoc />
    public override string Name => Scheme;

    /// <inheritdoc />
    public override Resolver Create(ResolverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        // The mesh secures each endpoint's calls in a handler between grpc-dotnet's balancer and the SocketsHttpHandler.
        // grpc-dotnet reads the options' handler only after it made the resolver, so the one set here is the channel's.
        var channelOptions = options.ChannelOptions;
        MeshGrpcTlsHandler? tlsHandler = null;
        if (channelOptions.HttpClient is null)
        {
            tlsHandler = channelOptions.HttpHandler as MeshGrpcTlsHandler;
            if (tlsHandler is null)
            {
                tlsHandler = channelOptions.HttpHandler is { } given
                    ? new MeshGrpcTlsHandler(given, ownsInner: channelOptions.DisposeHttpClient)
                    : new MeshGrpcTlsHandler(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }, ownsInner: true);
                channelOptions.HttpHandler = tlsHandler;
            }
        }

        return new MeshResolver(
            _state,
            ParseTarget(options.Address),
            options.LoggerFactory.CreateLogger<MeshResolver>(),
            tlsHandler,
            _services?.GetService<IWorkloadIdentityProvider>(),
            _services?.GetService<TimeProvider>());
    }

    /// <summary>The <c>host:port</c> of <c>xds:///host:port</c> (or <c>xds://authority/host:port</c>).</summary>
    internal static string ParseTarget(Uri address)
    {
        var target = Uri.UnescapeDataString(address.AbsolutePath.TrimStart('/'));
        if (target.Length == 0)
        {
            throw new InvalidOperationException($"The channel address '{address}' names no service; use xds:///<host>:<port>, e.g. xds:///greeter.shop.svc.cluster.local:50051.");
        }

        return target;
    }
}
