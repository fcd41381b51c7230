namespace Mesh.Xds.Client;

/// <summary>
/// The xDS bootstrap is missing or invalid. The message names where the bootstrap came from (an option, the
/// <c>GRPC_XDS_BOOTSTRAP</c> file, the <c>GRPC_XDS_BOOTSTRAP_CONFIG</c> variable), the JSON path of every problem
/// and how to fix it; <see cref="Errors"/> lists the problems one by one.
/// </summary>
public sealed class XdsBootstrapException : Exception
{
    /// <summary>Creates the exception from the problems found in one bootstrap source.</summary>
    public XdsBootstrapException(string source, IReadOnlyList<string> errors)
        : base(FormatMessage(source, errors))
    {
        ArgumentNullException.ThrowIfNull(errors);
        BootstrapSource = source;
        Errors = errors;
    }

    /// <summary>Where the bootstrap came from, e.g. <c>GRPC_XDS_BOOTSTRAP file '/etc/xds/bootstrap.json'</c>.</summary>
    public string BootstrapSource { get; }

    /// <summary>Every problem found, each as <c>json.path: problem and fix</c>.</summary>
    public IReadOnlyList<string> Errors { get; }

    private static string FormatMessage(string source, IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return errors.Count == 1
            ? $"{source}: {errors[0]}"
            : $"{source}: {errors.Count} problems:{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", errors)}";
    }
}
