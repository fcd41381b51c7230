namespace Mesh.ControlPlane.Configuration.Manifests;

/// <summary>How serious a <see cref="ManifestProblem"/> is.</summary>
public enum ManifestProblemSeverity
{
    /// <summary>The document was ignored on purpose (e.g. a kind Mesh does not use); the file still applies.</summary>
    Warning,

    /// <summary>The file (or, for a duplicate, the object) does not apply; its last good state is kept.</summary>
    Error,
}

/// <summary>One current problem of the manifest directory, for the admin page and logs.</summary>
/// <param name="File">The file, relative to the manifest directory, with <c>/</c> separators.</param>
/// <param name="Document">The 1-based document number within the file; <see langword="null"/> for the whole file.</param>
/// <param name="Severity">Whether the file still applies (<see cref="ManifestProblemSeverity.Warning"/>) or not.</param>
/// <param name="Message">The whole message: origin, kind/name, field or line, and the fix.</param>
public sealed record ManifestProblem(string File, int? Document, ManifestProblemSeverity Severity, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Severity}: {Message}";
}
