namespace Mesh.TlsLoad.Clients;

/// <summary>What the client variants count in their TLS callbacks (the mesh's own callbacks are not counted).</summary>
internal sealed class CallbackCounters
{
    public long ServerValidations;
    public long ClientCertificateSelections;

    public (long Validations, long Selections) Read() => (Volatile.Read(ref ServerValidations), Volatile.Read(ref ClientCertificateSelections));
}

/// <summary>One client variant: its own <see cref="HttpClient"/> (own container, own connection pool) and its target.</summary>
internal sealed class Variant(string name, string listener, HttpClient client, Uri target, CallbackCounters? callbacks, IDisposable owner) : IDisposable
{
    /// <summary>tls, mtls, mesh-tls, mesh-mtls, with "+resume" / "-resume" in the handshake section.</summary>
    public string Name { get; } = name;

    /// <summary>The server listener it talks to: "tls" or "mtls".</summary>
    public string Listener { get; } = listener;

    public HttpClient Client { get; } = client;

    public Uri Target { get; } = target;

    /// <summary>The plain variants' callback counts; null for the mesh variants.</summary>
    public CallbackCounters? Callbacks { get; } = callbacks;

    public void Dispose()
    {
        Client.Dispose();
        owner.Dispose();
    }
}
