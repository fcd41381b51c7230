using Grpc.Net.Client.Balancer;
using Mesh.Grpc.Balancer.Internal;
using Mesh.Identity;

namespace Mesh.Grpc.Security;

/// <summary>
/// Between grpc-dotnet's balancer and the channel's SocketsHttpHandler: a call the balancer sent to an endpoint with
/// <see cref="EndpointTls"/> goes to <c>https://</c> (so its connection is authenticated by <see cref="GrpcClientTls"/> and
/// its <c>:scheme</c> is https), or fails before anything is sent when it cannot be secured. Plaintext endpoints pass
/// through untouched.
/// </summary>
internal sealed class MeshGrpcTlsHandler : DelegatingHandler
{
    private readonly bool _ownsInner;
    private IWorkloadIdentityProvider? _identity;
    private volatile bool _anyTls;

    public MeshGrpcTlsHandler(HttpMessageHandler inner, bool ownsInner)
        : base(inner)
    {
        _ownsInner = ownsInner;
    }

    /// <summary>Why the handler below cannot be secured, set when the resolver starts; <see langword="null"/> when it can.</summary>
    public string? InstallError { get; set; } = "the channel has not started";

    /// <summary>Set once a channel through this handler has an endpoint with TLS; until then calls pass without a look-up.</summary>
    public bool AnyTls
    {
        get => _anyTls;
        set => _anyTls = value;
    }

    public IWorkloadIdentityProvider? Identity
    {
        get => Volatile.Read(ref _identity);
        set => Volatile.Write(ref _identity, value);
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!_anyTls || !request.Options.TryGetValue(GrpcClientTls.CurrentAddress, out var address) || !address.Attributes.TryGetValue(MeshResolution.TlsKey, out var tls))
        {
            return base.SendAsync(request, cancellationToken);
        }

        var endpoint = $"{address.EndPoint.Host}:{address.EndPoint.Port}";
        string? refusal = null;
        ClientTlsPolicy? policy = tls.Policy;
        WorkloadIdentity? identity = null;
        if (policy is null)
        {
            refusal = $"TLS to endpoint {endpoint} refused: {tls.Conflict}";
        }
        else if (InstallError is { } installError)
        {
            refusal = $"Endpoint {endpoint} of cluster '{tls.Cluster}' requires {policy}, but {installError}. The call is not sent in plaintext.";
        }
        else if (Identity is not { } provider)
        {
            refusal = $"Cluster '{tls.Cluster}' requires {policy}, but no workload identity provider is registered; call services.AddWorkloadIdentity(...) or services.AddFileWatcherIdentity(...) at startup. The call to {endpoint} is not sent in plaintext.";
        }
        else if ((identity = provider.Current) is null)
        {
            refusal = $"Cluster '{tls.Cluster}' requires {policy}, but the workload has no identity yet ({provider.LastError ?? "the provider has not obtained one yet, and reports no error"}). The call to {endpoint} is not sent in plaintext.";
        }

        if (refusal is not null)
        {
            return Task.FromException<HttpResponseMessage>(Unavailable(refusal, null));
        }

        var uri = request.RequestUri!;
        request.RequestUri = new Uri(string.Concat("https://", uri.Authority, uri.PathAndQuery), UriKind.Absolute);
        if (policy!.Sni is { } sni)
        {
            // SocketsHttpHandler takes the SNI (and its connection pool key) from the Host header.
            request.Headers.Host = sni;
        }

        request.Options.Set(GrpcClientTls.Pending, new GrpcClientTls.PendingTls(tls, policy, identity!, address.Attributes.TryGetValue(MeshResolution.StateKey, out var state) ? state : null));
        return SendSecureAsync(request, endpoint, tls, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        // A handler the application gave the channel is the application's to dispose.
        if (_ownsInner)
        {
            base.Dispose(disposing);
        }
    }

    private async Task<HttpResponseMessage> SendSecureAsync(HttpRequestMessage request, string endpoint, EndpointTls tls, CancellationToken cancellationToken)
    {
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            var detail = ex.InnerException?.Message ?? ex.Message;
            var text = request.Options.TryGetValue(GrpcClientTls.OpenedConnection, out var connection)
                ? connection.Describe(detail)
                : $"TLS to endpoint {endpoint} of cluster '{tls.Cluster}' ({tls.Policy}) failed: {detail}";
            throw Unavailable(text, ex);
        }
    }

    /// <summary>
    /// A failure grpc-dotnet reports as UNAVAILABLE (it looks for an I/O error among the inner exceptions), as gRPC reports
    /// TLS failures, so the mesh's retries and outlier detection treat it as a failed connection.
    /// </summary>
    private static HttpRequestException Unavailable(string message, Exception? inner) =>
        new(HttpRequestError.SecureConnectionError, message, new IOException(message, inner));
}
