using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Identity;

/// <summary>
/// gRPC's <c>file_watcher</c> certificate provider (gRFC A29): reads the certificate chain, its private key and
/// the trusted roots from PEM files, and reads them again every refresh interval. A new identity is published only
/// when the content changed; files that cannot be read, or a key that does not match the certificate (a
/// half-finished update), keep the last good identity and set <see cref="LastError"/> naming the file. Starts
/// with the host, or on the first <see cref="WaitForIdentityAsync"/>; the first read happens at start.
/// </summary>
internal sealed partial class FileWatcherIdentityProvider : IWorkloadIdentityProvider, IHostedService, IDisposable
{
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";

    private readonly FileWatcherIdentityOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly WorkloadIdentityState _state = new();
    private readonly Lock _lock = new();
    private ITimer? _timer;
    private bool _started;
    private bool _stopped;
    private FileContents? _lastRead;
    private FileContents? _published;

    public FileWatcherIdentityProvider(FileWatcherIdentityOptions options, TimeProvider time, ILogger<FileWatcherIdentityProvider> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options;
        _time = time;
        _logger = logger;
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

    /// <summary>Reads the files now and every refresh interval after (once; later calls do nothing).</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_started || _stopped)
            {
                return;
            }

            _started = true;
            Refresh_NeedsLock();
            _timer = _time.CreateTimer(static state => ((FileWatcherIdentityProvider)state!).Refresh(), this, _options.RefreshInterval, _options.RefreshInterval);
        }
    }

    /// <inheritdoc/>
    Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    Task IHostedService.StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_lock)
        {
            _stopped = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>Reads the files and publishes their identity if it is new and valid.</summary>
    internal void Refresh()
    {
        lock (_lock)
        {
            if (!_stopped)
            {
                Refresh_NeedsLock();
            }
        }
    }

    private void Refresh_NeedsLock()
    {
        var certificateFile = _options.CertificateFile!;
        var keyFile = _options.PrivateKeyFile!;
        var caFile = _options.CaCertificateFile!;
        if (!TryRead(certificateFile, "certificate_file", out var certificatePem, out var error)
            || !TryRead(keyFile, "private_key_file", out var keyPem, out error)
            || !TryRead(caFile, "ca_certificate_file", out var caPem, out error))
        {
            // Unreadable now: the next refresh tries again even if the content turns out to be the same as before.
            _lastRead = null;
            Fail(error);
            return;
        }

        var contents = new FileContents(certificatePem, keyPem, caPem);
        if (contents.Equals(_lastRead))
        {
            return;
        }

        _lastRead = contents;
        if (contents.Equals(_published))
        {
            // Back to what is in use after a failed read: nothing changed.
            _state.SetError(null);
            return;
        }

        if (!TryBuild(contents, out var identity, out error))
        {
            Fail(error);
            return;
        }

        _published = contents;
        Log.Loaded(_logger, identity.SpiffeId?.Value ?? identity.Certificate.Subject, certificateFile, identity.NotAfter);
        _state.Publish(identity, e => Log.ChangedHandlerFailed(_logger, e));
    }

    private void Fail(string error)
    {
        if (string.Equals(error, _state.LastError, StringComparison.Ordinal))
        {
            return;
        }

        _state.SetError(error);
        if (_state.Current is { } current)
        {
            Log.ReadFailedKeepingCurrent(_logger, error, current.SpiffeId?.Value ?? current.Certificate.Subject, current.NotAfter);
        }
        else
        {
            Log.ReadFailedWithoutIdentity(_logger, error);
        }
    }

    private static bool TryRead(string path, string option, out string content, out string error)
    {
        try
        {
            content = File.ReadAllText(path);
            error = string.Empty;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            content = string.Empty;
            error = $"{option} '{path}' cannot be read: {e.Message}";
            return false;
        }
    }

    private bool TryBuild(FileContents contents, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out WorkloadIdentity? identity, out string error)
    {
        identity = null;
        var certificateFile = _options.CertificateFile!;
        var keyFile = _options.PrivateKeyFile!;
        var caFile = _options.CaCertificateFile!;
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPem(contents.CertificatePem);
        }
        catch (CryptographicException e)
        {
            error = $"certificate_file '{certificateFile}' has a certificate that cannot be read: {e.Message}";
            return false;
        }

        if (chain.Count == 0)
        {
            error = $"certificate_file '{certificateFile}' has no PEM certificate (expected '-----BEGIN CERTIFICATE-----' blocks)";
            return false;
        }

        X509Certificate2 leaf;
        var isEc = chain[0].GetKeyAlgorithm() == EcPublicKeyOid;
        using (AsymmetricAlgorithm key = isEc ? ECDsa.Create() : RSA.Create())
        {
            try
            {
                key.ImportFromPem(contents.PrivateKeyPem);
            }
            catch (ArgumentException)
            {
                error = $"private_key_file '{keyFile}' has no PEM private key of the certificate's type ({(isEc ? "ECDSA" : "RSA")}; expected a 'PRIVATE KEY', '{(isEc ? "EC" : "RSA")} PRIVATE KEY' block)";
                return false;
            }
            catch (CryptographicException e)
            {
                error = $"private_key_file '{keyFile}' has a private key that cannot be read ({e.Message})";
                return false;
            }

            try
            {
                leaf = isEc ? chain[0].CopyWithPrivateKey((ECDsa)key) : chain[0].CopyWithPrivateKey((RSA)key);
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                // A certificate and key from different updates: the files are being replaced one after the other.
                error = $"private_key_file '{keyFile}' does not hold the key of the certificate in certificate_file '{certificateFile}'; replace both files together (e.g. by swapping a symlinked directory)";
                return false;
            }
        }

        leaf = SpiffeCertificates.WithUsableKey(leaf);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        var trustDomain = _options.TrustDomain;
        if (trustDomain is null)
        {
            if (!SpiffeCertificates.TryGetSpiffeId(leaf, out var id, out var idError))
            {
                error = $"certificate_file '{certificateFile}': the trust domain cannot be taken from the certificate ({idError}); set TrustDomain";
                return false;
            }

            trustDomain = id.TrustDomain;
        }

        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPem(contents.CaPem);
        }
        catch (CryptographicException e)
        {
            error = $"ca_certificate_file '{caFile}' has a certificate that cannot be read: {e.Message}";
            return false;
        }

        if (roots.Count == 0)
        {
            error = $"ca_certificate_file '{caFile}' has no PEM certificate (expected '-----BEGIN CERTIFICATE-----' blocks)";
            return false;
        }

        identity = new WorkloadIdentity(leaf, intermediates, TrustBundle.ForTrustDomain(trustDomain, roots));
        error = string.Empty;
        return true;
    }

    private sealed record FileContents(string CertificatePem, string PrivateKeyPem, string CaPem);
}
