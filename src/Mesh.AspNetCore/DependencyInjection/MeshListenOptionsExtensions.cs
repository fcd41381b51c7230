using System.Runtime.CompilerServices;
using Mesh.AspNetCore;
using Mesh.AspNetCore.Tls;
using Mesh.Authorization;
using Mesh.Identity;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel listeners that speak the mesh's mutual TLS.</summary>
public static class MeshListenOptionsExtensions
{
    /// <summary>
    /// Serves this endpoint with the workload's certificate from <see cref="IWorkloadIdentityProvider"/>, chosen at
    /// each handshake (a rotation applies to new connections without a restart), ALPN <c>h2</c> and <c>http/1.1</c>,
    /// (as the listener's <see cref="ListenOptions.Protocols"/> allow), and the current <see cref="PeerAuthenticationMode"/>: STRICT requires a client X509-SVID that chains to the
    /// trust bundle; PERMISSIVE also accepts plaintext on the same port (told apart by the first byte); DISABLE
    /// serves plaintext. Requires <c>AddMeshServer()</c> and a workload identity provider.
    /// </summary>
    /// <remarks>
    /// Without TLS there is no ALPN, so Kestrel serves plaintext connections of an <c>Http1AndHttp2</c> listener
    /// as HTTP/1.1; for plaintext gRPC (h2c) on a PERMISSIVE or DISABLE port, set the listener's
    /// <see cref="ListenOptions.Protocols"/> to <see cref="HttpProtocols.Http2"/>.
    /// </remarks>
    /// <example><code>
    /// builder.WebHost.ConfigureKestrel(k => k.ListenAnyIP(5001, l => l.UseMeshTls()));
    /// </code></example>
    public static ListenOptions UseMeshTls(this ListenOptions listenOptions)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        var services = listenOptions.ApplicationServices;
        var options = services.GetRequiredService<IOptionsMonitor<MeshServerOptions>>().CurrentValue;
        var connection = new MeshTlsConnection(
            services.GetService<IWorkloadIdentityProvider>()
                ?? throw new InvalidOperationException("UseMeshTls needs a workload identity: register an IWorkloadIdentityProvider, e.g. builder.Services.AddMesh(...).AddFileWatcherIdentity(...) or .AddWorkloadIdentity()."),
            services.GetService<IServerPolicySource>()
                ?? throw new InvalidOperationException("UseMeshTls needs the mesh server services: call builder.Services.AddMeshServer()."),
            services.GetService<TimeProvider>() ?? TimeProvider.System,
            services.GetRequiredService<ILogger<MeshTlsConnection>>(),
            options.HandshakeTimeout > TimeSpan.Zero ? options.HandshakeTimeout : TimeSpan.FromSeconds(10),
            () => listenOptions.Protocols);

        // Kestrel composes connection middleware from last to first, so the innermost one records the HTTP
        // handler before the sniffer is built; the sniffer then hands plaintext connections straight to it,
        // past the HTTPS middleware.
        var plaintext = new StrongBox<ConnectionDelegate>();
        listenOptions.Use(tls =>
        {
            var http = plaintext.Value ?? throw new InvalidOperationException("The mesh TLS middleware was composed out of order.");
            return context => connection.OnConnectionAsync(context, tls, http);
        });
        listenOptions.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = static context => ((MeshTlsConnection)context.State!).OnHandshakeAsync(context),
            OnConnectionState = connection,
            HandshakeTimeout = connection.HandshakeTimeout,
        });
        listenOptions.Use(http =>
        {
            plaintext.Value = http;
            return http;
        });
        return listenOptions;
    }
}
