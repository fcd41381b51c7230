using Grpc.Core;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Decides who is asking for a certificate. The certificate authority issues the identity the authenticator returns,
/// never one the request names. Built in: Kubernetes TokenReview (with a cluster), bootstrap tokens from a file, and an
/// insecure development mode that believes what the caller claims.
/// </summary>
/// <example><code>
/// var result = await authenticator.AuthenticateAsync(CallerCredentials.FromBearerToken(token, "ipv4:10.0.0.7:51234"), cancellationToken);
/// if (!result.IsAuthenticated) { Console.WriteLine(result.Reason); }
/// </code></example>
public interface ICallerAuthenticator
{
    /// <summary>A short name for logs, e.g. <c>kubernetes-tokenreview</c>.</summary>
    string Name { get; }

    /// <summary>Authenticates a caller; a rejection is a result with a reason, not an exception.</summary>
    ValueTask<CallerIdentityResult> AuthenticateAsync(CallerCredentials credentials, CancellationToken cancellationToken);
}

/// <summary>What a caller presented: the bearer token of its <c>authorization</c> metadata, its address, and its other metadata.</summary>
public sealed class CallerCredentials
{
    private static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>();
    private readonly IReadOnlyDictionary<string, string> _metadata;

    /// <summary>Creates credentials; <paramref name="metadata"/> keys are lowercase (gRPC metadata keys are).</summary>
    public CallerCredentials(string? bearerToken, string peer, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(peer);
        BearerToken = string.IsNullOrEmpty(bearerToken) ? null : bearerToken;
        Peer = peer;
        _metadata = metadata ?? NoMetadata;
    }

    /// <summary>The token after <c>Bearer </c> in the <c>authorization</c> metadata, or <see langword="null"/>.</summary>
    public string? BearerToken { get; }

    /// <summary>The caller's address as gRPC reports it (e.g. <c>ipv4:127.0.0.1:51234</c>).</summary>
    public string Peer { get; }

    /// <summary>Credentials of a bearer token only.</summary>
    public static CallerCredentials FromBearerToken(string? bearerToken, string peer) => new(bearerToken, peer);

    /// <summary>A metadata value by its (lowercase) key, or <see langword="null"/>.</summary>
    public string? GetMetadata(string key) => _metadata.GetValueOrDefault(key);

    /// <summary>Reads the credentials of a gRPC call.</summary>
    public static CallerCredentials FromCallContext(ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string? token = null;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.IsBinary)
            {
                continue;
            }

            if (entry.Key == "authorization")
            {
                const string Scheme = "Bearer ";
                var value = entry.Value.Trim();
                if (value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
                {
                    token = value[Scheme.Length..].Trim();
                }
            }
            else
            {
                metadata.TryAdd(entry.Key, entry.Value);
            }
        }

        return new CallerCredentials(token, context.Peer ?? "unknown", metadata);
    }
}

/// <summary>The outcome of authenticating a caller: a Kubernetes service account, or the reason it was rejected.</summary>
public sealed class CallerIdentityResult
{
    private CallerIdentityResult(string? ns, string? serviceAccount, string? reason)
    {
        Namespace = ns;
        ServiceAccount = serviceAccount;
        Reason = reason;
    }

    /// <summary>Whether the caller was authenticated.</summary>
    public bool IsAuthenticated => Reason is null;

    /// <summary>The caller's namespace, when authenticated.</summary>
    public string? Namespace { get; }

    /// <summary>The caller's service account, when authenticated.</summary>
    public string? ServiceAccount { get; }

    /// <summary>Why the caller was rejected, for the caller and the log (never a token), or <see langword="null"/>.</summary>
    public string? Reason { get; }

    /// <summary>The caller is the service account <paramref name="serviceAccount"/> of <paramref name="namespace"/>.</summary>
    public static CallerIdentityResult Authenticated(string @namespace, string serviceAccount)
    {
        ArgumentException.ThrowIfNullOrEmpty(@namespace);
        ArgumentException.ThrowIfNullOrEmpty(serviceAccount);
        return new(@namespace, serviceAccount, null);
    }

    /// <summary>The caller is rejected; <paramref name="reason"/> says why and what to do.</summary>
    public static CallerIdentityResult Rejected(string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return new(null, null, reason);
    }

    /// <inheritdoc/>
    public override string ToString() => IsAuthenticated ? $"{Namespace}/{ServiceAccount}" : $"rejected: {Reason}";
}
