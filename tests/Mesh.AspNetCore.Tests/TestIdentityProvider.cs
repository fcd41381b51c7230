using Mesh.Identity;

namespace Mesh.AspNetCore.Tests;

/// <summary>A workload identity provider whose identity a test sets.</summary>
internal sealed class TestIdentityProvider(WorkloadIdentity? identity) : IWorkloadIdentityProvider
{
    private volatile WorkloadIdentity? _current = identity;

    public WorkloadIdentity? Current => _current;

    public string? LastError => null;

    public event Action<WorkloadIdentity>? Changed;

    public void Rotate(WorkloadIdentity identity)
    {
        _current = identity;
        Changed?.Invoke(identity);
    }

    public Task<WorkloadIdentity> WaitForIdentityAsync(CancellationToken cancellationToken)
        => _current is { } current ? Task.FromResult(current) : Task.FromException<WorkloadIdentity>(new InvalidOperationException("no identity"));
}
