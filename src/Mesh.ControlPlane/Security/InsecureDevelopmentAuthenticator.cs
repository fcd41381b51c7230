using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Believes whatever identity the caller claims in <c>x-mesh-namespace</c> / <c>x-mesh-service-account</c> metadata
/// (<c>default</c>/<c>default</c> when absent). Anyone who reaches the port gets a certificate for any service account:
/// for development on one machine only, and only with <c>--insecure-dev-identities</c>. Warns at start-up and on every call.
/// </summary>
internal sealed partial class InsecureDevelopmentAuthenticator : ICallerAuthenticator
{
    /// <summary>The authenticator's name.</summary>
    public const string AuthenticatorName = "insecure-development";

    /// <summary>The metadata key of the claimed namespace.</summary>
    public const string NamespaceKey = "x-mesh-namespace";

    /// <summary>The metadata key of the claimed service account.</summary>
    public const string ServiceAccountKey = "x-mesh-service-account";

    private const string Default = "default";
    private readonly ILogger _logger;

    public InsecureDevelopmentAuthenticator(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
        Log.Enabled(logger, NamespaceKey, ServiceAccountKey);
    }

    public string Name => AuthenticatorName;

    public ValueTask<CallerIdentityResult> AuthenticateAsync(CallerCredentials credentials, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        var ns = credentials.GetMetadata(NamespaceKey) is { Length: > 0 } n ? n : Default;
        var serviceAccount = credentials.GetMetadata(ServiceAccountKey) is { Length: > 0 } s ? s : Default;
        Log.Trusted(_logger, credentials.Peer, ns, serviceAccount);
        return ValueTask.FromResult(CallerIdentityResult.Authenticated(ns, serviceAccount));
    }
}
