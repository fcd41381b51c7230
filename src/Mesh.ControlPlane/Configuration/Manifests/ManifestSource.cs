using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mesh.ControlPlane.Model;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Configuration.Manifests;

/// <summary>
/// Reads a directory of Kubernetes-style YAML manifests (<c>*.yaml</c>, <c>*.yml</c>, recursively, multi-document)
/// into the <see cref="IConfigStore"/> under <see cref="SourceId"/>, and keeps it there as files change.
/// A file applies as a whole: if any of its documents is invalid, the file keeps its last good state (a file
/// that never was good contributes nothing) and every problem is logged and listed in <see cref="Problems"/>.
/// </summary>
/// <remarks>
/// Changes are noticed by a <see cref="FileSystemWatcher"/> (debounced, because editors write in several steps)
/// and by a periodic rescan that compares content hashes, because the watcher misses events on some file
/// systems (network shares, container volumes, Kubernetes ConfigMap symlink swaps). Files and folders whose
/// names start with <c>.</c> are skipped: editors keep temporary files there, and a mounted ConfigMap holds
/// every file twice (once under its hidden <c>..data</c> folder).
/// <code>
/// var source = new ManifestSource("manifests", store, logger);
/// await source.StartAsync(cancellationToken); // the first read is done when this returns
/// </code>
/// </remarks>
public sealed partial class ManifestSource : IHostedService, IDisposable
{
    private readonly string _directory;
    private readonly IConfigStore _store;
    private readonly ILogger<ManifestSource> _logger;
    private readonly TimeProvider _time;
    private readonly Func<ConfigObject, IReadOnlyList<string>> _validate;

    // Reloads are serialized by _reloadLock; the fields below it are only touched while holding it.
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private readonly Dictionary<string, FileState> _files = new(StringComparer.Ordinal);
    private readonly HashSet<string> _loggedDuplicates = new(StringComparer.Ordinal);
    private IReadOnlyList<ConfigObject> _published = [];
    private bool _synced;
    private bool _directoryMissingLogged;

    // Watching state, guarded by _gate.
    private readonly Lock _gate = new();
    private readonly HashSet<string> _pendingPaths = new(StringComparer.Ordinal);
    private FileSystemWatcher? _watcher;
    private ITimer? _debounceTimer;
    private ITimer? _rescanTimer;
    private long _firstPendingTimestamp;
    private bool _pending;
    private bool _stopped;

    private volatile IReadOnlyList<ManifestProblem> _problems = [];

    /// <summary>Creates the source and registers it with the store, so readiness waits for its first read.</summary>
    /// <param name="directory">The manifest directory.</param>
    /// <param name="store">Where the objects go.</param>
    /// <param name="logger">Receives every problem, naming file, document, kind/name and field or line.</param>
    /// <param name="time">Drives the debounce and the rescan; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="validate">
    /// Checks one object of a known kind and returns its errors (each naming origin, kind/name, field and fix);
    /// <c>MeshConfigReader.Validate</c> by default, so a file is rejected for the same errors translation would report.
    /// </param>
    public ManifestSource(string directory, IConfigStore store, ILogger<ManifestSource> logger, TimeProvider? time = null, Func<ConfigObject, IReadOnlyList<string>>? validate = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(logger);
        _directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        _store = store;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _validate = validate ?? MeshConfigReader.Validate;
        SourceId = "manifests:" + _directory;
        _store.Register(SourceId);
    }

    /// <summary>The store's source id: <c>manifests:</c> and the full path of the directory.</summary>
    public string SourceId { get; }

    /// <summary>The directory's current problems (errors and warnings), in file and document order.</summary>
    public IReadOnlyList<ManifestProblem> Problems => _problems;

    /// <summary>How long the directory must be quiet after a file event before it is re-read.</summary>
    internal TimeSpan Debounce { get; init; } = TimeSpan.FromMilliseconds(75);

    /// <summary>The longest a stream of file events may postpone a re-read.</summary>
    internal TimeSpan MaxDebounce { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the directory is re-read regardless of file events.</summary>
    internal TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether a <see cref="FileSystemWatcher"/> is used (tests turn it off to exercise the rescan alone).</summary>
    internal bool WatchFileSystem { get; init; } = true;

    /// <summary>Full paths named by file events since the last debounced re-read (for tests).</summary>
    internal IReadOnlyCollection<string> PendingPaths
    {
        get
        {
            lock (_gate)
            {
                return [.. _pendingPaths];
            }
        }
    }

    /// <summary>Reads the whole directory once, then watches it.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(_directory))
        {
            throw new DirectoryNotFoundException(
                $"The manifest directory '{_directory}' does not exist. Create it (it may start empty) or pass the directory that holds your YAML manifests.");
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            _debounceTimer = _time.CreateTimer(static state => ((ManifestSource)state!).OnDebounceElapsed(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            if (WatchFileSystem)
            {
                StartWatcher_NeedsLock();
            }
        }

        // The watcher runs before the first read, so a change made during it is not lost.
        await ReloadAsync().ConfigureAwait(false);

        lock (_gate)
        {
            if (!_stopped)
            {
                _rescanTimer = _time.CreateTimer(static state => ((ManifestSource)state!).OnRescan(), this, RescanInterval, RescanInterval);
            }
        }
    }

    /// <summary>Stops watching; waits for a re-read in progress.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        StopWatching();
        await _reloadLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        _reloadLock.Release();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        StopWatching();
    }

    /// <summary>
    /// Re-reads the directory now: every file whose content changed is parsed and validated, deleted files
    /// lose their objects, and the store receives one <see cref="IConfigStore.Replace"/> if anything changed.
    /// </summary>
    public async Task ReloadAsync()
    {
        await _reloadLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await Reload_NeedsLockAsync().ConfigureAwait(false);
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    private async Task Reload_NeedsLockAsync()
    {
        List<(string Relative, string Full)> paths;
        try
        {
            paths = EnumerateManifestFiles();
            _directoryMissingLogged = false;
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            // A vanished directory (an unmounted volume) keeps the last state rather than deleting everything.
            if (!_directoryMissingLogged)
            {
                _directoryMissingLogged = true;
                Log.DirectoryUnreadable(_logger, _directory, ex.Message);
            }

            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (relative, full) in paths)
        {
            byte[] bytes;
            try
            {
                bytes = await File.ReadAllBytesAsync(full).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                continue; // Deleted since the listing: treated as deleted.
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Locked or mid-replace: keep what the file had and try again on the next event or rescan.
                seen.Add(relative);
                Log.FileUnreadable(_logger, relative, ex.Message);
                continue;
            }

            seen.Add(relative);
            var hash = SHA256.HashData(bytes);
            _files.TryGetValue(relative, out var previous);
            if (previous is not null && previous.Hash.AsSpan().SequenceEqual(hash))
            {
                if (previous.EmptySeen)
                {
                    _files[relative] = previous with { EmptySeen = false }; // The content came back: the empty read was a write in progress.
                }

                continue;
            }

            if (bytes.Length == 0 && previous is { Objects.Count: > 0, EmptySeen: false })
            {
                // Editors that rewrite in place truncate first: an empty read of a file that had objects is only
                // believed when it is still empty on the next read (shortly after, by the debounce timer).
                _files[relative] = previous with { EmptySeen = true };
                Log.EmptyFileDeferred(_logger, relative);
                ScheduleReload();
                continue;
            }

            _files[relative] = ReadFile(relative, bytes, hash, previous);
        }

        foreach (var relative in _files.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            Log.FileRemoved(_logger, relative, _files[relative].Objects.Count);
            _files.Remove(relative);
        }

        Publish_NeedsLock();
    }

    private FileState ReadFile(string relative, byte[] bytes, byte[] hash, FileState? previous)
    {
        var (objects, problems) = ParseFile(relative, Decode(bytes));
        var errors = problems.Count(static p => p.Severity == ManifestProblemSeverity.Error);
        foreach (var problem in problems)
        {
            if (problem.Severity == ManifestProblemSeverity.Error)
            {
                Log.DocumentError(_logger, problem.Message);
            }
            else
            {
                Log.DocumentWarning(_logger, problem.Message);
            }
        }

        if (errors == 0)
        {
            Log.FileLoaded(_logger, relative, objects.Count);
            return new FileState(hash, objects, problems);
        }

        if (previous is { Good: true })
        {
            Log.FileRejectedKeepingLastGood(_logger, relative, errors, previous.Objects.Count);
            return new FileState(hash, previous.Objects, problems) { Good = true };
        }

        Log.FileRejectedNeverGood(_logger, relative, errors);
        return new FileState(hash, [], problems) { Good = false };
    }

    private (IReadOnlyList<ConfigObject> Objects, IReadOnlyList<ManifestProblem> Problems) ParseFile(string relative, string text)
    {
        var objects = new List<ConfigObject>();
        var problems = new List<ManifestProblem>();
        var yaml = ManifestYaml.Parse(text);
        if (yaml.Error is { } syntax)
        {
            problems.Add(new ManifestProblem(relative, syntax.Document, ManifestProblemSeverity.Error,
                $"{Origin(relative, syntax.Document)}, line {Num(syntax.Line)}, column {Num(syntax.Column)}: YAML syntax error: {syntax.Message}"));
            return (objects, problems);
        }

        foreach (var document in yaml.Documents)
        {
            if (document.Root is null)
            {
                continue; // An empty document (a trailing '---', a comment-only section).
            }

            ReadDocument(relative, document, objects, problems);
        }

        return (objects, problems);
    }

    private void ReadDocument(string relative, ManifestYamlDocument document, List<ConfigObject> objects, List<ManifestProblem> problems)
    {
        var origin = Origin(relative, document.Number);
        void Error(string message) => problems.Add(new ManifestProblem(relative, document.Number, ManifestProblemSeverity.Error, message));
        string At(string field)
        {
            // A missing field is pointed at through its parent (the metadata: line for a missing metadata.name).
            var line = document.Line;
            for (var path = field; path.Length > 0; path = path.Contains('.', StringComparison.Ordinal) ? path[..path.LastIndexOf('.')] : string.Empty)
            {
                if (document.FieldLines.TryGetValue(path, out var found))
                {
                    line = found;
                    break;
                }
            }

            return $"{origin}, line {Num(line)}";
        }

        if (document.Root is not JsonObject root)
        {
            Error($"{origin}, line {Num(document.Line)}: the document is a {document.Root!.GetValueKind().ToString().ToLowerInvariant()}, not a mapping: a manifest must be an object with apiVersion, kind and metadata");
            return;
        }

        var apiVersion = ReadString(root, "apiVersion");
        var kind = ReadString(root, "kind");
        var metadata = root["metadata"] as JsonObject;
        var name = metadata is null ? null : ReadString(metadata, "name");
        var ns = metadata is null ? null : ReadString(metadata, "namespace");
        var identity = $"{kind ?? "?"} {(string.IsNullOrEmpty(ns) ? "default" : ns)}/{name ?? "?"}";

        var before = problems.Count;
        if (string.IsNullOrEmpty(apiVersion))
        {
            Error($"{At("apiVersion")}: {identity}: apiVersion is {Describe(root, "apiVersion")}: set it, e.g. apiVersion: v1 or networking.istio.io/v1");
        }

        if (string.IsNullOrEmpty(kind))
        {
            Error($"{At("kind")}: {identity}: kind is {Describe(root, "kind")}: set it, e.g. kind: Service");
        }

        if (problems.Count > before)
        {
            return;
        }

        if (!ManifestKinds.Known.TryGetValue(kind!, out var versions))
        {
            if (ManifestKinds.MisspelledCase(kind!) is { } known)
            {
                Error($"{At("kind")}: {identity}: kind '{kind}' is not a kind; kinds are case-sensitive: write kind: {known}");
            }
            else
            {
                problems.Add(new ManifestProblem(relative, document.Number, ManifestProblemSeverity.Warning, $"{origin}: kind {kind} is not used by Mesh; ignored"));
            }

            return;
        }

        if (!versions.Contains(apiVersion, StringComparer.Ordinal))
        {
            Error($"{At("apiVersion")}: {identity}: apiVersion '{apiVersion}' is not one Mesh reads for {kind}: use {string.Join(" or ", versions)}");
        }

        if (metadata is null)
        {
            Error($"{At("metadata")}: {identity}: metadata is {Describe(root, "metadata")}: add metadata with at least a name");
        }
        else
        {
            if (string.IsNullOrEmpty(name))
            {
                Error($"{At("metadata.name")}: {identity}: metadata.name is {Describe(metadata, "name")}: give the object a name");
            }

            if (metadata["namespace"] is not null && ns is null)
            {
                Error($"{At("metadata.namespace")}: {identity}: metadata.namespace is {Describe(metadata, "namespace")}: use a string or leave it out for 'default'");
            }
        }

        if (problems.Count > before)
        {
            return;
        }

        var configObject = new ConfigObject(apiVersion!, kind!, string.IsNullOrEmpty(ns) ? "default" : ns, name!, ToElement(root), origin);
        IReadOnlyList<string> errors;
        try
        {
            errors = _validate(configObject);
        }
#pragma warning disable CA1031 // A validator bug must reject this file, not stop the source.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            errors = [$"{origin}: {identity}: the validator failed: {ex.Message}"];
        }

        foreach (var error in errors)
        {
            Error(error.StartsWith(origin, StringComparison.Ordinal) ? error : $"{origin}: {identity}: {error}");
        }

        if (problems.Count > before)
        {
            return;
        }

        objects.Add(configObject);
    }

    private void Publish_NeedsLock()
    {
        var byKey = new Dictionary<ConfigKey, ConfigObject>();
        var objects = new List<ConfigObject>();
        var problems = new List<ManifestProblem>();
        var duplicates = new List<ManifestProblem>();
        foreach (var (relative, state) in _files.OrderBy(static f => f.Key, StringComparer.Ordinal))
        {
            problems.AddRange(state.Problems);
            foreach (var item in state.Objects)
            {
                if (byKey.TryGetValue(item.Key, out var first))
                {
                    duplicates.Add(new ManifestProblem(relative, DocumentNumber(item.Origin), ManifestProblemSeverity.Error,
                        $"{item.Origin}: {item.Key} is already defined in {first.Origin}; the first (in path order) is used: delete or rename one of them"));
                    continue;
                }

                byKey.Add(item.Key, item);
                objects.Add(item);
            }
        }

        foreach (var duplicate in duplicates)
        {
            if (_loggedDuplicates.Add(duplicate.Message))
            {
                Log.DocumentError(_logger, duplicate.Message);
            }
        }

        _loggedDuplicates.IntersectWith(duplicates.Select(static d => d.Message));
        problems.AddRange(duplicates);
        _problems = problems;

        if (!SameObjects(_published, objects))
        {
            _published = objects;
            _store.Replace(SourceId, objects);
        }

        if (!_synced)
        {
            _synced = true;
            _store.MarkSynced(SourceId);
            Log.Synced(_logger, _directory, objects.Count, _files.Count);
        }
    }

    private List<(string Relative, string Full)> EnumerateManifestFiles()
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 };
        var files = new List<(string Relative, string Full)>();
        foreach (var full in Directory.EnumerateFiles(_directory, "*", options))
        {
            if (!full.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) && !full.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var relative = Path.GetRelativePath(_directory, full).Replace(Path.DirectorySeparatorChar, '/');
            if (relative.Split('/').Any(static segment => segment.StartsWith('.')))
            {
                continue;
            }

            files.Add((relative, full));
        }

        files.Sort(static (a, b) => string.CompareOrdinal(a.Relative, b.Relative));
        return files;
    }

    private void StartWatcher_NeedsLock()
    {
        try
        {
            var watcher = new FileSystemWatcher(_directory)
            {
                IncludeSubdirectories = true,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            watcher.Changed += OnFileEvent;
            watcher.Created += OnFileEvent;
            watcher.Deleted += OnFileEvent;
            watcher.Renamed += OnFileEvent;
            watcher.Error += OnWatcherError;
            watcher.EnableRaisingEvents = true;
            _watcher = watcher;
        }
        catch (Exception ex) when (ex is IOException or PlatformNotSupportedException or ArgumentException)
        {
            // E.g. the inotify instance limit: the periodic rescan still notices every change, only later.
            Log.WatcherUnavailable(_logger, _directory, ex.Message, RescanInterval.TotalSeconds);
        }
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e) => ScheduleReload(e.FullPath);

    private void ScheduleReload(string? path = null)
    {
        lock (_gate)
        {
            if (_stopped || _debounceTimer is null)
            {
                return;
            }

            if (path is not null)
            {
                _pendingPaths.Add(path);
            }

            var now = _time.GetTimestamp();
            if (!_pending)
            {
                _pending = true;
                _firstPendingTimestamp = now;
            }

            // Each event restarts the quiet period, but a steady stream of events cannot postpone the re-read forever.
            var waited = _time.GetElapsedTime(_firstPendingTimestamp, now);
            _debounceTimer.Change(waited >= MaxDebounce ? TimeSpan.Zero : Debounce, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnWatcherError(object sender, ErrorEventArgs e)
    {
        Log.WatcherError(_logger, _directory, e.GetException().Message);
        ReloadInBackground();
    }

    private void OnDebounceElapsed()
    {
        lock (_gate)
        {
            _pending = false;
            _pendingPaths.Clear();
        }

        ReloadInBackground();
    }

    private void OnRescan()
    {
        // A re-read already running (or queued) will see the same files.
        if (_reloadLock.CurrentCount > 0)
        {
            ReloadInBackground();
        }
    }

    private void ReloadInBackground() => _ = ReloadInBackgroundAsync();

    private async Task ReloadInBackgroundAsync()
    {
        if (Volatile.Read(ref _stopped))
        {
            return;
        }

        try
        {
            await ReloadAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A failed background re-read is logged; the next event or rescan retries.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.ReloadFailed(_logger, _directory, ex);
        }
    }

    private void StopWatching()
    {
        FileSystemWatcher? watcher;
        ITimer? debounce;
        ITimer? rescan;
        lock (_gate)
        {
            _stopped = true;
            watcher = _watcher;
            debounce = _debounceTimer;
            rescan = _rescanTimer;
            _watcher = null;
            _debounceTimer = null;
            _rescanTimer = null;
        }

        watcher?.Dispose();
        debounce?.Dispose();
        rescan?.Dispose();
    }

    private static bool SameObjects(IReadOnlyList<ConfigObject> a, List<ConfigObject> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (a[i].ApiVersion != b[i].ApiVersion || a[i].Key != b[i].Key || a[i].Origin != b[i].Origin || a[i].Body.GetRawText() != b[i].Body.GetRawText())
            {
                return false;
            }
        }

        return true;
    }

    private static string Decode(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private static JsonElement ToElement(JsonNode node)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            node.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    private static string? ReadString(JsonObject parent, string name) =>
        parent[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    private static string Describe(JsonObject parent, string name) => parent.TryGetPropertyValue(name, out var value) switch
    {
        false => "missing",
        true when value is null => "null",
        true when value.GetValueKind() == JsonValueKind.String => "empty",
        _ => $"a {value!.GetValueKind().ToString().ToLowerInvariant()} ({value.ToJsonString()}), not a string",
    };

    private static string Origin(string relative, int document) => $"{relative}, document {document.ToString(CultureInfo.InvariantCulture)}";

    private static int? DocumentNumber(string origin)
    {
        var at = origin.LastIndexOf(", document ", StringComparison.Ordinal);
        return at >= 0 && int.TryParse(origin.AsSpan(at + ", document ".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : null;
    }

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>What one file contributes: its content hash, its last good objects, and its current problems.</summary>
    private sealed record FileState(byte[] Hash, IReadOnlyList<ConfigObject> Objects, IReadOnlyList<ManifestProblem> Problems)
    {
        /// <summary>Whether <see cref="Objects"/> came from a version of the file that was valid.</summary>
        public bool Good { get; init; } = true;

        /// <summary>Whether the file was read empty once and that read was not yet believed.</summary>
        public bool EmptySeen { get; init; }
    }
}
