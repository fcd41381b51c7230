using System.Collections.Immutable;
using System.Net;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Google.Protobuf;
using Mesh.Model;

namespace Mesh.Xds.Resources;

/// <summary>
/// EDS: <c>envoy.config.endpoint.v3.ClusterLoadAssignment</c>, validated as gRPC does (gRFCs A27, A61): localities
/// without a weight carry no load and are skipped; a locality is named; priorities run from 0 without gaps;
/// localities are unique within a priority and their weights add up to at most 2³²−1; endpoints are HEALTHY or
/// UNKNOWN (others are skipped), have an IP address and a port, a weight of at least 1, and appear once in the
/// whole assignment. Drop overloads are not supported (the model cannot drop requests) and are rejected.
/// </summary>
internal sealed class XdsEndpointsResourceType : XdsResourceType<ClusterLoadAssignment>
{
    /// <summary>The type URL of cluster load assignments.</summary>
    public const string EndpointsTypeUrl = Server.XdsResourceSnapshot.ClusterLoadAssignmentTypeUrl;

    private XdsEndpointsResourceType()
    {
    }

    /// <summary>The one instance.</summary>
    public static XdsEndpointsResourceType Instance { get; } = new();

    /// <inheritdoc />
    public override string TypeUrl => EndpointsTypeUrl;

    /// <inheritdoc />
    public override string Name => "ClusterLoadAssignment";

    /// <inheritdoc />
    public override bool AllResourcesRequiredInSotW => false;

    /// <inheritdoc />
    protected override MessageParser<ClusterLoadAssignment> Parser => ClusterLoadAssignment.Parser;

    /// <inheritdoc />
    protected override string GetName(ClusterLoadAssignment message) => message.ClusterName;

    /// <inheritdoc />
    protected override object? Validate(ClusterLoadAssignment message, List<string> errors) => ValidateAssignment(message, message.ClusterName, string.Empty, errors);

    /// <summary>Validates an assignment, from EDS or a STATIC cluster's <c>load_assignment</c>; <paramref name="prefix"/> starts every field path.</summary>
    public static XdsEndpoints ValidateAssignment(ClusterLoadAssignment assignment, string name, string prefix, List<string> errors)
    {
        var byPriority = new SortedDictionary<uint, List<XdsLocality>>();
        var addresses = new Dictionary<(string, int), string>();
        for (var i = 0; i < assignment.Endpoints.Count; i++)
        {
            var group = assignment.Endpoints[i];
            var path = $"{prefix}endpoints[{i}]";

            // gRFC A27: a locality without a weight (or with 0) is assigned no load and skipped.
            var weight = group.LoadBalancingWeight ?? 0;
            if (weight == 0)
            {
                continue;
            }

            if (group.Locality is not { } locality)
            {
                errors.Add($"{path}.locality: is not set; every weighted locality needs one (an empty locality {{}} is allowed)");
                continue;
            }

            var endpoints = ParseEndpoints(group, path, addresses, errors);
            if (!byPriority.TryGetValue(group.Priority, out var localities))
            {
                localities = [];
                byPriority.Add(group.Priority, localities);
            }

            if (localities.Exists(l => l.Region == locality.Region && l.Zone == locality.Zone && l.SubZone == locality.SubZone))
            {
                errors.Add($"{path}.locality {{{locality.Region}/{locality.Zone}/{locality.SubZone}}}: another locality of priority {XdsFields.Format(group.Priority)} is the same; list each locality once per priority");
                continue;
            }

            localities.Add(new XdsLocality(locality.Region, locality.Zone, locality.SubZone, weight, endpoints));
        }

        var priorities = ImmutableArray.CreateBuilder<XdsPriority>(byPriority.Count);
        uint expected = 0;
        foreach (var (priority, localities) in byPriority)
        {
            if (priority != expected)
            {
                errors.Add($"{prefix}endpoints: priority {XdsFields.Format(expected)} has no weighted locality but priority {XdsFields.Format(priority)} has; priorities must run from 0 without gaps");
                break;
            }

            ulong total = 0;
            foreach (var locality in localities)
            {
                total += locality.Weight;
            }

            if (total > uint.MaxValue)
            {
                errors.Add($"{prefix}endpoints: the locality weights of priority {XdsFields.Format(priority)} add up to {XdsFields.Format(total)}; the sum must be at most {XdsFields.Format(uint.MaxValue)}");
            }

            priorities.Add(new XdsPriority([.. localities]));
            expected++;
        }

        if (assignment.Policy is { } policy)
        {
            for (var i = 0; i < policy.DropOverloads.Count; i++)
            {
                var drop = policy.DropOverloads[i];
                var percentage = XdsFields.Percentage(drop.DropPercentage, $"{prefix}policy.drop_overloads[{i}].drop_percentage", errors);
                if (percentage > 0)
                {
                    errors.Add($"{prefix}policy.drop_overloads[{i}] {XdsFields.Quote(drop.Category)}: dropping requests is not supported by the mesh; remove drop_overloads");
                }
            }
        }

        return new XdsEndpoints(name, priorities.ToImmutable());
    }

    /// <summary>
    /// Istio's workload of an endpoint, for the <c>destination_*</c> labels of its metrics: the string
    /// <c>filter_metadata["istio"].workload</c>, <c>name;namespace;canonical-name;canonical-revision;cluster</c>
    /// (empty parts allowed; an empty revision is Istio's default "latest").
    /// </summary>
    internal static EndpointWorkload? ParseWorkload(Metadata? metadata, string path, List<string> errors)
    {
        if (metadata is null || !metadata.FilterMetadata.TryGetValue("istio", out var istio) || !istio.Fields.TryGetValue("workload", out var value))
        {
            return null;
        }

        var fieldPath = $"{path}.filter_metadata[\"istio\"].workload";
        if (value.KindCase != Google.Protobuf.WellKnownTypes.Value.KindOneofCase.StringValue)
        {
            errors.Add($"{fieldPath}: is a {value.KindCase}; Istio sends a string \"name;namespace;canonical-name;canonical-revision;cluster\"");
            return null;
        }

        // Later Istio versions may append parts; the first five keep their meaning.
        var parts = value.StringValue.Split(';');
        if (parts.Length < 5)
        {
            errors.Add($"{fieldPath} = {XdsFields.Quote(value.StringValue)}: has {parts.Length} part(s); it must be \"name;namespace;canonical-name;canonical-revision;cluster\" (empty parts allowed)");
            return null;
        }

        return new EndpointWorkload
        {
            Name = NullIfEmpty(parts[0]),
            Namespace = NullIfEmpty(parts[1]),
            App = NullIfEmpty(parts[2]),
            Version = parts[3].Length == 0 ? "latest" : parts[3],
            Cluster = NullIfEmpty(parts[4]),
        };

        static string? NullIfEmpty(string part) => part.Length == 0 ? null : part;
    }

    private static ImmutableArray<XdsEndpoint> ParseEndpoints(LocalityLbEndpoints group, string path, Dictionary<(string, int), string> addresses, List<string> errors)
    {
        var endpoints = ImmutableArray.CreateBuilder<XdsEndpoint>(group.LbEndpoints.Count);
        ulong total = 0;
        for (var j = 0; j < group.LbEndpoints.Count; j++)
        {
            var lbEndpoint = group.LbEndpoints[j];
            var endpointPath = $"{path}.lb_endpoints[{j}]";

            // gRFC A27: only HEALTHY and UNKNOWN endpoints take traffic; the others are skipped before any other check.
            EndpointHealth health;
            switch (lbEndpoint.HealthStatus)
            {
                case HealthStatus.Healthy:
                    health = EndpointHealth.Healthy;
                    break;
                case HealthStatus.Unknown:
                    health = EndpointHealth.Unknown;
                    break;
                default:
                    continue;
            }

            var weight = lbEndpoint.LoadBalancingWeight ?? 1;
            if (weight == 0)
            {
                errors.Add($"{endpointPath}.load_balancing_weight = 0: must be at least 1; omit it for 1");
            }

            total += weight;
            if (lbEndpoint.Endpoint is not { } endpoint)
            {
                errors.Add($"{endpointPath}.endpoint: is not set; set endpoint.address.socket_address");
                continue;
            }

            var address = ParseSocketAddress(endpoint.Address, $"{endpointPath}.endpoint.address", allowHostName: false, errors);
            Claim(address, $"{endpointPath}.endpoint.address");
            for (var k = 0; k < endpoint.AdditionalAddresses.Count; k++)
            {
                // gRFC A61: each additional address is validated like the address; the model sends to the first one.
                var additionalPath = $"{endpointPath}.endpoint.additional_addresses[{k}].address";
                Claim(ParseSocketAddress(endpoint.AdditionalAddresses[k].Address, additionalPath, allowHostName: false, errors), additionalPath);
            }

            var workload = ParseWorkload(lbEndpoint.Metadata, $"{endpointPath}.metadata", errors);
            if (address is { } a && weight > 0)
            {
                endpoints.Add(new XdsEndpoint(a.Host, a.Port, weight, health) { Workload = workload });
            }
        }

        if (total > uint.MaxValue)
        {
            errors.Add($"{path}.lb_endpoints: the endpoint weights add up to {XdsFields.Format(total)}; the sum must be at most {XdsFields.Format(uint.MaxValue)}");
        }

        return endpoints.ToImmutable();

        void Claim((string Host, int Port)? address, string addressPath)
        {
            if (address is not { } a)
            {
                return;
            }

            if (addresses.TryGetValue(a, out var first))
            {
                errors.Add($"{addressPath} = {XdsFields.Quote(new XdsEndpoint(a.Host, a.Port, 1, EndpointHealth.Unknown).Address)}: duplicates {first}; list each endpoint address once in the whole assignment");
            }
            else
            {
                addresses.Add(a, addressPath);
            }
        }
    }

    /// <summary>
    /// A <c>socket_address</c> with an IP address (normalized; a host name too when <paramref name="allowHostName"/>) and a
    /// <c>port_value</c> from 1 to 65535.
    /// </summary>
    public static (string Host, int Port)? ParseSocketAddress(Address? address, string path, bool allowHostName, List<string> errors)
    {
        if (address?.SocketAddress is not { } socket)
        {
            errors.Add($"{path}.socket_address: is not set; set address and port_value, e.g. {{ address: \"10.0.0.1\", port_value: 8080 }}");
            return null;
        }

        var valid = true;
        if (socket.PortSpecifierCase != Envoy.Config.Core.V3.SocketAddress.PortSpecifierOneofCase.PortValue)
        {
            errors.Add($"{path}.socket_address.port_value: is not set (named ports are not supported); set the port number");
            valid = false;
        }
        else if (socket.PortValue is 0 or > 65535)
        {
            errors.Add($"{path}.socket_address.port_value = {XdsFields.Format(socket.PortValue)}: must be between 1 and 65535");
            valid = false;
        }

        var host = socket.Address;
        var kind = host.Contains('%', StringComparison.Ordinal) ? UriHostNameType.Unknown : Uri.CheckHostName(host);
        if (kind is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(host, out var ip))
        {
            host = ip.ToString();
        }
        else if (!(allowHostName && kind == UriHostNameType.Dns))
        {
            errors.Add(allowHostName
                ? $"{path}.socket_address.address = {XdsFields.Quote(host)}: must be a host name or an IPv4 or IPv6 address"
                : $"{path}.socket_address.address = {XdsFields.Quote(host)}: must be an IPv4 or IPv6 address (gRFC A27); use a LOGICAL_DNS cluster for a host name");
            valid = false;
        }

        return valid ? (host, (int)socket.PortValue) : null;
    }
}
