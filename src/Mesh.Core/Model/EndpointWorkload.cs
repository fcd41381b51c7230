namespace Mesh.Model;

/// <summary>
/// The workload that serves an endpoint, as Istio describes it to clients (the <c>istio.workload</c> endpoint metadata):
/// the <c>destination_*</c> labels of Istio's standard metrics. Every part is optional; a missing one is reported as
/// "unknown".
/// </summary>
public sealed record EndpointWorkload
{
    /// <summary>The workload's name: the Deployment (or other controller) of the Pod, or the WorkloadEntry's name.</summary>
    public string? Name { get; init; }

    /// <summary>The workload's namespace.</summary>
    public string? Namespace { get; init; }

    /// <summary>The canonical service (<c>service.istio.io/canonical-name</c>, else the <c>app</c> label): Istio's <c>destination_app</c>.</summary>
    public string? App { get; init; }

    /// <summary>The canonical revision (<c>service.istio.io/canonical-revision</c>, else the <c>version</c> label): Istio's <c>destination_version</c>.</summary>
    public string? Version { get; init; }

    /// <summary>The cluster the workload runs in: Istio's <c>destination_cluster</c>.</summary>
    public string? Cluster { get; init; }
}
