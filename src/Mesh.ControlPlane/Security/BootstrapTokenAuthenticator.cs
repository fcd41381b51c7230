using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Mesh.Identity;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Authenticates callers by tokens listed in a file (for manifest mode, where there is no API server to ask), one per
/// line: <c>&lt;token&gt; &lt;namespace&gt; &lt;serviceAccount&gt;</c>; <c>#</c> starts a comment line, blank lines are
/// ignored. Only SHA-256 hashes are kept and compared in constant time. The file is checked on each call (one stat) and
/// re-read when it changed; a file that no longer parses keeps the previous tokens (logged), a deleted file revokes all.
/// </summary>
internal sealed partial class BootstrapTokenAuthenticator : ICallerAuthenticator
{
    /// <summary>The authenticator's name.</summary>
    public const string AuthenticatorName = "bootstrap-token";

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Lock _reloadGate = new();
    private volatile TokenTable _table;

    private BootstrapTokenAuthenticator(string path, TokenTable table, ILogger logger)
    {
        _path = path;
        _table = table;
        _logger = logger;
    }

    public string Name => AuthenticatorName;

    /// <summary>The file's full path.</summary>
    public string Path => _path;

    /// <summary>How many tokens are in force.</summary>
    public int Count => _table.Entries.Length;

    /// <summary>Reads the file; throws when it is missing or has a bad line (every one is named).</summary>
    /// <exception cref="CertificateAuthorityException">The file is missing or has bad lines.</exception>
    public static BootstrapTokenAuthenticator Load(string path, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(logger);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new CertificateAuthorityException(
                $"The bootstrap tokens file {full} (--bootstrap-tokens) does not exist: create it with one line per workload, '<token> <namespace> <serviceAccount>'.");
        }

        var table = Read(full, out var errors);
        if (errors.Count > 0)
        {
            throw new CertificateAuthorityException($"The bootstrap tokens file {full} (--bootstrap-tokens) has bad lines:{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", errors)}");
        }

        Log.Loaded(logger, full, table.Entries.Length);
        return new BootstrapTokenAuthenticator(full, table, logger);
    }

    public ValueTask<CallerIdentityResult> AuthenticateAsync(CallerCredentials credentials, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        var table = Current();
        if (credentials.BearerToken is not { } token)
        {
            return ValueTask.FromResult(CallerIdentityResult.Rejected("no bearer token: send 'authorization: Bearer <token>' metadata with the workload's token from the control plane's bootstrap tokens file"));
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        Entry? match = null;

        // Every entry is compared, so the time taken does not tell how close a guess was or which line matched.
        foreach (var entry in table.Entries)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, entry.Hash) && match is null)
            {
                match = entry;
            }
        }

        return ValueTask.FromResult(match is null
            ? CallerIdentityResult.Rejected("the bearer token is not valid: it is not in the control plane's bootstrap tokens file")
            : CallerIdentityResult.Authenticated(match.Namespace, match.ServiceAccount));
    }

    private TokenTable Current()
    {
        var table = _table;
        var stamp = Stamp(_path);
        if (stamp == table.Stamp)
        {
            return table;
        }

        lock (_reloadGate)
        {
            table = _table;
            if (stamp == table.Stamp)
            {
                return table;
            }

            if (stamp is null)
            {
                Log.FileGone(_logger, _path);
                _table = table = new TokenTable(null, []);
                return table;
            }

            TokenTable read;
            List<string> errors;
            try
            {
                read = Read(_path, out errors);
            }
            catch (IOException ex)
            {
                // Being rewritten: the next call tries again, the old tokens serve meanwhile.
                Log.ReloadFailed(_logger, _path, ex.Message);
                return table;
            }

            if (errors.Count > 0)
            {
                Log.ReloadRejected(_logger, _path, string.Join("; ", errors));
                _table = table = table with { Stamp = read.Stamp };
                return table;
            }

            Log.Reloaded(_logger, _path, read.Entries.Length);
            _table = read;
            return read;
        }
    }

    private static (DateTime, long)? Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : null;
    }

    private static TokenTable Read(string path, out List<string> errors)
    {
        errors = [];
        var stamp = Stamp(path);
        var entries = new List<Entry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var where = string.Create(CultureInfo.InvariantCulture, $"line {i + 1}");
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 3)
            {
                errors.Add($"{where} has {fields.Length} fields: write '<token> <namespace> <serviceAccount>' separated by spaces");
                continue;
            }

            var (token, ns, serviceAccount) = (fields[0], fields[1], fields[2]);
            if (!SpiffeId.TryParse($"spiffe://{CertificateAuthorityOptions.DefaultTrustDomain}/ns/{ns}/sa/{serviceAccount}", out var id, out var idError)
                || id.Namespace != ns || id.ServiceAccount != serviceAccount)
            {
                errors.Add($"{where}: namespace '{ns}' / service account '{serviceAccount}' cannot form a SPIFFE ID ({idError ?? "each must be one path segment, without '/'"})");
                continue;
            }

            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
            if (!seen.Add(Convert.ToHexString(hash)))
            {
                errors.Add($"{where} repeats the token of an earlier line: every workload needs its own token");
                continue;
            }

            entries.Add(new Entry(hash, ns, serviceAccount));
        }

        return new TokenTable(stamp, [.. entries]);
    }

    private sealed record Entry(byte[] Hash, string Namespace, string ServiceAccount);

    private sealed record TokenTable((DateTime, long)? Stamp, Entry[] Entries);
}
