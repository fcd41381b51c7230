namespace Mesh.Identity;

/// <summary>
/// Where a workload's certificate and trust bundle come from (the control plane's CA, mounted files), and
/// when they change. TLS handshakes read <see cref="Current"/> each time, so a rotation applies to the next
/// handshake without new handlers or listeners; established connections keep their certificate.
/// </summary>
public interface IWorkloadIdentityProvider
{
    /// <summary>The identity to use now, or <see langword="null"/> before the first one was obtained.</summary>
    WorkloadIdentity? Current { get; }

    /// <summary>Why the last attempt to obtain or renew the identity failed, or <see langword="null"/>.</summary>
    string? LastError { get; }

    /// <summary>Raised after <see cref="Current"/> changed (a new certificate or bundle).</summary>
    event Action<WorkloadIdentity>? Changed;

    /// <summary>Waits for the first identity.</summary>
    Task<WorkloadIdentity> WaitForIdentityAsync(CancellationToken cancellationToken);
}
