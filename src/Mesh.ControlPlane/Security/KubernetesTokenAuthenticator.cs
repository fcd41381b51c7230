using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Authenticates callers by their Kubernetes service account token: the API server checks it (a TokenReview, for the
/// configured audiences) and names the user, which must be <c>system:serviceaccount:&lt;namespace&gt;:&lt;name&gt;</c>.
/// The control plane's own service account needs <c>create</c> on <c>tokenreviews</c> (ClusterRole system:auth-delegator).
/// </summary>
internal sealed class KubernetesTokenAuthenticator : ICallerAuthenticator
{
    /// <summary>The authenticator's name.</summary>
    public const string AuthenticatorName = "kubernetes-tokenreview";

    private const string ServiceAccountPrefix = "system:serviceaccount:";
    private static readonly TimeSpan ReviewTimeout = TimeSpan.FromSeconds(10);

    private readonly IKubernetes _client;
    private readonly List<string> _audiences;

    public KubernetesTokenAuthenticator(IKubernetes client, IEnumerable<string> audiences)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(audiences);
        _client = client;
        _audiences = [.. audiences];
    }

    public string Name => AuthenticatorName;

    public async ValueTask<CallerIdentityResult> AuthenticateAsync(CallerCredentials credentials, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        if (credentials.BearerToken is not { } token)
        {
            return CallerIdentityResult.Rejected($"no bearer token: send the workload's service account token{AudienceHint} as 'authorization: Bearer <token>' metadata");
        }

        var review = new V1TokenReview
        {
            ApiVersion = "authentication.k8s.io/v1",
            Kind = "TokenReview",
            Spec = new V1TokenReviewSpec { Token = token, Audiences = _audiences.Count == 0 ? null : [.. _audiences] },
        };
        V1TokenReview result;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReviewTimeout);
        try
        {
            result = await _client.AuthenticationV1.CreateTokenReviewAsync(review, cancellationToken: timeout.Token).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            var status = ex.Response?.StatusCode;
            var fix = status == HttpStatusCode.Forbidden
                ? ": the control plane's service account may not create tokenreviews.authentication.k8s.io (bind it to the ClusterRole system:auth-delegator)"
                : string.Empty;
            return CallerIdentityResult.Rejected($"the token could not be checked: the Kubernetes TokenReview failed with {(int?)status} {status}{fix}");
        }
        catch (HttpRequestException ex)
        {
            return CallerIdentityResult.Rejected($"the token could not be checked: the Kubernetes API server is unreachable ({ex.Message})");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return CallerIdentityResult.Rejected($"the token could not be checked: the Kubernetes TokenReview took longer than {ReviewTimeout.TotalSeconds} s");
        }

        if (result.Status is not { Authenticated: true } reviewStatus)
        {
            var error = result.Status?.Error is { Length: > 0 } e ? $" ({e})" : string.Empty;
            return CallerIdentityResult.Rejected($"the bearer token is not valid: the Kubernetes API server did not authenticate it{error}; send a current service account token{AudienceHint}");
        }

        var username = reviewStatus.User?.Username ?? string.Empty;
        if (!username.StartsWith(ServiceAccountPrefix, StringComparison.Ordinal)
            || username[ServiceAccountPrefix.Length..].Split(':') is not [{ Length: > 0 } ns, { Length: > 0 } serviceAccount])
        {
            return CallerIdentityResult.Rejected($"the token belongs to '{username}', which is not a service account ({ServiceAccountPrefix}<namespace>:<name>): certificates are issued to service accounts only");
        }

        return CallerIdentityResult.Authenticated(ns, serviceAccount);
    }

    private string AudienceHint => _audiences.Count == 0 ? string.Empty : $" with audience {string.Join(" or ", _audiences)}";
}
