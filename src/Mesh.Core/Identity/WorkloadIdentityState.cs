namespace Mesh.Identity;

/// <summary>
/// The runtime holder behind an identity provider: the current identity (one volatile write per change), the last
/// error, the <c>Changed</c> subscribers and the waiters for the first identity. Writers are serialized by the
/// provider that owns it.
/// </summary>
internal sealed class WorkloadIdentityState
{
    private readonly TaskCompletionSource<WorkloadIdentity> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WorkloadIdentity? _current;
    private string? _lastError;

    public WorkloadIdentity? Current => Volatile.Read(ref _current);

    public string? LastError => Volatile.Read(ref _lastError);

    public event Action<WorkloadIdentity>? Changed;

    /// <summary>Completes when the first identity is published.</summary>
    public Task<WorkloadIdentity> First => _first.Task;

    public void SetError(string? error) => Volatile.Write(ref _lastError, error);

    /// <summary>Publishes a new identity, clears the error and tells the subscribers; a throwing subscriber is reported to <paramref name="onHandlerError"/>.</summary>
    public void Publish(WorkloadIdentity identity, Action<Exception> onHandlerError)
    {
        Volatile.Write(ref _current, identity);
        Volatile.Write(ref _lastError, null);
        _first.TrySetResult(identity);
        if (Changed is not { } handlers)
        {
            return;
        }

        // Each subscriber is called on its own so one that throws does not keep the others from seeing the rotation.
        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((Action<WorkloadIdentity>)handler)(identity);
            }
            catch (Exception e)
            {
                onHandlerError(e);
            }
        }
    }

    public async Task<WorkloadIdentity> WaitAsync(CancellationToken cancellationToken)
        => await _first.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
}
