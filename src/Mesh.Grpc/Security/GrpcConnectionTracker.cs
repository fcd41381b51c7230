namespace Mesh.Grpc.Security;

/// <summary>
/// The connections a channel's SocketsHttpHandler has open, per endpoint, with the TLS settings each was made for. When
/// an endpoint's settings change, its connections close: SocketsHttpHandler would otherwise keep sending new calls on a
/// connection checked for the old settings (or a plaintext one after TLS was asked for), and closing a gRPC subchannel
/// does not close the streams it handed out.
/// </summary>
internal sealed class GrpcConnectionTracker
{
    private readonly Dictionary<string, List<(WeakReference<Stream> Stream, EndpointTls? Tls)>> _byEndpoint = new(StringComparer.OrdinalIgnoreCase);

    public void Add(string endpoint, Stream stream, EndpointTls? tls)
    {
        lock (_byEndpoint)
        {
            if (!_byEndpoint.TryGetValue(endpoint, out var streams))
            {
                _byEndpoint[endpoint] = streams = [];
            }

            streams.RemoveAll(static s => !s.Stream.TryGetTarget(out _));
            streams.Add((new WeakReference<Stream>(stream), tls));
        }
    }

    /// <summary>Closes the endpoint's connections that were not made for <paramref name="tls"/>; returns how many.</summary>
    public int CloseOther(string endpoint, EndpointTls? tls)
    {
        List<Stream> closing = [];
        lock (_byEndpoint)
        {
            if (!_byEndpoint.TryGetValue(endpoint, out var streams))
            {
                return 0;
            }

            for (var i = streams.Count - 1; i >= 0; i--)
            {
                var (reference, made) = streams[i];
                if (!reference.TryGetTarget(out var stream))
                {
                    streams.RemoveAt(i);
                }
                else if (!EndpointTls.Same(made, tls))
                {
                    streams.RemoveAt(i);
                    closing.Add(stream);
                }
            }
        }

        foreach (var stream in closing)
        {
            stream.Dispose();
        }

        return closing.Count;
    }
}
