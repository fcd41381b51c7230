using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Type.V3;
using Mesh.Model;
using Mesh.Xds.Resources;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class EndpointsResourceTypeTests
{
    private static readonly XdsEndpointsResourceType Type = XdsEndpointsResourceType.Instance;

    [Test]
    public void Decode_Assignment_KeepsOnlyHealthyAndUnknownEndpoints()
    {
        // Arrange
        var assignment = Assignment(V1, NewLocality("zone-a", 3, 0,
            NewEndpoint("10.0.0.1", 8080),
            NewEndpoint("10.0.0.2", 8080, HealthStatus.Unknown, weight: 4),
            NewEndpoint("10.0.0.3", 8080, HealthStatus.Unhealthy),
            NewEndpoint("10.0.0.4", 8080, HealthStatus.Draining),
            NewEndpoint("10.0.0.5", 8080, HealthStatus.Degraded)));

        // Act
        var decoded = Valid<XdsEndpoints>(Type, assignment);

        // Assert
        var locality = decoded.Priorities.Single().Localities.Single();
        Assert.Multiple(() =>
        {
            Assert.That(decoded.Name, Is.EqualTo(V1));
            Assert.That(locality.Name, Is.EqualTo("region-1/zone-a"));
            Assert.That(locality.Weight, Is.EqualTo(3));
            Assert.That(locality.Endpoints, Is.EqualTo(new[]
            {
                new XdsEndpoint("10.0.0.1", 8080, 1, EndpointHealth.Healthy),
                new XdsEndpoint("10.0.0.2", 8080, 4, EndpointHealth.Unknown),
            }));
        });
    }

    [Test]
    public void Decode_PrioritiesInAnyOrder_AreIndexedByPriority()
    {
        // Arrange
        var assignment = Assignment(V1,
            NewLocality("zone-b", 1, 1, NewEndpoint("10.0.1.1", 80)),
            NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80)));

        // Act
        var decoded = Valid<XdsEndpoints>(Type, assignment);

        // Assert
        Assert.That(decoded.Priorities.Select(p => p.Localities.Single().Zone), Is.EqualTo(new[] { "zone-a", "zone-b" }));
    }

    [Test]
    public void Decode_PriorityGap_IsRejected()
    {
        // Arrange
        var assignment = Assignment(V1,
            NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80)),
            NewLocality("zone-c", 1, 2, NewEndpoint("10.0.2.1", 80)));

        // Act
        var error = Invalid(Type, assignment);

        // Assert
        Assert.That(error, Is.EqualTo($"ClusterLoadAssignment '{V1}': endpoints: priority 1 has no weighted locality but priority 2 has; priorities must run from 0 without gaps"));
    }

    [Test]
    public void Decode_LocalityWithoutWeight_IsSkipped()
    {
        // Arrange: gRFC A27: no weight, no load.
        var unweighted = NewLocality("zone-b", 1, 0, NewEndpoint("10.0.1.1", 80));
        unweighted.LoadBalancingWeight = null;
        var assignment = Assignment(V1, NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80)), unweighted);

        // Act
        var decoded = Valid<XdsEndpoints>(Type, assignment);

        // Assert
        Assert.That(decoded.Priorities.Single().Localities.Select(l => l.Zone), Is.EqualTo(new[] { "zone-a" }));
    }

    [Test]
    public void Decode_LocalityWeightsOverflowing32Bits_AreRejected()
    {
        // Arrange
        var assignment = Assignment(V1,
            NewLocality("zone-a", uint.MaxValue, 0, NewEndpoint("10.0.0.1", 80)),
            NewLocality("zone-b", 2, 0, NewEndpoint("10.0.1.1", 80)));

        // Act
        var error = Invalid(Type, assignment);

        // Assert
        Assert.That(error, Does.Contain("endpoints: the locality weights of priority 0 add up to 4294967297; the sum must be at most 4294967295"));
    }

    [Test]
    public void Decode_EndpointWeightsOverflowing32Bits_AreRejected()
    {
        // Arrange
        var assignment = Assignment(V1, NewLocality("zone-a", 1, 0,
            NewEndpoint("10.0.0.1", 80, weight: uint.MaxValue),
            NewEndpoint("10.0.0.2", 80, weight: 1)));

        // Act
        var error = Invalid(Type, assignment);

        // Assert
        Assert.That(error, Does.Contain("endpoints[0].lb_endpoints: the endpoint weights add up to 4294967296; the sum must be at most 4294967295"));
    }

    [Test]
    public void Decode_ZeroEndpointWeight_IsRejected()
    {
        // Act
        var error = Invalid(Type, Assignment(V1, NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80, weight: 0))));

        // Assert
        Assert.That(error, Does.Contain("endpoints[0].lb_endpoints[0].load_balancing_weight = 0: must be at least 1"));
    }

    [Test]
    public void Decode_DuplicateAddressAcrossLocalities_IsRejected()
    {
        // Arrange
        var assignment = Assignment(V1,
            NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80)),
            NewLocality("zone-b", 1, 1, NewEndpoint("10.0.0.1", 80)));

        // Act
        var error = Invalid(Type, assignment);

        // Assert
        Assert.That(error, Is.EqualTo($"ClusterLoadAssignment '{V1}': endpoints[1].lb_endpoints[0].endpoint.address = 'http://10.0.0.1:80': duplicates endpoints[0].lb_endpoints[0].endpoint.address; list each endpoint address once in the whole assignment"));
    }

    [Test]
    public void Decode_DuplicateOfAnUnhealthyEndpoint_IsAccepted()
    {
        // Arrange: the unhealthy entry is skipped before the address check, as in gRPC.
        var assignment = Assignment(V1, NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80, HealthStatus.Draining), NewEndpoint("10.0.0.1", 80)));

        // Act
        var decoded = Valid<XdsEndpoints>(Type, assignment);

        // Assert
        Assert.That(decoded.Count, Is.EqualTo(1));
    }

    [Test]
    public void Decode_DuplicateAdditionalAddress_IsRejected()
    {
        // Arrange
        var second = NewEndpoint("10.0.0.2", 80);
        second.Endpoint.AdditionalAddresses.Add(new Envoy.Config.Endpoint.V3.Endpoint.Types.AdditionalAddress { Address = new Address { SocketAddress = new SocketAddress { Address = "10.0.0.1", PortValue = 80 } } });
        var assignment = Assignment(V1, NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80), second));

        // Act
        var error = Invalid(Type, assignment);

        // Assert
        Assert.That(error, Does.Contain("lb_endpoints[1].endpoint.additional_addresses[0].address = 'http://10.0.0.1:80': duplicates"));
    }

    [Test]
    public void Decode_DuplicateLocalityInAPriority_IsRejected()
    {
        // Arrange
        var assignment = Assignment(V1,
            NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80)),
            NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.2", 80)));

        // Act
        var error = Invalid(Type, assignment);

        // Assert
        Assert.That(error, Does.Contain("endpoints[1].locality {region-1/zone-a/}: another locality of priority 0 is the same"));
    }

    [Test]
    public void Decode_WeightedLocalityWithoutLocality_IsRejected()
    {
        // Arrange
        var group = NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80));
        group.Locality = null;

        // Act
        var error = Invalid(Type, Assignment(V1, group));

        // Assert
        Assert.That(error, Does.Contain("endpoints[0].locality: is not set"));
    }

    [TestCase("backend.local", 80u, "socket_address.address = 'backend.local': must be an IPv4 or IPv6 address (gRFC A27)")]
    [TestCase("10.0.0.1", 0u, "socket_address.port_value = 0: must be between 1 and 65535")]
    [TestCase("10.0.0.1", 70000u, "socket_address.port_value = 70000: must be between 1 and 65535")]
    [TestCase("", 80u, "socket_address.address = '': must be an IPv4 or IPv6 address")]
    public void Decode_InvalidSocketAddress_IsRejected(string address, uint port, string expected)
    {
        // Act
        var error = Invalid(Type, Assignment(V1, NewLocality("zone-a", 1, 0, NewEndpoint(address, port))));

        // Assert
        Assert.That(error, Does.Contain($"endpoints[0].lb_endpoints[0].endpoint.address.{expected}"));
    }

    [Test]
    public void Decode_NamedPort_IsRejected()
    {
        // Arrange
        var endpoint = NewEndpoint("10.0.0.1", 80);
        endpoint.Endpoint.Address.SocketAddress.NamedPort = "http";

        // Act
        var error = Invalid(Type, Assignment(V1, NewLocality("zone-a", 1, 0, endpoint)));

        // Assert
        Assert.That(error, Does.Contain("socket_address.port_value: is not set (named ports are not supported)"));
    }

    [Test]
    public void Decode_Ipv6Address_IsNormalizedAndBracketed()
    {
        // Act
        var decoded = Valid<XdsEndpoints>(Type, Assignment(V1, NewLocality("zone-a", 1, 0, NewEndpoint("FD00:0:0::1", 8080))));

        // Assert
        Assert.That(decoded.Priorities[0].Localities[0].Endpoints[0].Address, Is.EqualTo("http://[fd00::1]:8080"));
    }

    [Test]
    public void Decode_DropOverloads_AreRejected()
    {
        // Arrange
        var assignment = Assignment(V1, "10.0.0.1:80");
        assignment.Policy = new ClusterLoadAssignment.Types.Policy();
        assignment.Policy.DropOverloads.Add(new ClusterLoadAssignment.Types.Policy.Types.DropOverload { Category = "lb", DropPercentage = new FractionalPercent { Numerator = 5 } });

        // Act
        var error = Invalid(Type, assignment);

        // Assert
        Assert.That(error, Does.Contain("policy.drop_overloads[0] 'lb': dropping requests is not supported by the mesh"));
    }

    [Test]
    public void Decode_IstioWorkloadMetadata_GivesTheEndpointsWorkload()
    {
        // Arrange: Istio's telemetry metadata, with an empty revision (Istio's "latest") and a sixth part a later version might add.
        var first = NewEndpoint("10.0.0.1", 8080);
        first.Metadata = IstioWorkload("reviews-v1;bookinfo;reviews;;Kubernetes;later");
        var second = NewEndpoint("10.0.0.2", 8080);
        var assignment = Assignment(V1, NewLocality("zone-a", 1, 0, first, second));

        // Act
        var decoded = Valid<XdsEndpoints>(Type, assignment);

        // Assert
        var endpoints = decoded.Priorities.Single().Localities.Single().Endpoints;
        Assert.Multiple(() =>
        {
            Assert.That(endpoints[0].Workload, Is.EqualTo(new EndpointWorkload { Name = "reviews-v1", Namespace = "bookinfo", App = "reviews", Version = "latest", Cluster = "Kubernetes" }));
            Assert.That(endpoints[1].Workload, Is.Null);
        });
    }

    [TestCase("reviews-v1;bookinfo", "has 2 part(s)")]
    [TestCase("", "has 1 part(s)")]
    public void Decode_MalformedIstioWorkloadMetadata_IsRejectedNamingTheField(string value, string expected)
    {
        // Arrange
        var endpoint = NewEndpoint("10.0.0.1", 8080);
        endpoint.Metadata = IstioWorkload(value);

        // Act
        var error = Invalid(Type, Assignment(V1, NewLocality("zone-a", 1, 0, endpoint)));

        // Assert
        Assert.That(error, Does.Contain("endpoints[0].lb_endpoints[0].metadata.filter_metadata[\"istio\"].workload").And.Contain(expected).And.Contain("name;namespace;canonical-name;canonical-revision;cluster"));
    }

    private static Metadata IstioWorkload(string value) => new()
    {
        FilterMetadata = { ["istio"] = new Google.Protobuf.WellKnownTypes.Struct { Fields = { ["workload"] = Google.Protobuf.WellKnownTypes.Value.ForString(value) } } },
    };

    [Test]
    public void Decode_EmptyAssignment_IsValidAndHasNoPriority()
    {
        // Act
        var decoded = Valid<XdsEndpoints>(Type, new ClusterLoadAssignment { ClusterName = V1 });

        // Assert
        Assert.That(decoded.Priorities, Is.Empty);
    }
}
