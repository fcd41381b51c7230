namespace Mesh.Configuration;

/// <summary>
/// The mesh configuration is invalid. <see cref="Errors"/> lists every problem, each naming the path,
/// the value and what would be valid.
/// </summary>
public sealed class MeshConfigurationException : Exception
{
    /// <summary>Creates the exception from the list of problems.</summary>
    public MeshConfigurationException(string source, IReadOnlyList<string> errors)
        : base(FormatMessage(source, errors))
    {
        Errors = errors;
    }

    /// <summary>Every problem found, one per entry.</summary>
    public IReadOnlyList<string> Errors { get; }

    internal static string FormatMessage(string source, IReadOnlyList<string> errors) =>
        $"The mesh configuration from {source} is invalid ({errors.Count} error{(errors.Count == 1 ? "" : "s")}):{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", errors)}";
}
