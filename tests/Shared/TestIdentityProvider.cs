using Mesh.Identity;

namespace Mesh.Testing;

/// <summary>A workload identity provider whose identity the test sets (and rotates with <see cref="Set"/>).</summary>
internal sealed class TestIdentityProvider : IWorkloadIdentityProvider
{
    private readonly TaskCompletionSource<WorkloadIdentity> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WorkloadIdentity? _current;

    public TestIdentityProvider(WorkloadIdentity? identity = null, string? lastError = null)
    {
        LastError = lastError;
        if (identity is not null)
        {
            Set(identity);
        }
    }

    public WorkloadIdentity? Current => Volatile.Read(ref _current);

    public string? LastError { get; set; }

    public event Action<WorkloadIdentity>? Changed;

    public void Set(WorkloadIdentity identity)
    {
        Volatile.Write(ref _current, identity);
        _first.TrySetResult(identity);
        Changed?.Invoke(identity);
    }

    public Task<WorkloadIdentity> WaitForIdentityAsync(CancellationToken cancellationToken) => _first.Task.WaitAsync(cancellationToken);
}
