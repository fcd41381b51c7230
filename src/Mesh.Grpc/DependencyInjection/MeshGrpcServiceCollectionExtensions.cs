using System.Diagnostics.Metrics;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.ClientFactory;
using Mesh;
using Mesh.Grpc.Balancer;
using Mesh.Grpc.Calls;
using Mesh.Grpc.Telemetry;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the mesh to gRPC clients (Grpc.Net.Client, Grpc.Net.ClientFactory).</summary>
public static class MeshGrpcServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>xds</c> resolver and the mesh load balancer, so a <c>GrpcChannel</c> to <c>xds:///host:port</c>
    /// whose <c>GrpcChannelOptions.ServiceProvider</c> is the application's routes and balances its calls through the
    /// mesh. For retries, timeouts, circuit breaking and fault injection as well, call the channel through
    /// <see cref="CreateMeshCallInvoker"/>, or use <see cref="AddMeshGrpc"/> on a client from <c>AddGrpcClient</c>.
    /// </summary>
    /// <example><code>
    /// builder.Services.AddMesh(builder.Configuration).AddGrpc();
    /// var channel = GrpcChannel.ForAddress("xds:///greeter.shop:50051", new GrpcChannelOptions { ServiceProvider = app.Services, Credentials = ChannelCredentials.Insecure });
    /// var client = new Greeter.GreeterClient(channel.CreateMeshCallInvoker(app.Services, "xds:///greeter.shop:50051"));
    /// </code></example>
    public static IMeshBuilder AddGrpc(this IMeshBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddServices(builder.Services);
        return builder;
    }

    /// <summary>
    /// Sends this gRPC client's calls through the mesh: its <c>xds:///host:port</c> address resolves to the mesh
    /// service <c>host</c> (or <c>host:port</c>), each call is routed by method and metadata and load-balanced per the
    /// route's cluster, and unary calls get the route's timeout, retries, fault injection and the cluster's circuit
    /// breaking and outlier detection. Call <c>services.AddMesh(...)</c> as well.
    /// </summary>
    /// <example><code>
    /// builder.Services.AddMesh(builder.Configuration).AddXds(o => o.Targets.Add("greeter.shop.svc.cluster.local:50051"));
    /// builder.Services.AddGrpcClient&lt;Greeter.GreeterClient&gt;(o => o.Address = new("xds:///greeter.shop.svc.cluster.local:50051"))
    ///        .AddMeshGrpc();
    /// </code></example>
    /// <remarks>
    /// Named <c>AddMeshGrpc</c> rather than <c>AddMesh</c>: both are extensions of <see cref="IHttpClientBuilder"/>, and an
    /// application that references Mesh.Http as well would otherwise not compile (an ambiguous call).
    /// </remarks>
    public static IHttpClientBuilder AddMeshGrpc(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddServices(builder.Services);
        var name = builder.Name;
        builder.ConfigureChannel(o => o.Credentials ??= ChannelCredentials.Insecure);
        builder.AddInterceptor(InterceptorScope.Channel, sp =>
        {
            var address = sp.GetRequiredService<IOptionsMonitor<GrpcClientFactoryOptions>>().Get(name).Address
                ?? throw new InvalidOperationException($"gRPC client '{name}' uses the mesh but has no address; set o.Address = new(\"xds:///<host>:<port>\") in AddGrpcClient.");
            return CreateInterceptor(sp, address);
        });
        return builder;
    }

    /// <summary>
    /// A call invoker that runs a channel's calls through the mesh (routing, retries, timeouts, circuit breaking,
    /// outlier detection, fault injection), for a channel made with <c>GrpcChannel.ForAddress</c> rather than the client factory.
    /// </summary>
    /// <param name="channel">A channel to <paramref name="address"/> whose options have the application's service provider.</param>
    /// <param name="services">The application's services, with <c>AddMesh(...).AddGrpc()</c>.</param>
    /// <param name="address">The channel's address, <c>xds:///host:port</c>.</param>
    public static CallInvoker CreateMeshCallInvoker(this GrpcChannel channel, IServiceProvider services, string address)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(address);
        return Grpc.Core.Interceptors.CallInvokerExtensions.Intercept(channel.CreateCallInvoker(), CreateInterceptor(services, new Uri(address)));
    }

    private static void AddServices(IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new GrpcMeshTelemetry(sp.GetRequiredService<IMeterFactory>(), sp.GetService<Mesh.Telemetry.IstioMetrics>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ResolverFactory, XdsResolverFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<LoadBalancerFactory, MeshLoadBalancerFactory>());
    }

    private static MeshCallInterceptor CreateInterceptor(IServiceProvider services, Uri address)
    {
        if (!string.Equals(address.Scheme, XdsResolverFactory.Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"The mesh resolves gRPC addresses of the form xds:///<host>:<port>; '{address}' has the scheme '{address.Scheme}'.");
        }

        var state = services.GetService<MeshState>()
            ?? throw new InvalidOperationException($"The gRPC channel to '{address}' uses the mesh, but the mesh is not registered; call services.AddMesh(configuration) (or another AddMesh overload) at startup.");
        return new MeshCallInterceptor(
            state,
            services.GetRequiredService<MeshTelemetry>(),
            services.GetRequiredService<GrpcMeshTelemetry>(),
            services.GetRequiredService<TimeProvider>(),
            services.GetService<MeshRandom>()?.Random ?? Random.Shared,
            XdsResolverFactory.ParseTarget(address));
    }
}
