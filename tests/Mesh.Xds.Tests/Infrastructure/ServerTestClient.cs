using System.Threading.Channels;
using Envoy.Config.Core.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Core;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>
/// One ADS stream to a <see cref="ServerTestHost"/>, driven by a test: send requests, receive responses with a
/// timeout, and prove that nothing else was sent with a probe (see <see cref="ServerTestResources.ProbeTypeUrl"/>):
/// the server handles a stream's requests and pushes in order, so if the response to a probe request is the next one
/// received, nothing was pushed before it.
/// </summary>
internal abstract class ServerTestClient<TRequest, TResponse> : IAsyncDisposable
    where TResponse : class
{
    private readonly AsyncDuplexStreamingCall<TRequest, TResponse> _call;
    private readonly Channel<TResponse> _received = Channel.CreateUnbounded<TResponse>();
    private readonly Task _reading;

    protected ServerTestClient(AsyncDuplexStreamingCall<TRequest, TResponse> call, Node node)
    {
        _call = call;
        Node = node;
        _reading = ReadAsync();
    }

    /// <summary>The node sent with the first request.</summary>
    public Node Node { get; }

    /// <summary>Whether the first request (which carries the node) was sent.</summary>
    protected bool Started { get; set; }

    public async Task SendAsync(TRequest request)
    {
        Started = true;
        await _call.RequestStream.WriteAsync(request).WaitAsync(ServerTestClient.Timeout);
    }

    /// <summary>The next response; fails the test when none arrives in time or the stream ended.</summary>
    public async Task<TResponse> ReceiveAsync()
    {
        try
        {
            var response = await _received.Reader.ReadAsync().AsTask().WaitAsync(ServerTestClient.Timeout);
            OnReceived(response);
            return response;
        }
        catch (TimeoutException)
        {
            Assert.Fail($"No response from the server within {ServerTestClient.Timeout.TotalSeconds} s on the stream of node '{Node.Id}'.");
            throw;
        }
        catch (ChannelClosedException e)
        {
            Assert.Fail($"The stream of node '{Node.Id}' ended instead of sending a response: {e.InnerException?.Message ?? "completed"}.");
            throw;
        }
    }

    /// <summary>Waits until the server ends the stream and returns its status.</summary>
    public async Task<Status> WaitForEndAsync()
    {
        try
        {
            await _reading.WaitAsync(ServerTestClient.Timeout);
            await _received.Reader.Completion.WaitAsync(ServerTestClient.Timeout);
            return _call.GetStatus();
        }
        catch (RpcException e)
        {
            return e.Status;
        }
    }

    /// <summary>Half-closes the stream, as a client that is done does.</summary>
    public Task CompleteRequestsAsync() => _call.RequestStream.CompleteAsync().WaitAsync(ServerTestClient.Timeout);

    /// <summary>Cancels the call: the client goes away.</summary>
    public async ValueTask DisposeAsync()
    {
        _call.Dispose();
        try
        {
            await _reading.WaitAsync(ServerTestClient.Timeout);
        }
        catch (RpcException)
        {
        }
    }

    protected virtual void OnReceived(TResponse response)
    {
    }

    private async Task ReadAsync()
    {
        try
        {
            await foreach (var response in _call.ResponseStream.ReadAllAsync())
            {
                _received.Writer.TryWrite(response);
            }

            _received.Writer.TryComplete();
        }
        catch (Exception e)
        {
            _received.Writer.TryComplete(e);
            throw;
        }
    }
}

/// <summary>Bounds and factories for the server tests' clients.</summary>
internal static class ServerTestClient
{
    /// <summary>For any single await: generous for a loaded machine, never reached when things work.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static ServerSotwTestClient Sotw(ServerTestHost host, string nodeId = "node-1", string cluster = "test-cluster") =>
        new(host.CreateAdsClient().StreamAggregatedResources(), NewNode(nodeId, cluster));

    public static ServerDeltaTestClient Delta(ServerTestHost host, string nodeId = "node-1", string cluster = "test-cluster") =>
        new(host.CreateAdsClient().DeltaAggregatedResources(), NewNode(nodeId, cluster));

    /// <summary>Polls <paramref name="condition"/> until it holds, failing the test after <see cref="Timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {Timeout.TotalSeconds} s waiting until {what}.");
            }

            await Task.Delay(5);
        }
    }

    private static Node NewNode(string nodeId, string cluster) =>
        new() { Id = nodeId, Cluster = cluster, UserAgentName = "mesh-tests", UserAgentVersion = "1.0" };
}

/// <summary>A state-of-the-world ADS stream that behaves as a client: it remembers, per type, the last nonce received and the last version it accepted.</summary>
internal sealed class ServerSotwTestClient(AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> call, Node node)
    : ServerTestClient<DiscoveryRequest, DiscoveryResponse>(call, node)
{
    private readonly Dictionary<string, string> _lastNonce = [];
    private readonly Dictionary<string, string> _accepted = [];
    private readonly HashSet<string> _probed = [];

    /// <summary>A request for <paramref name="names"/> of a type (a new subscription, or a change of it), with the last nonce and accepted version of the type.</summary>
    public Task SubscribeAsync(string typeUrl, params string[] names) =>
        SendAsync(NewRequest(typeUrl, names, _accepted.GetValueOrDefault(typeUrl, ""), _lastNonce.GetValueOrDefault(typeUrl, "")));

    /// <summary>ACKs <paramref name="response"/>, still subscribed to <paramref name="names"/>.</summary>
    public Task AckAsync(DiscoveryResponse response, params string[] names)
    {
        _accepted[response.TypeUrl] = response.VersionInfo;
        return SendAsync(NewRequest(response.TypeUrl, names, response.VersionInfo, response.Nonce));
    }

    /// <summary>NACKs <paramref name="response"/> with <paramref name="message"/>, keeping the version accepted before.</summary>
    public Task NackAsync(DiscoveryResponse response, string message, params string[] names)
    {
        var request = NewRequest(response.TypeUrl, names, _accepted.GetValueOrDefault(response.TypeUrl, ""), response.Nonce);
        request.ErrorDetail = new Mesh.Xds.Protos.Google.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = message };
        return SendAsync(request);
    }

    /// <summary>The next response, which must be of <paramref name="typeUrl"/>.</summary>
    public async Task<DiscoveryResponse> ReceiveAsync(string typeUrl)
    {
        var response = await ReceiveAsync();
        Assert.That(response.TypeUrl, Is.EqualTo(typeUrl), $"Expected a {typeUrl} response, got {response.TypeUrl} version '{response.VersionInfo}' with [{string.Join(", ", ServerTestResources.Names(response))}].");
        return response;
    }

    /// <summary>
    /// Proves that the server sent nothing since the last response received: requests the probe resource anew and
    /// checks that the next response is the probe's (the snapshot must hold it, see <see cref="ServerTestResources.Builder"/>).
    /// </summary>
    public async Task ExpectNothingPendingAsync()
    {
        var probe = ServerTestResources.ProbeTypeUrl;
        if (_probed.Add(probe))
        {
            await SubscribeAsync(probe, ServerTestResources.ProbeName);
        }
        else
        {
            // Unsubscribing sends nothing for this type; subscribing again makes the name new, so it is sent.
            await SubscribeAsync(probe);
            await SubscribeAsync(probe, ServerTestResources.ProbeName);
        }

        var response = await ReceiveAsync(probe);
        await AckAsync(response, ServerTestResources.ProbeName);
    }

    protected override void OnReceived(DiscoveryResponse response) => _lastNonce[response.TypeUrl] = response.Nonce;

    private DiscoveryRequest NewRequest(string typeUrl, string[] names, string version, string nonce)
    {
        var request = new DiscoveryRequest { TypeUrl = typeUrl, VersionInfo = version, ResponseNonce = nonce, ResourceNames = { names } };
        if (!Started)
        {
            request.Node = Node;
        }

        return request;
    }
}

/// <summary>A delta ADS stream driven by a test.</summary>
internal sealed class ServerDeltaTestClient(AsyncDuplexStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> call, Node node)
    : ServerTestClient<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(call, node)
{
    /// <summary>A spontaneous request (no nonce) changing the subscription of a type.</summary>
    public Task SubscribeAsync(string typeUrl, string[]? subscribe = null, string[]? unsubscribe = null, IDictionary<string, string>? initialVersions = null)
    {
        var request = NewRequest(typeUrl, "");
        request.ResourceNamesSubscribe.Add(subscribe ?? []);
        request.ResourceNamesUnsubscribe.Add(unsubscribe ?? []);
        if (initialVersions is not null)
        {
            request.InitialResourceVersions.Add(initialVersions);
        }

        return SendAsync(request);
    }

    public Task AckAsync(DeltaDiscoveryResponse response) => SendAsync(NewRequest(response.TypeUrl, response.Nonce));

    public Task NackAsync(DeltaDiscoveryResponse response, string message)
    {
        var request = NewRequest(response.TypeUrl, response.Nonce);
        request.ErrorDetail = new Mesh.Xds.Protos.Google.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = message };
        return SendAsync(request);
    }

    /// <summary>The next response, which must be of <paramref name="typeUrl"/>.</summary>
    public async Task<DeltaDiscoveryResponse> ReceiveAsync(string typeUrl)
    {
        var response = await ReceiveAsync();
        Assert.That(response.TypeUrl, Is.EqualTo(typeUrl), $"Expected a {typeUrl} response, got {response.TypeUrl} with [{string.Join(", ", response.Resources.Select(r => r.Name))}] removed [{string.Join(", ", response.RemovedResources)}].");
        return response;
    }

    /// <summary>Proves that the server sent nothing since the last response received (see <see cref="ServerSotwTestClient.ExpectNothingPendingAsync"/>): subscribing to a name again makes the server send it again.</summary>
    public async Task ExpectNothingPendingAsync()
    {
        await SubscribeAsync(ServerTestResources.ProbeTypeUrl, [ServerTestResources.ProbeName]);
        var response = await ReceiveAsync(ServerTestResources.ProbeTypeUrl);
        Assert.That(response.Resources.Select(r => r.Name), Is.EqualTo(new[] { ServerTestResources.ProbeName }));
        await AckAsync(response);
    }

    private DeltaDiscoveryRequest NewRequest(string typeUrl, string nonce)
    {
        var request = new DeltaDiscoveryRequest { TypeUrl = typeUrl, ResponseNonce = nonce };
        if (!Started)
        {
            request.Node = Node;
        }

        return request;
    }
}
