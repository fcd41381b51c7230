namespace Mesh.LoadTest.Serving;

/// <summary>Where the server process listens, reported to the load test on its first line of output.</summary>
/// <param name="BackendsHttp11">The three backends' HTTP/1.1 ports.</param>
/// <param name="BackendsHttp2">The same three backends' h2c (prior knowledge) ports.</param>
/// <param name="YarpHttp11">YARP's HTTP/1.1 port.</param>
/// <param name="YarpHttp2">YARP's h2c port.</param>
internal sealed record ServerPorts(int[] BackendsHttp11, int[] BackendsHttp2, int YarpHttp11, int YarpHttp2)
{
    public int[] Backends(HttpProtocol protocol) => protocol == HttpProtocol.Http11 ? BackendsHttp11 : BackendsHttp2;

    public int Yarp(HttpProtocol protocol) => protocol == HttpProtocol.Http11 ? YarpHttp11 : YarpHttp2;
}

/// <summary>The server process's answer to <c>stats</c>: requests served per backend so far.</summary>
internal sealed record ServerStats(long[] Requests);
