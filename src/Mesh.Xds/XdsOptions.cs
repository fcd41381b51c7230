using System.Globalization;
using Mesh.Xds.Resources;
using Microsoft.Extensions.Options;

namespace Mesh.Xds;

/// <summary>
/// How the mesh follows an xDS server: which services (targets) to follow, the bootstrap naming the server, and
/// the time limits. Used by <c>AddXds</c>.
/// </summary>
/// <example>
/// <code>
/// services.AddMesh().AddXds(o => o.Targets.Add("backend.shop.svc.cluster.local:8080"));
/// </code>
/// </example>
public sealed class XdsOptions
{
    /// <summary>
    /// The services to follow, each as <c>host:port</c> (the listener name a gRPC client asks for with
    /// <c>xds:///host:port</c>), e.g. <c>backend.shop.svc.cluster.local:8080</c>. Requests to the host, and to the
    /// exact domains of its virtual host, are routed by the mesh. Hosts must be distinct.
    /// </summary>
    public List<string> Targets { get; } = [];

    /// <summary>
    /// The gRPC xDS bootstrap as JSON. When omitted, the file named by <c>GRPC_XDS_BOOTSTRAP</c> or the JSON in
    /// <c>GRPC_XDS_BOOTSTRAP_CONFIG</c> is used.
    /// </summary>
    public string? Bootstrap { get; set; }

    /// <summary>
    /// Certificate provider instance names the application provides itself (gRFC A29), beside the bootstrap's
    /// <c>certificate_providers</c>, e.g. <c>default</c> for the identity issued by the mesh's CA (the name Istio uses
    /// for proxyless gRPC). A cluster's <c>UpstreamTlsContext</c> may name these; every name stands for the
    /// application's one workload identity (its certificate and trust bundle). Names must be non-empty.
    /// </summary>
    public List<string> CertificateProviderInstances { get; } = [];

    /// <summary>
    /// Set by <c>AddXdsServerPolicy</c>: the application follows its own server listener, so it may have no
    /// <see cref="Targets"/> (a server that calls no mesh service).
    /// </summary>
    internal bool ServesOnly { get; set; }

    /// <summary>How long a requested resource may stay unanswered before it counts as not existing. Default 15 s (the xDS protocol's).</summary>
    public TimeSpan ResourceDoesNotExistTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long the host's start waits for the first complete configuration. Default 10 s; when it expires a warning
    /// is logged and the host starts anyway. <see cref="TimeSpan.Zero"/> does not wait.
    /// </summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Validates <see cref="XdsOptions"/>, naming every problem.</summary>
internal sealed class XdsOptionsValidator : IValidateOptions<XdsOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, XdsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        _ = ParseTargets(options, errors);
        if (options.ResourceDoesNotExistTimeout <= TimeSpan.Zero)
        {
            errors.Add($"Xds:ResourceDoesNotExistTimeout = {options.ResourceDoesNotExistTimeout.ToString("c", CultureInfo.InvariantCulture)}: must be a positive duration (the xDS protocol's is 00:00:15)");
        }

        for (var i = 0; i < options.CertificateProviderInstances.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(options.CertificateProviderInstances[i]))
            {
                errors.Add($"Xds:CertificateProviderInstances[{i.ToString(CultureInfo.InvariantCulture)}]: is empty; name the instance as clusters refer to it, e.g. \"default\"");
            }
        }

        if (options.StartupTimeout < TimeSpan.Zero)
        {
            errors.Add($"Xds:StartupTimeout = {options.StartupTimeout.ToString("c", CultureInfo.InvariantCulture)}: must be zero (do not wait) or a positive duration, e.g. 00:00:10");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Parses the targets, adding a message per invalid or clashing one.</summary>
    internal static List<XdsTarget> ParseTargets(XdsOptions options, List<string> errors)
    {
        var targets = new List<XdsTarget>();
        if (options.Targets.Count == 0 && !options.ServesOnly)
        {
            errors.Add("Xds:Targets: is empty; add the services to follow, e.g. o.Targets.Add(\"backend.shop.svc.cluster.local:8080\")");
        }

        var hosts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Targets.Count; i++)
        {
            var value = options.Targets[i];
            if (!XdsTarget.TryParse(value, out var target, out var error))
            {
                errors.Add($"Xds:Targets[{i.ToString(CultureInfo.InvariantCulture)}] = '{value}': {error}");
                continue;
            }

            if (hosts.TryGetValue(target.Host, out var other))
            {
                errors.Add($"Xds:Targets[{i.ToString(CultureInfo.InvariantCulture)}] = '{value}': has the same host as '{other}'; the mesh keys services by host, so follow one port per host");
                continue;
            }

            hosts[target.Host] = value;
            targets.Add(target);
        }

        return targets;
    }
}
