using Envoy.Service.Status.V3;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Xds.Client;

/// <summary>
/// CSDS (<c>envoy.service.status.v3.ClientStatusDiscoveryService</c>, gRFC A40) for the process's xDS client: what it
/// subscribed to, the versions it ACKed, what it NACKed and why. Tools such as <c>grpcdebug</c> read it.
/// </summary>
/// <example>
/// <code>
/// builder.Services.AddGrpc();
/// app.MapGrpcService&lt;XdsClientStatusService&gt;();
/// </code>
/// </example>
/// <remarks>
/// The xDS clients are looked up in the service provider on each call, so the service answers with one client
/// config per registered client, and with none before the client exists. The request's node matchers are ignored,
/// as in gRPC: a process reports only its own clients.
/// </remarks>
public sealed class XdsClientStatusService : ClientStatusDiscoveryService.ClientStatusDiscoveryServiceBase
{
    private readonly Func<IEnumerable<XdsClient>> _clients;

    /// <summary>Creates the service over the xDS clients registered in <paramref name="services"/>.</summary>
    public XdsClientStatusService(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        _clients = services.GetServices<XdsClient>;
    }

    internal XdsClientStatusService(Func<IEnumerable<XdsClient>> clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        _clients = clients;
    }

    /// <summary>Answers one status request.</summary>
    public override Task<ClientStatusResponse> FetchClientStatus(ClientStatusRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.FromResult(CreateResponse(request));
    }

    /// <summary>Answers each request of the stream with the status at that moment.</summary>
    public override async Task StreamClientStatus(
        IAsyncStreamReader<ClientStatusRequest> requestStream,
        IServerStreamWriter<ClientStatusResponse> responseStream,
        ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            await responseStream.WriteAsync(CreateResponse(requestStream.Current), context.CancellationToken).ConfigureAwait(false);
        }
    }

    private ClientStatusResponse CreateResponse(ClientStatusRequest request)
    {
        var response = new ClientStatusResponse();
        foreach (var client in _clients())
        {
            response.Config.Add(client.GetStatus().ToClientConfig(request.ExcludeResourceContents));
        }

        return response;
    }
}
