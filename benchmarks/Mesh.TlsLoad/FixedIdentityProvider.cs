using Mesh.Identity;

namespace Mesh.TlsLoad;

/// <summary>A workload identity that never rotates: the benchmark measures handshakes, not renewal.</summary>
internal sealed class FixedIdentityProvider(WorkloadIdentity identity) : IWorkloadIdentityProvider
{
    public WorkloadIdentity? Current => identity;

    public string? LastError => null;

    public event Action<WorkloadIdentity>? Changed
    {
        add { }
        remove { }
    }

    public Task<WorkloadIdentity> WaitForIdentityAsync(CancellationToken cancellationToken) => Task.FromResult(identity);
}
