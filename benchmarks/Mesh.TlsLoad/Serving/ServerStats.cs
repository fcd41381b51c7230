namespace Mesh.TlsLoad.Serving;

/// <summary>The listeners' ports, as the server process reports them.</summary>
internal sealed record ServerPorts(int Tls, int Mtls);

/// <summary>Counters of one listener since the server started; the load test takes differences.</summary>
internal sealed record ListenerStats(long Connections, long Requests, long Resumed, long FullHandshakes, long ResumeUnknown, long WithClientCertificate, long PeerValidatedRequests)
{
    public static ListenerStats operator -(ListenerStats a, ListenerStats b) => new(
        a.Connections - b.Connections,
        a.Requests - b.Requests,
        a.Resumed - b.Resumed,
        a.FullHandshakes - b.FullHandshakes,
        a.ResumeUnknown - b.ResumeUnknown,
        a.WithClientCertificate - b.WithClientCertificate,
        a.PeerValidatedRequests - b.PeerValidatedRequests);
}

/// <summary>Both listeners' counters.</summary>
internal sealed record ServerStats(ListenerStats Tls, ListenerStats Mtls);
