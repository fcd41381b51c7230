namespace Mesh.LoadTest.Clients;

/// <summary>One variant for one protocol: its client (with its own connection pool) and the address it sends to.</summary>
internal sealed class Variant : IDisposable
{
    private readonly IDisposable _owner;
    private readonly Uri[] _targets;
    private int _next;

    public Variant(VariantKind kind, HttpProtocol protocol, HttpClient client, Uri[] targets, IDisposable owner)
    {
        Kind = kind;
        Protocol = protocol;
        Client = client;
        _targets = targets;
        Target = targets[0];
        _owner = owner;
    }

    public VariantKind Kind { get; }

    public HttpProtocol Protocol { get; }

    public HttpClient Client { get; }

    /// <summary>The address of every request (the first, for variants that rotate).</summary>
    public Uri Target { get; }

    /// <summary>The next request's address: always <see cref="Target"/> except for the diagnostic round-robin variant.</summary>
    public Uri NextTarget() => _targets.Length == 1 ? Target : _targets[(uint)Interlocked.Increment(ref _next) % (uint)_targets.Length];

    public void Dispose()
    {
        Client.Dispose();
        _owner.Dispose();
    }
}
