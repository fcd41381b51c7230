using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Identity;

/// <summary>
/// A workload identity obtained from a certificate signer and kept fresh: a new ECDSA P-256 key and a PKCS#10
/// request for every certificate, renewal at 50 % ± 5 % of the certificate's lifetime, and on failure retries
/// with exponential backoff (1 s × 2, at most 60 s, ± 20 %) while the current certificate stays in use. Every
/// issued chain is checked before it is used: the leaf must hold the request's key and be a valid X509-SVID of
/// the trust bundle. Starts with the host, or on the first <see cref="WaitForIdentityAsync"/>.
/// </summary>
internal sealed partial class RotatingIdentityProvider : IWorkloadIdentityProvider, IHostedService, IAsyncDisposable, IDisposable
{
    private readonly ICertificateSigner _signer;
    private readonly RotatingIdentityProviderOptions _options;
    private readonly X509Certificate2Collection? _configuredRoots;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly WorkloadIdentityState _state = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private ITimer? _timer;
    private Task _attempt = Task.CompletedTask;
    private int _started;
    private int _failures;
    private bool _trustOnFirstUseLogged;

    public RotatingIdentityProvider(ICertificateSigner signer, RotatingIdentityProviderOptions options, TimeProvider time, Random random, ILogger<RotatingIdentityProvider> logger)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(logger);
        _signer = signer;
        _options = options;
        _time = time;
        _random = random;
        _logger = logger;
        if (options.TrustedRootsPem is { } pem)
        {
            _configuredRoots = [];
            _configuredRoots.ImportFromPem(pem);
            if (_configuredRoots.Count == 0)
            {
                throw new ArgumentException("The trusted roots have no PEM certificate (expected '-----BEGIN CERTIFICATE-----' blocks).", nameof(options));
            }
        }
    }

    /// <inheritdoc/>
    public WorkloadIdentity? Current => _state.Current;

    /// <inheritdoc/>
    public string? LastError => _state.LastError;

    /// <inheritdoc/>
    public event Action<WorkloadIdentity>? Changed
    {
        add => _state.Changed += value;
        remove => _state.Changed -= value;
    }

    /// <inheritdoc/>
    public Task<WorkloadIdentity> WaitForIdentityAsync(CancellationToken cancellationToken)
    {
        Start();
        return _state.WaitAsync(cancellationToken);
    }

    /// <summary>Asks for the first certificate now (once; later calls do nothing).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0 || _stopping.IsCancellationRequested)
        {
            return;
        }

        lock (_lock)
        {
            _timer = _time.CreateTimer(static state => ((RotatingIdentityProvider)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        OnTimer();
    }

    /// <inheritdoc/>
    Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    async Task IHostedService.StopAsync(CancellationToken cancellationToken)
    {
        var attempt = Stop();
        await attempt.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Stop().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public void Dispose() => _ = Stop();

    /// <summary>Stops renewing; returns the attempt in flight, which ends cancelled.</summary>
    private Task Stop()
    {
        Task attempt;
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
            attempt = _attempt;
        }

        // Cancelled outside the lock: cancellation callbacks can complete the attempt inline, and it takes the lock to re-arm.
        if (!_stopping.IsCancellationRequested)
        {
            _stopping.Cancel();
        }

        return attempt;
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_stopping.IsCancellationRequested)
            {
                return;
            }
        }

        // Attempts never overlap: the timer is armed again only at the end of one.
        var attempt = RenewAsync(_stopping.Token);
        lock (_lock)
        {
            _attempt = attempt;
        }
    }

    private void Schedule(TimeSpan delay)
    {
        lock (_lock)
        {
            if (!_stopping.IsCancellationRequested)
            {
                _timer?.Change(delay, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private async Task RenewAsync(CancellationToken cancellationToken)
    {
        WorkloadIdentity identity;
        try
        {
            identity = await ObtainAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            var failures = ++_failures;
            var error = e is CertificateSigningException ? e.Message : $"{_signer.Description}: {e.GetType().Name}: {e.Message}";
            var delay = RetryDelay(failures);
            _state.SetError(error);
            if (_state.Current is { } current)
            {
                Log.AttemptFailedKeepingCurrent(_logger, failures, error, delay, current.SpiffeId?.Value ?? current.Certificate.Subject, current.NotAfter);
            }
            else
            {
                Log.AttemptFailedWithoutIdentity(_logger, failures, error, delay);
            }

            Schedule(delay);
            return;
        }

        _failures = 0;
        var renewAt = RenewalTime(identity, _time.GetUtcNow());
        var next = renewAt - _time.GetUtcNow();
        Schedule(next < RotatingIdentityProviderOptions.MinRenewalDelay ? RotatingIdentityProviderOptions.MinRenewalDelay : next);
        Log.Rotated(_logger, identity.SpiffeId?.Value ?? identity.Certificate.Subject, _signer.Description, identity.NotAfter, renewAt);
        _state.Publish(identity, e => Log.ChangedHandlerFailed(_logger, e));
    }

    /// <summary>
    /// When to renew: half the lifetime after the certificate became valid, ± 5 % of the lifetime. The lifetime counts
    /// from when the certificate arrived if that is later than its NotBefore: CAs backdate NotBefore for clock skew
    /// (ours by a minute), which would otherwise make a short-lived certificate due for renewal the moment it arrives.
    /// </summary>
    internal DateTimeOffset RenewalTime(WorkloadIdentity identity, DateTimeOffset received)
    {
        var start = received > identity.NotBefore && received < identity.NotAfter ? received : identity.NotBefore;
        var lifetime = identity.NotAfter - start;
        var fraction = RotatingIdentityProviderOptions.RenewalFraction + (RotatingIdentityProviderOptions.RenewalJitter * ((2 * _random.NextDouble()) - 1));
        return start + (lifetime * fraction);
    }

    /// <summary>The wait after the <paramref name="failures"/>-th failure in a row: 1 s × 2^(n-1), at most 60 s, ± 20 %.</summary>
    internal TimeSpan RetryDelay(int failures)
    {
        var exponent = Math.Min(failures - 1, 16);
        var delay = RotatingIdentityProviderOptions.InitialBackoff * Math.Pow(2, exponent);
        if (delay > RotatingIdentityProviderOptions.MaxBackoff)
        {
            delay = RotatingIdentityProviderOptions.MaxBackoff;
        }

        return delay * (1 + (RotatingIdentityProviderOptions.BackoffJitter * ((2 * _random.NextDouble()) - 1)));
    }

    private async Task<WorkloadIdentity> ObtainAsync(CancellationToken cancellationToken)
    {
        // A new key for every certificate, so a leaked key is useless once its certificate is replaced.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        if (_options.ExpectedSpiffeId is { } expected)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri(expected.Value));
            request.CertificateExtensions.Add(names.Build(critical: true));
        }

        var csr = request.CreateSigningRequestPem();
        var pems = await _signer.SignAsync(csr, _options.RequestedTtl, cancellationToken).ConfigureAwait(false);
        return Accept(pems, key);
    }

    /// <summary>Checks an issued chain against the request's key and the trust bundle, and builds the identity.</summary>
    private WorkloadIdentity Accept(IReadOnlyList<string>? pems, ECDsa key)
    {
        var chain = new X509Certificate2Collection();
        try
        {
            foreach (var pem in pems ?? [])
            {
                chain.ImportFromPem(pem);
            }
        }
        catch (CryptographicException e)
        {
            throw Rejected($"a certificate of the chain cannot be read ({e.Message})");
        }

        if (chain.Count == 0)
        {
            throw Rejected("the response has no PEM certificate");
        }

        var leaf = chain[0];
        if (!leaf.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
        {
            throw Rejected($"the issued certificate '{Describe(leaf)}' is not for the key of the request (its public key differs)");
        }

        var last = chain[^1];
        var lastIsRoot = chain.Count > 1 && last.SubjectName.RawData.AsSpan().SequenceEqual(last.IssuerName.RawData);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < (lastIsRoot ? chain.Count - 1 : chain.Count); i++)
        {
            intermediates.Add(chain[i]);
        }

        string trustDomain;
        if (_options.TrustDomain is { } configured)
        {
            trustDomain = configured;
        }
        else if (SpiffeCertificates.TryGetSpiffeId(leaf, out var id, out var idError))
        {
            trustDomain = id.TrustDomain;
        }
        else
        {
            throw Rejected($"the issued certificate '{Describe(leaf)}' is not an X509-SVID: {idError}");
        }

        X509Certificate2Collection roots;
        if (_configuredRoots is not null)
        {
            roots = _configuredRoots;
        }
        else if (lastIsRoot)
        {
            roots = [last];
            if (!_trustOnFirstUseLogged)
            {
                _trustOnFirstUseLogged = true;
                Log.TrustOnFirstUse(_logger, _signer.Description, last.Subject, last.Thumbprint);
            }
        }
        else
        {
            throw Rejected("the chain does not end with a root certificate and no trusted root is configured; configure the mesh's root certificate");
        }

        var bundle = TrustBundle.ForTrustDomain(trustDomain, roots);
        var validation = SpiffeValidator.Validate(leaf, intermediates, bundle, _time.GetUtcNow());
        if (!validation.IsValid)
        {
            throw Rejected($"the issued certificate is not a valid X509-SVID of trust domain '{trustDomain}': {validation.Error}");
        }

        var withKey = SpiffeCertificates.WithUsableKey(leaf.CopyWithPrivateKey(key));
        return new WorkloadIdentity(withKey, intermediates, bundle);
    }

    private CertificateSigningException Rejected(string reason)
        => new($"{_signer.Description}: issued chain rejected: {reason}");

    private static string Describe(X509Certificate2 certificate)
        => SpiffeCertificates.TryGetSpiffeId(certificate, out var id, out _) ? id.Value : certificate.Subject;
}
