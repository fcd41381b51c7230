using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Mesh.Xds.Resources;

/// <summary>
/// A service the client follows over xDS: the listener name (the target authority, <c>host:port</c>, as gRPC's
/// <c>xds:///host:port</c> asks for) and the host that keys the service in the mesh.
/// </summary>
/// <param name="Authority">The listener name and the authority matched against virtual-host domains, e.g. <c>backend.shop.svc.cluster.local:8080</c>.</param>
/// <param name="Host">The host without the port, e.g. <c>backend.shop.svc.cluster.local</c>: the service key.</param>
internal sealed record XdsTarget(string Authority, string Host)
{
    /// <summary>
    /// Parses <c>host:port</c>, <c>host</c>, <c>[ipv6]:port</c>, optionally written as <c>xds:///host:port</c>; the host must be
    /// a DNS name or an IP address, the port a number from 1 to 65535.
    /// </summary>
    public static bool TryParse(string? value, [NotNullWhen(true)] out XdsTarget? target, [NotNullWhen(false)] out string? error)
    {
        target = null;
        var authority = value?.Trim() ?? string.Empty;
        if (authority.StartsWith("xds:///", StringComparison.OrdinalIgnoreCase))
        {
            authority = authority["xds:///".Length..];
        }
        else if (authority.StartsWith("xds:", StringComparison.OrdinalIgnoreCase))
        {
            authority = authority["xds:".Length..];
        }

        if (authority.Length == 0)
        {
            error = "is empty; give the target as host:port, e.g. \"backend.shop.svc.cluster.local:8080\"";
            return false;
        }

        string host;
        string? port = null;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || (close + 1 < authority.Length && authority[close + 1] != ':'))
            {
                error = "is not host:port; write an IPv6 address as [address]:port";
                return false;
            }

            host = authority[1..close];
            port = close + 1 < authority.Length ? authority[(close + 2)..] : null;
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon < 0 ? authority : authority[..colon];
            port = colon < 0 ? null : authority[(colon + 1)..];
        }

        if (host.Length == 0 || Uri.CheckHostName(host) == UriHostNameType.Unknown || host.Contains('/', StringComparison.Ordinal))
        {
            error = $"has host '{host}', which is not a host name or IP address; give the target as host:port, e.g. \"backend.shop.svc.cluster.local:8080\"";
            return false;
        }

        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535))
        {
            error = $"has port '{port}'; the port must be a number from 1 to 65535";
            return false;
        }

        target = new XdsTarget(authority, host);
        error = null;
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Authority;
}
