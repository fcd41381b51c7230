using System.Globalization;
using System.Net;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Security;
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

    /// <summary>The DNS names the xDS port's TLS certificate is for when none are given: the Service in <c>deploy/</c>, and localhost.</summary>
    public static readonly IReadOnlyList<string> DefaultXdsTlsNames = ["mesh-control-plane.mesh-system.svc", "mesh-control-plane.mesh-system.svc.cluster.local", "localhost"];

    /// <summary>Serve the xDS and CA port with TLS, with a certificate the control plane's CA issues to itself (needs the CA).</summary>
    public bool XdsTls { get; set; }

    /// <summary>The DNS names of the xDS port's certificate; <see cref="DefaultXdsTlsNames"/> when empty. The listen address is added as an IP name.</summary>
    public List<string> XdsTlsNames { get; } = [];

    /// <summary>The cluster the workloads run in (Istio's cluster ID), named in the endpoints' telemetry metadata.</summary>
    public string ClusterId { get; set; } = Translation.XdsTranslator.DefaultClusterId;

    /// <summary>The quiet period before a change is translated.</summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest a change waits for a quiet period.</summary>
    public TimeSpan MaxDebounce { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The store to translate; a new one when null (tests and embedders put objects in it directly).</summary>
    public IConfigStore? Store { get; set; }

    /// <summary>Further settings of the Kubernetes source (namespaces, idle watchdog, backoff), applied after the kubeconfig ones.</summary>
    public Action<Configuration.Kubernetes.KubernetesSourceOptions>? ConfigureKubernetes { get; set; }

    /// <summary>The certificate authority (<c>--ca</c> and the <c>--ca-*</c> flags); off unless enabled.</summary>
    public CertificateAuthorityOptions Ca { get; } = new();

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
                    case "--ca": options.Ca.Enabled = true; break;
                    case "--ca-dir": options.Ca.CertificatesDirectory = Value(); break;
                    case "--ca-secret": SetSecret(options.Ca, Value()); break;
                    case "--trust-domain": options.Ca.TrustDomain = Value(); break;
                    case "--cluster-id": options.ClusterId = Value(); break;
                    case "--xds-tls": options.XdsTls = true; break;
                    case "--xds-tls-names": options.XdsTlsNames.AddRange(Value().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)); break;
                    case "--ca-default-ttl": options.Ca.DefaultTtl = Duration(arg, Value()); break;
                    case "--ca-max-ttl": options.Ca.MaxTtl = Duration(arg, Value()); break;
                    case "--ca-token-audiences": SetAudiences(options.Ca, Value()); break;
                    case "--bootstrap-tokens": options.Ca.BootstrapTokensFile = Value(); break;
                    case "--insecure-dev-identities": options.Ca.InsecureDevelopmentIdentities = true; break;
                    default: return $"unknown argument '{arg}'. {Usage}";
                }
            }
            catch (ArgumentException ex)
            {
                return $"{ex.Message}. {Usage}";
            }
        }

        return options.Validate();

        static TimeSpan Duration(string flag, string value) =>
            CertificateAuthorityOptions.TryParseDuration(value, out var duration)
                ? duration
                : throw new ArgumentException($"{flag} = {value}: must be a duration such as 3600s, 30m, 24h or 90d");

        static void SetSecret(CertificateAuthorityOptions ca, string value)
        {
            var slash = value.IndexOf('/', StringComparison.Ordinal);
            if (slash == 0 || slash == value.Length - 1 || value.Length == 0 || value.IndexOf('/', slash + 1) >= 0)
            {
                throw new ArgumentException($"--ca-secret = {value}: must be NAME or NAMESPACE/NAME, e.g. istio-system/cacerts");
            }

            (ca.KubernetesSecretNamespace, ca.KubernetesSecretName) = slash < 0 ? (ca.KubernetesSecretNamespace, value) : (value[..slash], value[(slash + 1)..]);
        }

        static void SetAudiences(CertificateAuthorityOptions ca, string value)
        {
            ca.TokenAudiences.Clear();
            foreach (var audience in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                ca.TokenAudiences.Add(audience);
            }
        }
    }

    /// <summary>The command line's summary.</summary>
    public const string Usage = "Usage: Mesh.ControlPlane --manifests DIR [--kubeconfig FILE | --in-cluster] [--xds-listen 127.0.0.1:18000] [--admin-listen 127.0.0.1:18001] [--xds-tls [--xds-tls-names NAMES]] [--cluster-id Kubernetes] "
                                + "[--ca [--ca-dir DIR | --ca-secret [NAMESPACE/]NAME] [--trust-domain cluster.local] [--ca-default-ttl 24h] [--ca-max-ttl 90d] "
                                + "[--bootstrap-tokens FILE | --insecure-dev-identities] [--ca-token-audiences istio-ca]] (--help explains each)";

    /// <summary>The command line, flag by flag (<c>--help</c>).</summary>
    public const string Help = """
        Usage: Mesh.ControlPlane [options]

        Sources (at least one):
          --manifests DIR               read and watch a directory of YAML manifests
          --kubeconfig FILE             watch the cluster of a kubeconfig file
          --in-cluster                  watch the cluster the process runs in (its service account)

        Listeners:
          --xds-listen IP:PORT          the xDS gRPC address (default 127.0.0.1:18000; port 0 picks one)
          --admin-listen IP:PORT        the admin HTTP address (default 127.0.0.1:18001): /healthz, /readyz,
                                        /debug/config_dump, /debug/clients, /metrics, /ca/root-cert.pem (with --ca)
          --xds-tls                     serve the xDS and CA port with TLS, with a certificate the CA issues to the
                                        control plane itself (renewed at half its 24 h life; needs --ca); clients trust
                                        the mesh's root: bootstrap channel_creds [{"type": "tls", "config":
                                        {"ca_certificate_file": "root-cert.pem"}}]
          --xds-tls-names NAMES         the certificate's DNS names, comma-separated (default: the Service of
                                        deploy/, mesh-control-plane.mesh-system.svc[.cluster.local], and
                                        localhost); the listen IP is added (127.0.0.1 and ::1 for 0.0.0.0)

        Telemetry:
          --cluster-id NAME             the cluster the workloads run in, sent in each endpoint's workload metadata
                                        for the destination_cluster label of Istio's metrics (default Kubernetes)

        Certificate authority (Istio's IstioCertificateService, served on the xDS port):
          --ca                          serve the CA; without --ca-dir or --ca-secret a root is generated
                                        in memory (development only: not persisted, new on every start)
          --ca-dir DIR                  load Istio's plug-in CA files: ca-cert.pem, ca-key.pem, root-cert.pem,
                                        and cert-chain.pem when ca-cert.pem is an intermediate (implies --ca)
          --ca-secret [NAMESPACE/]NAME  load the same keys from a Secret (Istio's: istio-system/cacerts;
                                        needs --kubeconfig or --in-cluster; implies --ca)
          --trust-domain DOMAIN         the SPIFFE trust domain (default cluster.local)
          --ca-default-ttl DURATION     certificate lifetime when a request asks for 0 (default 24h)
          --ca-max-ttl DURATION         the longest lifetime a request may ask for; longer is rejected (default 90d)
          --bootstrap-tokens FILE       authenticate callers by tokens, one line each: '<token> <namespace> <serviceAccount>'
          --insecure-dev-identities     believe the identity callers claim (x-mesh-namespace, x-mesh-service-account
                                        metadata): INSECURE, for development only
          --ca-token-audiences LIST     audiences for Kubernetes TokenReview, comma-separated (default istio-ca)
        Callers are authenticated by Kubernetes TokenReview with --kubeconfig or --in-cluster, unless
        --bootstrap-tokens or --insecure-dev-identities is given; without a cluster, one of them is required.
        Durations: 3600s, 30m, 24h, 90d.
        """;

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

        if (XdsTls && !Ca.IsEnabled)
        {
            return "--xds-tls needs the CA (--ca, --ca-dir or --ca-secret): the xDS port's certificate is issued by the mesh's CA, whose root clients trust";
        }

        foreach (var name in XdsTlsNames)
        {
            if (Uri.CheckHostName(name) != UriHostNameType.Dns)
            {
                return $"--xds-tls-names: '{name}' is not a DNS name; give names such as mesh-control-plane.mesh-system.svc (the listen IP is added by itself)";
            }
        }

        var caErrors = Ca.Validate(hasKubernetes: KubeconfigPath is not null || InCluster);
        return caErrors.Count == 0 ? null : string.Join("; ", caErrors);
    }
}
