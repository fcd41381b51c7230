using Mesh.ControlPlane.Tests.Infrastructure;
using Mesh.Identity;
using Mesh.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Tests.Security.Interop;

/// <summary>
/// A client workload as an application wires it, in a started generic host: <c>AddMesh().AddXds(...)</c> against the
/// control plane (declaring the certificate provider instance <c>default</c> the control plane's clusters name), its
/// identity from the control plane's CA (<c>AddWorkloadIdentity</c> with a bootstrap token), and the clients
/// <paramref name="configure"/> adds (a gRPC client with <c>AddMeshGrpc()</c>, an HttpClient with <c>AddMesh()</c>).
/// </summary>
internal sealed class MeshXdsWorkload : IAsyncDisposable
{
    private readonly IHost _host;

    private MeshXdsWorkload(IHost host)
    {
        _host = host;
        State = host.Services.GetRequiredService<MeshState>();
        Identity = host.Services.GetRequiredService<IWorkloadIdentityProvider>();
    }

    public IServiceProvider Services => _host.Services;

    public MeshState State { get; }

    public IWorkloadIdentityProvider Identity { get; }

    /// <summary>The backend's cluster as the client has it, or <see langword="null"/>.</summary>
    public ClusterModel? Cluster => State.Current.Clusters.TryGetValue(SecureMesh.Cluster, out var cluster) ? cluster : null;

    /// <summary>Starts the workload and waits for its certificate and for the backend's cluster to have its endpoint.</summary>
    public static async Task<MeshXdsWorkload> StartAsync(SecureMesh mesh, string token, Action<IServiceCollection> configure, TimeSpan? certificateTtl = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Debug).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning).AddFilter("System", LogLevel.Warning).AddProvider(mesh.LogProvider);
        builder.Services.AddMesh()
            .AddXds(o =>
            {
                o.Targets.Add(SecureMesh.Target);
                o.Bootstrap = mesh.Bootstrap("frontend");
                o.CertificateProviderInstances.Add("default");
            })
            .AddWorkloadIdentity(o =>
            {
                o.Token = token;
                o.RootCertificateFile = mesh.RootFile;
                o.CertificateTtl = certificateTtl ?? TimeSpan.FromHours(1);
                o.RequestTimeout = TestWait.Timeout;
            })
            .AddIstioMetrics(o =>
            {
                o.SourceWorkload = "frontend";
                o.SourceWorkloadNamespace = SecureMesh.Namespace;
            });
        configure(builder.Services);
        var workload = new MeshXdsWorkload(builder.Build());
        try
        {
            using var timeout = new CancellationTokenSource(TestWait.Timeout);
            await workload._host.StartAsync(timeout.Token).WaitAsync(TestWait.Timeout);
            await workload.Identity.WaitForIdentityAsync(timeout.Token).WaitAsync(TestWait.Timeout);
            await TestWait.UntilAsync(() => workload.Cluster is { Endpoints.Length: 1 }, $"the cluster {SecureMesh.Cluster} with the backend's endpoint reaches the client");
        }
        catch
        {
            await workload.DisposeAsync();
            throw;
        }

        return workload;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync().WaitAsync(TestWait.Timeout);
        }
        finally
        {
            _host.Dispose();
        }
    }
}
