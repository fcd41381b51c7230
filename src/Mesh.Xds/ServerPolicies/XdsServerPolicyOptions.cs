using Mesh.Authorization;

namespace Mesh.Xds.ServerPolicies;

/// <summary>
/// Where an xDS-enabled server (gRFC A36) takes its <see cref="Authorization.ServerPolicy"/> from: the server
/// <c>Listener</c> of its listening address, named by the bootstrap's <c>server_listener_resource_name_template</c>
/// (default <c>grpc/server?xds.resource.listening_address=%s</c>).
/// </summary>
/// <example><code>services.AddMesh().AddXds().AddXdsServerPolicy(o => o.ListeningAddress = "10.0.0.5:8080");</code></example>
public sealed class XdsServerPolicyOptions
{
    /// <summary>The environment variable holding the pod's IP address, used when <see cref="ListeningAddress"/> is not set.</summary>
    public const string PodIpVariable = "POD_IP";

    /// <summary>
    /// The server's address as <c>IP:PORT</c> (IPv6 as <c>[IP]:PORT</c>), the one its clients connect to, e.g.
    /// <c>10.0.0.5:8080</c>. When not set, <c>POD_IP</c> and <see cref="Port"/> are used.
    /// </summary>
    public string? ListeningAddress { get; set; }

    /// <summary>The port, combined with <c>POD_IP</c> when <see cref="ListeningAddress"/> is not set.</summary>
    public int? Port { get; set; }

    /// <summary>
    /// The policy in force until the first valid listener arrives. <see langword="null"/> (the default): mutual TLS
    /// only and every request denied, since gRFC A36 has a server not serve before its listener is known; set it,
    /// e.g. to the application's own options, to serve sooner.
    /// </summary>
    public Authorization.ServerPolicy? InitialPolicy { get; set; }

    /// <summary>
    /// How long the host's start waits for the first valid server listener. Default 10 s; when it expires a warning is
    /// logged and the host starts with <see cref="InitialPolicy"/>. <see cref="TimeSpan.Zero"/> does not wait.
    /// </summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The listening address these options resolve to, or <see langword="null"/> with <paramref name="error"/>.</summary>
    internal string? ResolveListeningAddress(Func<string, string?> environment, out string? error)
    {
        if (!string.IsNullOrWhiteSpace(ListeningAddress))
        {
            error = null;
            return ListeningAddress.Trim();
        }

        var ip = environment(PodIpVariable);
        if (string.IsNullOrWhiteSpace(ip) || Port is not ({ } port and > 0 and <= 65535))
        {
            error = $"XdsServerPolicyOptions: ListeningAddress is not set and it cannot be made from {PodIpVariable} = '{ip}' and Port = '{Port}'; set ListeningAddress (e.g. '10.0.0.5:8080'), or Port with {PodIpVariable} in the environment";
            return null;
        }

        error = null;
        var text = ip.Trim();
        return text.Contains(':', StringComparison.Ordinal) ? $"[{text}]:{port}" : $"{text}:{port}";
    }

    /// <summary>The policy of a server whose listener has not arrived: mutual TLS only, every request denied.</summary>
    internal static Authorization.ServerPolicy NotServing { get; } = new(
        PeerAuthenticationMode.Strict,
        AuthorizationPolicySet.FromRbac([new RbacEngine("xds-listener-pending", AuthorizationAction.Allow, [])]));
}
