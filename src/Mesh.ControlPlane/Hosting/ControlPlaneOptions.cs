using System.Globalization;
using System.Net;
using Mesh.ControlPlane.Configuration;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Hosting;

/// <summary>What the control plane reads and where it listens (the command line of DESIGN 4.4).</summary>
public sealed class ControlPlaneOptions
{
    /// <summary>The default xDS address.</summary>
    public const string DefaultXdsListen = "127.0.0.1:18000";

    /// <summary>The default admin address.</summary>
    public const string DefaultAdminListen = "127.0.0.1:18001";

    /// <summary>A directory of YAML manifests to read and watch (<c>--manifests DIR</c>).</summary>
    public string? ManifestsDirectory { get; set; }

    /// <summary>A kubeconfig file to watch a cluster with (<c>--kubeconfig FILE</c>).</summary>
    public string? KubeconfigPath { get; set; }

    /// <summary>Watch the cluster the process runs in (<c>--in-cluster</c>).</summary>
    public bool InCluster { get; set; }

    /// <summary>The xDS (gRPC, HTTP/2 without TLS) address, <c>IP:PORT</c>; port 0 picks a free one.</summary>
    public string XdsListen { get; set; } = DefaultXdsListen;

    /// <summary>The admin (HTTP/1.1) address, <c>IP:PORT</c>; port 0 picks a free one.</summary>
    public string AdminListen { get; set; } = DefaultAdminListen;

    /// <summary>The quiet period before a change is translated.</summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest a change waits for a quiet period.</summary>
    public TimeSpan MaxDebounce { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The store to translate; a new one when null (tests and embedders put objects in it directly).</summary>
    public IConfigStore? Store { get; set; }

    /// <summary>Further settings of the Kubernetes source (namespaces, idle watchdog, backoff), applied after the kubeconfig ones.</summary>
    public Action<Configuration.Kubernetes.KubernetesSourceOptions>? ConfigureKubernetes { get; set; }

    /// <summary>Where logs go; none when null.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Reads the command line; returns the error to print, or null.</summary>
    public static string? TryParse(IReadOnlyList<string> args, out ControlPlaneOptions options)
    {
        ArgumentNullException.ThrowIfNull(args);
        options = new ControlPlaneOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            try
            {
                switch (arg)
                {
                    case "--manifests": options.ManifestsDirectory = Value(); break;
                    case "--kubeconfig": options.KubeconfigPath = Value(); break;
                    case "--in-cluster": options.InCluster = true; break;
                    case "--xds-listen": options.XdsListen = Value(); break;
                    case "--admin-listen": options.AdminListen = Value(); break;
                    default: return $"unknown argument '{arg}'. {Usage}";
                }
            }
            catch (ArgumentException ex)
            {
                return $"{ex.Message}. {Usage}";
            }
        }

        return options.Validate();
    }

    /// <summary>The command line's summary.</summary>
    public const string Usage = "Usage: Mesh.ControlPlane --manifests DIR [--kubeconfig FILE | --in-cluster] [--xds-listen 127.0.0.1:18000] [--admin-listen 127.0.0.1:18001]";

    /// <summary>Checks the options; returns the error, or null.</summary>
    public string? Validate()
    {
        if (ManifestsDirectory is null && KubeconfigPath is null && !InCluster && Store is null)
        {
            return $"give a source: --manifests DIR, --kubeconfig FILE or --in-cluster. {Usage}";
        }

        if (KubeconfigPath is not null && InCluster)
        {
            return $"give either --kubeconfig or --in-cluster, not both. {Usage}";
        }

        foreach (var (name, value) in (ReadOnlySpan<(string, string)>)[("--xds-listen", XdsListen), ("--admin-listen", AdminListen)])
        {
            if (!IPEndPoint.TryParse(value, out var endpoint) || endpoint.Port is < 0 or > 65535 || !value.Contains(':', StringComparison.Ordinal))
            {
                return string.Create(CultureInfo.InvariantCulture, $"{name} = {value}: must be IP:PORT, e.g. 127.0.0.1:18000");
            }
        }

        return null;
    }
}
