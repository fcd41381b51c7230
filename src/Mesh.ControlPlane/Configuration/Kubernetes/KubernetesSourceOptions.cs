namespace Mesh.ControlPlane.Configuration.Kubernetes;

/// <summary>How <see cref="KubernetesSource"/> connects to the API server and what it watches.</summary>
public sealed class KubernetesSourceOptions
{
    /// <summary>A kubeconfig file (<c>--kubeconfig</c>); ignored when <see cref="InCluster"/> is set. Null: the default kubeconfig location.</summary>
    public string? KubeconfigPath { get; set; }

    /// <summary>Use the pod's service account (<c>--in-cluster</c>).</summary>
    public bool InCluster { get; set; }

    /// <summary>The namespaces to watch; empty watches every namespace.</summary>
    public IList<string> Namespaces { get; } = [];

    /// <summary>A watch that delivers no event and no bookmark for this long is aborted and re-opened (default 5 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = KubernetesSourceDefaults.IdleTimeout;

    /// <summary>The first delay after a failure; doubled on every further failure up to <see cref="MaxBackoff"/>, ± 20 %.</summary>
    public TimeSpan InitialBackoff { get; set; } = KubernetesSourceDefaults.InitialBackoff;

    /// <summary>The longest delay between two attempts.</summary>
    public TimeSpan MaxBackoff { get; set; } = KubernetesSourceDefaults.MaxBackoff;

    /// <summary>How often a kind whose resource is not served (a CRD that is not installed) is listed again.</summary>
    public TimeSpan MissingKindRetry { get; set; } = KubernetesSourceDefaults.MissingKindRetry;

    /// <summary>Every problem with these options, each naming the option, its value and the rule; empty when valid.</summary>
    internal List<string> Validate()
    {
        var errors = new List<string>();
        Positive(errors, nameof(IdleTimeout), IdleTimeout);
        Positive(errors, nameof(InitialBackoff), InitialBackoff);
        Positive(errors, nameof(MissingKindRetry), MissingKindRetry);
        if (MaxBackoff < InitialBackoff)
        {
            errors.Add($"{nameof(MaxBackoff)} = {MaxBackoff}: must be at least {nameof(InitialBackoff)} ({InitialBackoff})");
        }

        for (var i = 0; i < Namespaces.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Namespaces[i]))
            {
                errors.Add($"{nameof(Namespaces)}[{i}] is empty: give a namespace name, or no namespaces to watch all");
            }
        }

        return errors;

        static void Positive(List<string> errors, string name, TimeSpan value)
        {
            if (value <= TimeSpan.Zero || value == Timeout.InfiniteTimeSpan)
            {
                errors.Add($"{name} = {value}: must be a positive time span");
            }
        }
    }
}

/// <summary>The defaults of <see cref="KubernetesSourceOptions"/>.</summary>
internal static class KubernetesSourceDefaults
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan InitialBackoff = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan MissingKindRetry = TimeSpan.FromMinutes(1);
    public const double Jitter = 0.2;
}
