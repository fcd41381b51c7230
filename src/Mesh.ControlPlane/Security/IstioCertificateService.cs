using System.Globalization;
using System.Security.Cryptography;
using Grpc.Core;
using Istio.V1.Auth;
using Mesh.Identity;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Istio's certificate-signing gRPC service on the control plane's xDS port: authenticate the caller, sign its CSR
/// for the caller's own SPIFFE ID, answer the chain (leaf, intermediates, root last). Status codes: UNAUTHENTICATED
/// for missing or invalid credentials, INVALID_ARGUMENT for a bad <c>csr</c> or <c>validity_duration</c> (the message
/// names the field), UNAVAILABLE when the CA certificate expired, INTERNAL (with no detail) for anything else.
/// </summary>
/// <remarks>
/// The request's <c>metadata</c> is ignored: Istio uses it to let istiod sign for other identities, which this CA never does.
/// </remarks>
internal sealed partial class IstioCertificateService : Istio.V1.Auth.IstioCertificateService.IstioCertificateServiceBase
{
    // TimeSpan holds at most this many whole seconds; a larger request is above any maximum anyway.
    private const long MaxRepresentableSeconds = 922_337_203_685;

    private readonly CertificateAuthority _authority;
    private readonly ICallerAuthenticator _authenticator;
    private readonly ILogger _logger;

    public IstioCertificateService(CertificateAuthority authority, ICallerAuthenticator authenticator, ILogger<IstioCertificateService> logger)
    {
        _authority = authority;
        _authenticator = authenticator;
        _logger = logger;
    }

    public override async Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var credentials = CallerCredentials.FromCallContext(context);
        CallerIdentityResult caller;
        try
        {
            caller = await _authenticator.AuthenticateAsync(credentials, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.AuthenticatorFailed(_logger, _authenticator.Name, credentials.Peer, ex);
            throw new RpcException(new Status(StatusCode.Internal, "the caller could not be authenticated because of an internal error; see the control plane's log"));
        }

        if (!caller.IsAuthenticated)
        {
            Log.Unauthenticated(_logger, credentials.Peer, _authenticator.Name, caller.Reason!);
            throw new RpcException(new Status(StatusCode.Unauthenticated, caller.Reason!));
        }

        if (!SpiffeId.TryParse($"spiffe://{_authority.TrustDomain}/ns/{caller.Namespace}/sa/{caller.ServiceAccount}", out var identity, out var idError)
            || identity.Namespace != caller.Namespace || identity.ServiceAccount != caller.ServiceAccount)
        {
            var reason = $"the caller's identity (namespace '{caller.Namespace}', service account '{caller.ServiceAccount}') cannot be a SPIFFE ID: {idError ?? "each must be one path segment, without '/'"}";
            Log.Unauthenticated(_logger, credentials.Peer, _authenticator.Name, reason);
            throw new RpcException(new Status(StatusCode.Unauthenticated, reason));
        }

        CertificateSigningResult result;
        try
        {
            result = request.ValidityDuration > MaxRepresentableSeconds
                ? CertificateSigningResult.Invalid("validity_duration", string.Create(CultureInfo.InvariantCulture, $"validity_duration = {request.ValidityDuration} s is above the maximum of {(long)_authority.MaxTtl.TotalSeconds} s ({CertificateAuthorityOptions.FormatDuration(_authority.MaxTtl)}): ask for at most that, or 0 for the default"))
                : _authority.Sign(request.Csr, identity, TimeSpan.FromSeconds(Math.Max(request.ValidityDuration, -MaxRepresentableSeconds)));
        }
        catch (CryptographicException ex)
        {
            Log.SigningFailed(_logger, identity.Value, ex);
            throw new RpcException(new Status(StatusCode.Internal, "the certificate could not be signed because of an internal error; see the control plane's log"));
        }

        switch (result.Outcome)
        {
            case CertificateSigningOutcome.InvalidRequest:
                Log.InvalidRequest(_logger, identity.Value, result.Field!, result.Error!);
                throw new RpcException(new Status(StatusCode.InvalidArgument, result.Error!));
            case CertificateSigningOutcome.Unavailable:
                Log.CannotSign(_logger, identity.Value, result.Error!);
                throw new RpcException(new Status(StatusCode.Unavailable, result.Error!));
            default:
                Log.Issued(_logger, identity.Value, result.SerialNumber!, result.NotAfter, _authenticator.Name, credentials.Peer);
                var response = new IstioCertificateResponse();
                response.CertChain.AddRange(result.CertificateChain);
                return response;
        }
    }
}
