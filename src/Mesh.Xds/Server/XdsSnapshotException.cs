namespace Mesh.Xds.Server;

/// <summary>
/// <see cref="XdsSnapshotCache.SetSnapshot"/> rejected an inconsistent snapshot; the previous snapshot of the key stays
/// in force. <see cref="Problems"/> lists every dangling reference found.
/// </summary>
public sealed class XdsSnapshotException : Exception
{
    /// <summary>Creates the exception for the snapshot <paramref name="snapshotVersion"/> of <paramref name="key"/>.</summary>
    public XdsSnapshotException(string key, string snapshotVersion, string? keptVersion, IReadOnlyList<string> problems)
        : base(FormatMessage(key, snapshotVersion, keptVersion, problems))
    {
        Key = key;
        SnapshotVersion = snapshotVersion;
        Problems = problems;
    }

    /// <summary>The snapshot key (node id or group) the snapshot was set for.</summary>
    public string Key { get; }

    /// <summary>The rejected snapshot's version.</summary>
    public string SnapshotVersion { get; }

    /// <summary>Every problem found, one per entry.</summary>
    public IReadOnlyList<string> Problems { get; }

    internal static string FormatMessage(string key, string snapshotVersion, string? keptVersion, IReadOnlyList<string> problems)
    {
        var kept = keptVersion is null ? "no snapshot is set for it yet" : $"snapshot '{keptVersion}' stays in force";
        return $"xDS snapshot '{snapshotVersion}' for '{key}' is inconsistent ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}); {kept}:{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", problems)}";
    }
}
