using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Envoy.Config.Route.V3;
using k8s.Models;
using Mesh.ControlPlane.Model;

namespace Mesh.ControlPlane.Translation;

/// <summary>One endpoint of a Service port: address, port, weight, labels (for subsets) and locality (<c>region/zone/subzone</c>).</summary>
internal sealed record EndpointInfo(string Address, int Port, int Weight, IReadOnlyDictionary<string, string> Labels, string? Locality)
{
    /// <summary>The namespace of the workload (Pod or WorkloadEntry), or <see langword="null"/> when unknown.</summary>
    public string? Namespace { get; init; }

    /// <summary>The workload's service account (Pod <c>spec.serviceAccountName</c>, WorkloadEntry <c>serviceAccount</c>), or <see langword="null"/>.</summary>
    public string? ServiceAccount { get; init; }

    /// <summary>
    /// Istio's telemetry metadata of the endpoint (<c>filter_metadata["istio"].workload</c>):
    /// <c>workload-name;namespace;canonical-service;canonical-revision;cluster-id</c>, or <see langword="null"/> without a workload.
    /// </summary>
    public string? Workload { get; init; }
}

/// <summary>The indexes one translation uses, and the messages it collects.</summary>
internal sealed partial class XdsTranslationContext
{
    private static readonly IReadOnlyDictionary<string, string> NoLabels = ImmutableDictionary<string, string>.Empty;

    private readonly Dictionary<string, DestinationRuleModel> _rules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, VirtualServiceModel> _virtualServices = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Namespace, string Name), V1Pod> _pods = [];
    private readonly Dictionary<(string Namespace, string Service), List<V1EndpointSlice>> _slices = [];
    private readonly MeshConfigReadResult _config;

    public XdsTranslationContext(MeshConfigReadResult config, string trustDomain = XdsTranslator.DefaultTrustDomain, string rootNamespace = XdsTranslator.DefaultRootNamespace, string clusterId = XdsTranslator.DefaultClusterId)
    {
        _config = config;
        ClusterId = clusterId;
        TrustDomain = trustDomain;
        RootNamespace = rootNamespace;
        foreach (var service in config.Services)
        {
            ServicesByFqdn[XdsTranslator.Fqdn(service.Name, service.Namespace)] = service;
        }

        foreach (var pod in config.Pods)
        {
            _pods[(pod.Namespace, pod.Name)] = pod.Value;
        }

        foreach (var slice in config.EndpointSlices)
        {
            if (slice.Value.Metadata?.Labels?.TryGetValue("kubernetes.io/service-name", out var service) == true)
            {
                if (!_slices.TryGetValue((slice.Namespace, service), out var list))
                {
                    _slices[(slice.Namespace, service)] = list = [];
                }

                list.Add(slice.Value);
            }
        }

        // Istio picks the oldest object when two claim the same host; without creation times, the first by namespace/name.
        foreach (var rule in config.DestinationRules.OrderBy(static r => r.Namespace, StringComparer.Ordinal).ThenBy(static r => r.Name, StringComparer.Ordinal))
        {
            var host = XdsTranslator.ResolveHost(rule.Host, rule.Namespace);
            if (!_rules.TryAdd(host, rule))
            {
                Warnings.Add($"{rule.Origin}: DestinationRule {rule.Namespace}/{rule.Name}: spec.host = {rule.Host}: {_rules[host].Namespace}/{_rules[host].Name} already applies to {host}; this rule is ignored (merge them into one)");
            }
        }

        foreach (var vs in config.VirtualServices.OrderBy(static v => v.Namespace, StringComparer.Ordinal).ThenBy(static v => v.Name, StringComparer.Ordinal))
        {
            foreach (var host in vs.Hosts)
            {
                var fqdn = XdsTranslator.ResolveHost(host, vs.Namespace);
                if (!_virtualServices.TryAdd(fqdn, vs))
                {
                    Warnings.Add($"{vs.Origin}: VirtualService {vs.Namespace}/{vs.Name}: spec.hosts = {host}: {_virtualServices[fqdn].Namespace}/{_virtualServices[fqdn].Name} already routes {fqdn}; this one is ignored for that host (merge them into one)");
                }
            }
        }
    }

    /// <summary>The cluster the workloads run in (Istio's cluster ID), for the endpoints' telemetry metadata.</summary>
    public string ClusterId { get; }

    public List<string> Errors { get; } = [];

    public List<string> Warnings { get; } = [];

    public Dictionary<string, TypedObject<V1Service>> ServicesByFqdn { get; } = new(StringComparer.Ordinal);

    public DestinationRuleModel? RuleFor(string fqdn) => _rules.GetValueOrDefault(fqdn);

    public VirtualServiceModel? VirtualServiceFor(string fqdn) => _virtualServices.GetValueOrDefault(fqdn);

    /// <summary>The hash policy of the destination's cluster when its load balancer is a consistent hash (xDS keeps the key on the route).</summary>
    public RouteAction.Types.HashPolicy? HashPolicyFor(DestinationModel destination, string vsNamespace, string fqdn, int port)
    {
        var destinationFqdn = XdsTranslator.ResolveHost(destination.Host, vsNamespace);
        if (RuleFor(destinationFqdn) is not { } rule)
        {
            return null;
        }

        var destinationPort = destination.Port ?? (destinationFqdn == fqdn ? port : 0);
        var policy = rule.TrafficPolicy.ForPort(destinationPort);
        if (destination.Subset is { } subsetName && rule.Subsets.FirstOrDefault(s => s.Name == subsetName) is { } subset)
        {
            policy = policy.Override(subset.TrafficPolicy?.ForPort(destinationPort));
        }

        return policy.LoadBalancer?.ConsistentHash switch
        {
            { HttpHeaderName: { } header } => new() { Header = new() { HeaderName = header } },
            { HttpCookieName: { } cookie } => new() { Cookie = new() { Name = cookie } },
            { HttpQueryParameterName: { } query } => new() { QueryParameter = new() { Name = query } },
            _ => null,
        };
    }

    /// <summary>
    /// The endpoints of a Service port: from its EndpointSlices (ready endpoints only, de-duplicated by address across
    /// slices) and from the WorkloadEntries its selector matches. Endpoints that are serving but terminating are left
    /// out rather than sent as DRAINING: proxyless clients never pick a DRAINING endpoint (gRFC A27 keeps HEALTHY and
    /// UNKNOWN), so sending them would only cost pushes; in-flight requests on them finish on their own.
    /// </summary>
    public List<EndpointInfo> Endpoints(TypedObject<V1Service> service, V1ServicePort port)
    {
        var result = new List<EndpointInfo>();
        var seen = new HashSet<(string, int)>();
        foreach (var slice in _slices.GetValueOrDefault((service.Namespace, service.Name)) ?? [])
        {
            if (slice.AddressType == "FQDN")
            {
                continue;
            }

            var slicePort = slice.Ports?.FirstOrDefault(p => (p.Name ?? string.Empty) == (port.Name ?? string.Empty));
            if (slicePort?.Port is not { } number)
            {
                continue;
            }

            foreach (var endpoint in slice.Endpoints ?? [])
            {
                if (endpoint.Conditions?.Ready == false)
                {
                    continue;
                }

                V1Pod? pod = null;
                var podNamespace = service.Namespace;
                if (endpoint.TargetRef is { Kind: "Pod" } target)
                {
                    podNamespace = target.NamespaceProperty ?? service.Namespace;
                    pod = _pods.GetValueOrDefault((podNamespace, target.Name));
                }

                var labels = (IReadOnlyDictionary<string, string>?)pod?.Metadata?.Labels?.AsReadOnly() ?? NoLabels;

                // Kubernetes runs a Pod without serviceAccountName as the namespace's "default" account.
                var serviceAccount = pod is null ? null : string.IsNullOrEmpty(pod.Spec?.ServiceAccountName) ? "default" : pod.Spec.ServiceAccountName;
                var workload = pod is null ? null : WorkloadMetadata(PodWorkloadName(pod), podNamespace, labels);
                foreach (var address in endpoint.Addresses ?? [])
                {
                    if (seen.Add((address, number)))
                    {
                        result.Add(new EndpointInfo(address, number, 1, labels, endpoint.Zone is { } zone ? $"/{zone}" : null) { Namespace = podNamespace, ServiceAccount = serviceAccount, Workload = workload });
                    }
                }
            }
        }

        var selector = service.Value.Spec?.Selector;
        if (selector is { Count: > 0 })
        {
            foreach (var entry in _config.WorkloadEntries)
            {
                if (entry.Namespace != service.Namespace || !selector.All(s => entry.Labels.TryGetValue(s.Key, out var v) && v == s.Value))
                {
                    continue;
                }

                var entryPort = WorkloadEntryPort(entry, port);
                if (entry.Weight > 0 && seen.Add((entry.Address, entryPort)))
                {
                    result.Add(new EndpointInfo(entry.Address, entryPort, entry.Weight, entry.Labels, entry.Locality) { Namespace = entry.Namespace, ServiceAccount = entry.ServiceAccount, Workload = WorkloadMetadata(entry.Name, entry.Namespace, entry.Labels) });
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Istio's endpoint telemetry metadata: the workload's name and namespace, its canonical service
    /// (<c>service.istio.io/canonical-name</c>, <c>app.kubernetes.io/name</c>, <c>app</c>, else the workload name) and
    /// revision (<c>service.istio.io/canonical-revision</c>, <c>app.kubernetes.io/version</c>, <c>version</c>; empty for
    /// Istio's default "latest"), and the cluster ID, joined by ';'.
    /// </summary>
    private string WorkloadMetadata(string name, string ns, IReadOnlyDictionary<string, string> labels)
    {
        var canonicalName = First(labels, "service.istio.io/canonical-name", "app.kubernetes.io/name", "app") ?? name;
        var canonicalRevision = First(labels, "service.istio.io/canonical-revision", "app.kubernetes.io/version", "version") ?? string.Empty;
        return string.Join(';', name, ns, canonicalName, canonicalRevision == "latest" ? string.Empty : canonicalRevision, ClusterId);

        static string? First(IReadOnlyDictionary<string, string> labels, params string[] keys)
        {
            foreach (var key in keys)
            {
                if (labels.TryGetValue(key, out var value) && value.Length > 0)
                {
                    return value;
                }
            }

            return null;
        }
    }

    /// <summary>
    /// The workload a Pod belongs to, as Istio names it: a ReplicaSet's Deployment (the ReplicaSet's name without the
    /// <c>pod-template-hash</c> suffix), a CronJob's Job without its numeric suffix, another controller's name, else the Pod's own.
    /// </summary>
    internal static string PodWorkloadName(V1Pod pod)
    {
        var owner = pod.Metadata?.OwnerReferences?.FirstOrDefault(static o => o.Controller == true);
        if (owner is null)
        {
            return pod.Metadata?.Name ?? string.Empty;
        }

        switch (owner.Kind)
        {
            case "ReplicaSet" when pod.Metadata?.Labels?.TryGetValue("pod-template-hash", out var hash) == true && owner.Name.EndsWith($"-{hash}", StringComparison.Ordinal):
                return owner.Name[..^(hash!.Length + 1)];
            case "Job" when CronJobSuffix().IsMatch(owner.Name):
                return owner.Name[..owner.Name.LastIndexOf('-')];
            default:
                return owner.Name;
        }
    }

    // A CronJob names its Jobs NAME-<scheduled time in minutes>.
    [GeneratedRegex(@"^.+-\d{8,10}$", RegexOptions.CultureInvariant)]
    private static partial Regex CronJobSuffix();

    /// <summary>As Istio: the entry's port named by the Service port's targetPort name, else by the port's name, else the targetPort number.</summary>
    private static int WorkloadEntryPort(WorkloadEntryModel entry, V1ServicePort port)
    {
        var targetPort = port.TargetPort?.Value;
        if (targetPort is not null && !int.TryParse(targetPort, out _) && entry.Ports.TryGetValue(targetPort, out var byTarget))
        {
            return byTarget;
        }

        if (port.Name is { } name && entry.Ports.TryGetValue(name, out var byName))
        {
            return byName;
        }

        return targetPort is not null && int.TryParse(targetPort, out var number) ? number : port.Port;
    }
}
