using Grpc.Core;
using Grpc.Net.Client;
using Istio.V1.Auth;
using Mesh.Identity;
using Microsoft.Extensions.Logging;

namespace Mesh.Xds.Identity;

/// <summary>
/// Signs certificate requests with the control plane's CA over gRPC (<c>istio.v1.auth.IstioCertificateService/CreateCertificate</c>,
/// as Istio's agents do). Each request carries <c>authorization: Bearer &lt;token&gt;</c>, the token read again every
/// time since projected service-account tokens rotate, and the <c>x-mesh-namespace</c> / <c>x-mesh-service-account</c>
/// metadata when configured.
/// </summary>
internal sealed class CaCertificateSigner : ICertificateSigner, IDisposable
{
    /// <summary>The metadata key naming the workload's namespace (for a development CA that trusts it).</summary>
    public const string NamespaceHeader = "x-mesh-namespace";

    /// <summary>The metadata key naming the workload's service account (for a development CA that trusts it).</summary>
    public const string ServiceAccountHeader = "x-mesh-service-account";

    private readonly GrpcChannel? _ownedChannel;
    private readonly IstioCertificateService.IstioCertificateServiceClient _client;
    private readonly string? _token;
    private readonly IReadOnlyList<string> _tokenFiles;
    private readonly bool _tokenFileRequired;
    private readonly string? _namespace;
    private readonly string? _serviceAccount;
    private readonly TimeSpan _requestTimeout;
    private readonly bool _rootsGiven;

    /// <summary>Creates a signer over an existing call invoker; <paramref name="address"/> names the CA in errors.</summary>
    public CaCertificateSigner(CallInvoker invoker, string address, WorkloadIdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(invoker);
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);
        _client = new IstioCertificateService.IstioCertificateServiceClient(invoker);
        Address = address;
        _token = options.Token;
        _tokenFileRequired = options.TokenFile is not null;
        _tokenFiles = options.TokenFile is { } file ? [file] : [WorkloadIdentityOptions.DefaultTokenFile, WorkloadIdentityOptions.KubernetesTokenFile];
        _namespace = options.Namespace;
        _serviceAccount = options.ServiceAccount;
        _requestTimeout = options.RequestTimeout;
    }

    private CaCertificateSigner(GrpcChannel channel, string address, WorkloadIdentityOptions options, bool rootsGiven)
        : this(channel.CreateCallInvoker(), address, options)
    {
        _ownedChannel = channel;
        _rootsGiven = rootsGiven;
    }

    /// <summary>The CA's address, e.g. <c>https://istiod.istio-system.svc:15012</c>.</summary>
    public string Address { get; }

    /// <inheritdoc/>
    public string Description => $"CA {Address}";

    /// <summary>
    /// A signer with its own channel to <paramref name="address"/>; over https the CA's certificate is checked
    /// against <paramref name="rootsPem"/> when given, else the system trust store.
    /// </summary>
    public static CaCertificateSigner Create(Uri address, WorkloadIdentityOptions options, string? rootsPem, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(address);
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        };
        if (address.Scheme == Uri.UriSchemeHttps && rootsPem is not null)
        {
            PrivateRootTrust.Apply(handler, rootsPem);
        }

        var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true, LoggerFactory = loggerFactory });
        return new CaCertificateSigner(channel, address.GetLeftPart(UriPartial.Authority), options, rootsGiven: rootsPem is not null);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<string>> SignAsync(string csrPem, TimeSpan requestedTtl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(csrPem);
        var token = ReadToken(out var tokenNote);
        var headers = new Metadata();
        if (token is not null)
        {
            headers.Add("authorization", "Bearer " + token);
        }

        if (_namespace is not null)
        {
            headers.Add(NamespaceHeader, _namespace);
        }

        if (_serviceAccount is not null)
        {
            headers.Add(ServiceAccountHeader, _serviceAccount);
        }

        var request = new IstioCertificateRequest { Csr = csrPem, ValidityDuration = (long)Math.Ceiling(requestedTtl.TotalSeconds) };
        IstioCertificateResponse response;
        try
        {
            response = await _client.CreateCertificateAsync(request, headers, DateTime.UtcNow + _requestTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
        {
            var hint = IsTlsFailure(e) ? $"; the CA's TLS certificate is not trusted ({(_rootsGiven ? "it must chain to the roots of RootCertificateFile" : "it must chain to the system trust store; set RootCertificateFile to trust the mesh's root")} and name the host)" : e.StatusCode switch
            {
                StatusCode.Unauthenticated when token is null => $"; no token was sent: {tokenNote}",
                StatusCode.Unauthenticated or StatusCode.PermissionDenied => $"; the token was read from {tokenNote}",
                StatusCode.Unavailable => "; is the CA running and reachable at this address?",
                StatusCode.DeadlineExceeded => $"; no answer within {_requestTimeout.TotalSeconds:0.#} s",
                _ => string.Empty,
            };
            throw new CertificateSigningException($"{Description}: CreateCertificate failed with status {e.StatusCode}: {e.Status.Detail}{hint}", e);
        }

        if (response.CertChain.Count == 0)
        {
            throw new CertificateSigningException($"{Description}: CreateCertificate returned no certificate");
        }

        return [.. response.CertChain];
    }

    /// <inheritdoc/>
    public void Dispose() => _ownedChannel?.Dispose();

    /// <summary>The bearer token now: the configured one, else the first token file that exists; <paramref name="note"/> says where it came from.</summary>
    private string? ReadToken(out string note)
    {
        if (_token is not null)
        {
            note = "the Token option";
            return _token;
        }

        foreach (var file in _tokenFiles)
        {
            if (!_tokenFileRequired && !File.Exists(file))
            {
                continue;
            }

            try
            {
                note = $"'{file}'";
                return File.ReadAllText(file).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new CertificateSigningException($"{Description}: the token file '{file}' cannot be read ({e.Message}); set TokenFile to the service-account token the CA accepts");
            }
        }

        note = $"neither '{_tokenFiles[0]}' nor '{_tokenFiles[^1]}' exists; set TokenFile or Token";
        return null;
    }

    private static bool IsTlsFailure(RpcException e)
    {
        for (Exception? inner = e.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Security.Authentication.AuthenticationException)
            {
                return true;
            }
        }

        return false;
    }
}
