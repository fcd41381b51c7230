using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Extensions.LoadBalancingPolicies.LeastRequest.V3;
using Envoy.Extensions.LoadBalancingPolicies.PickFirst.V3;
using Envoy.Extensions.LoadBalancingPolicies.RingHash.V3;
using Envoy.Extensions.LoadBalancingPolicies.RoundRobin.V3;
using Envoy.Extensions.LoadBalancingPolicies.WrrLocality.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Type.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Resources;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class ClusterResourceTypeTests
{
    private static readonly XdsClusterResourceType Type = XdsClusterResourceType.Instance;

    private static LoadBalancingPolicy Policies(params IMessage[] configs)
    {
        var policy = new LoadBalancingPolicy();
        foreach (var config in configs)
        {
            policy.Policies.Add(new LoadBalancingPolicy.Types.Policy { TypedExtensionConfig = new TypedExtensionConfig { Name = config.Descriptor.Name, TypedConfig = Any.Pack(config) } });
        }

        return policy;
    }

    [Test]
    public void Decode_EdsCluster_UsesServiceNameOrClusterName()
    {
        // Act
        var named = Valid<XdsCluster>(Type, EdsCluster(V1, "backend-v1"));
        var unnamed = Valid<XdsCluster>(Type, EdsCluster(V1));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(named.Discovery, Is.EqualTo(XdsClusterDiscovery.Eds));
            Assert.That(named.EdsServiceName, Is.EqualTo("backend-v1"));
            Assert.That(unnamed.EdsServiceName, Is.EqualTo(V1));
            Assert.That(unnamed.LoadBalancing, Is.EqualTo(XdsLoadBalancing.For(XdsLbPolicy.RoundRobin)));
            Assert.That(unnamed.CircuitBreakers, Is.Null);
            Assert.That(unnamed.OutlierDetection, Is.Null);
        });
    }

    [Test]
    public void Decode_EdsWithoutAds_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.EdsClusterConfig.EdsConfig = new ConfigSource();

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Is.EqualTo($"Cluster '{V1}': eds_cluster_config.eds_config: is 'None'; it must be ads or self, since the client fetches endpoints on its ADS stream only (gRFC A27)"));
    }

    [Test]
    public void Decode_StaticCluster_TakesItsLoadAssignment()
    {
        // Arrange
        var cluster = new Cluster { Name = "static", Type = Cluster.Types.DiscoveryType.Static, LoadAssignment = Assignment("static", "10.0.0.1:80", "10.0.0.2:80") };

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(decoded.Discovery, Is.EqualTo(XdsClusterDiscovery.Static));
            Assert.That(decoded.Endpoints!.Count, Is.EqualTo(2));
        });
    }

    [Test]
    public void Decode_LogicalDnsCluster_KeepsTheHostName()
    {
        // Arrange
        var cluster = new Cluster { Name = "dns", Type = Cluster.Types.DiscoveryType.LogicalDns, LoadAssignment = Assignment("dns", NewLocality("z", 1, 0, NewEndpoint("api.example.com", 443))) };

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.Endpoints!.Priorities.Single().Localities.Single().Endpoints.Single().Address, Is.EqualTo("http://api.example.com:443"));
    }

    [TestCase(Cluster.Types.DiscoveryType.StrictDns, "type = StrictDns: is not supported; use EDS, STATIC or LOGICAL_DNS")]
    [TestCase(Cluster.Types.DiscoveryType.OriginalDst, "type = OriginalDst: is not supported; use EDS, STATIC or LOGICAL_DNS")]
    public void Decode_UnsupportedDiscoveryType_IsRejected(Cluster.Types.DiscoveryType type, string expected)
    {
        // Act
        var error = Invalid(Type, new Cluster { Name = "c", Type = type });

        // Assert
        Assert.That(error, Is.EqualTo($"Cluster 'c': {expected}"));
    }

    [Test]
    public void Decode_AggregateCluster_IsRejected()
    {
        // Act
        var error = Invalid(Type, new Cluster { Name = "agg", ClusterType = new Cluster.Types.CustomClusterType { Name = "envoy.clusters.aggregate" } });

        // Assert
        Assert.That(error, Does.Contain("cluster_type 'envoy.clusters.aggregate': custom cluster types (e.g. aggregate clusters) are not supported"));
    }

    [TestCase(Cluster.Types.LbPolicy.RoundRobin, "RoundRobin")]
    [TestCase(Cluster.Types.LbPolicy.LeastRequest, "LeastRequest")]
    [TestCase(Cluster.Types.LbPolicy.Random, "Random")]
    [TestCase(Cluster.Types.LbPolicy.RingHash, "RingHash")]
    [TestCase(Cluster.Types.LbPolicy.Maglev, "Maglev")]
    public void Decode_LbPolicy_IsMapped(Cluster.Types.LbPolicy policy, string expected)
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = policy;

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.LoadBalancing.Policy, Is.EqualTo(System.Enum.Parse<XdsLbPolicy>(expected)));
    }

    [Test]
    public void Decode_ClusterProvidedLbPolicy_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = Cluster.Types.LbPolicy.ClusterProvided;

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("lb_policy = ClusterProvided: is not supported; use ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM or MAGLEV"));
    }

    [Test]
    public void Decode_RingHashSizes_AreRead()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = Cluster.Types.LbPolicy.RingHash;
        cluster.RingHashLbConfig = new Cluster.Types.RingHashLbConfig { MinimumRingSize = 64, MaximumRingSize = 4096 };

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That((decoded.LoadBalancing.MinimumRingSize, decoded.LoadBalancing.MaximumRingSize), Is.EqualTo((64, 4096)));
    }

    [TestCase(0ul, 8ul, "ring_hash_lb_config.minimum_ring_size = 0: must be between 1 and 8388608")]
    [TestCase(1ul, 8_388_609ul, "ring_hash_lb_config.maximum_ring_size = 8388609: must be between 1 and 8388608")]
    [TestCase(9_000_000ul, null, "ring_hash_lb_config.minimum_ring_size = 9000000: must be between 1 and 8388608")]
    [TestCase(100ul, 10ul, "ring_hash_lb_config.minimum_ring_size = 100: must not exceed maximum_ring_size (10)")]
    public void Decode_RingHashSizeOutOfBounds_IsRejected(ulong minimum, ulong? maximum, string expected)
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = Cluster.Types.LbPolicy.RingHash;
        cluster.RingHashLbConfig = new Cluster.Types.RingHashLbConfig { MinimumRingSize = minimum, MaximumRingSize = maximum };

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Is.EqualTo($"Cluster '{V1}': {expected}"));
    }

    [Test]
    public void Decode_RingHashMurmur_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = Cluster.Types.LbPolicy.RingHash;
        cluster.RingHashLbConfig = new Cluster.Types.RingHashLbConfig { HashFunction = Cluster.Types.RingHashLbConfig.Types.HashFunction.MurmurHash2 };

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("ring_hash_lb_config.hash_function = MurmurHash2: must be XX_HASH (gRFC A42)"));
    }

    [TestCase(65536ul)]
    [TestCase(5_000_021ul)]
    public void Decode_MaglevTableSizeNotASmallPrime_IsRejected(ulong size)
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = Cluster.Types.LbPolicy.Maglev;
        cluster.MaglevLbConfig = new Cluster.Types.MaglevLbConfig { TableSize = size };

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain($"maglev_lb_config.table_size = {size}: must be a prime no larger than 5000011"));
    }

    [Test]
    public void Decode_LeastRequestChoiceCountBelowTwo_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = Cluster.Types.LbPolicy.LeastRequest;
        cluster.LeastRequestLbConfig = new Cluster.Types.LeastRequestLbConfig { ChoiceCount = 1 };

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("least_request_lb_config.choice_count = 1: must be at least 2 (gRFC A48)"));
    }

    [Test]
    public void Decode_LoadBalancingPolicy_TakesTheFirstSupportedAndUnwrapsWrrLocality()
    {
        // Arrange: pick_first is skipped; wrr_locality wraps ring_hash.
        var cluster = EdsCluster(V1);
        var inner = Policies(new PickFirst(), new RingHash { MinimumRingSize = 10, MaximumRingSize = 20 });
        cluster.LoadBalancingPolicy = Policies(new PickFirst(), new WrrLocality { EndpointPickingPolicy = inner }, new RoundRobin());

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.LoadBalancing, Is.EqualTo(new XdsLoadBalancing(XdsLbPolicy.RingHash, 10, 20, 65537)));
    }

    [Test]
    public void Decode_LoadBalancingPolicyOverridesLbPolicy()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LbPolicy = Cluster.Types.LbPolicy.RingHash;
        cluster.LoadBalancingPolicy = Policies(new LeastRequest { ChoiceCount = 3 });

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.LoadBalancing.Policy, Is.EqualTo(XdsLbPolicy.LeastRequest));
    }

    [Test]
    public void Decode_ClientSideWeightedRoundRobin_IsRoundRobin()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LoadBalancingPolicy = Policies(new Envoy.Extensions.LoadBalancingPolicies.ClientSideWeightedRoundRobin.V3.ClientSideWeightedRoundRobin());

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.LoadBalancing.Policy, Is.EqualTo(XdsLbPolicy.RoundRobin));
    }

    [Test]
    public void Decode_NoSupportedLoadBalancingPolicy_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LoadBalancingPolicy = Policies(new PickFirst(), new StringValue());

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("load_balancing_policy: none of the 2 policies is supported"));
    }

    [Test]
    public void Decode_LoadBalancingPolicyNestedTooDeep_IsRejected()
    {
        // Arrange
        var policy = Policies(new RoundRobin());
        for (var i = 0; i < 20; i++)
        {
            policy = Policies(new WrrLocality { EndpointPickingPolicy = policy });
        }

        var cluster = EdsCluster(V1);
        cluster.LoadBalancingPolicy = policy;

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("policies are nested more than 16 levels deep (gRFC A52)"));
    }

    [Test]
    public void Decode_CircuitBreakers_TakeTheDefaultPriority()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.CircuitBreakers = new CircuitBreakers();
        cluster.CircuitBreakers.Thresholds.Add(new CircuitBreakers.Types.Thresholds { Priority = RoutingPriority.High, MaxRequests = 1 });
        cluster.CircuitBreakers.Thresholds.Add(new CircuitBreakers.Types.Thresholds
        {
            MaxRequests = 200,
            MaxPendingRequests = 10,
            MaxRetries = uint.MaxValue,
            RetryBudget = new CircuitBreakers.Types.Thresholds.Types.RetryBudget { BudgetPercent = new Percent { Value = 25 }, MinRetryConcurrency = 5 },
        });

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.CircuitBreakers, Is.EqualTo(new XdsCircuitBreakers(200, 10, int.MaxValue, 25, 5)));
    }

    [Test]
    public void Decode_CircuitBreakersWithoutValues_KeepTheMeshDefaults()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.CircuitBreakers = new CircuitBreakers();
        cluster.CircuitBreakers.Thresholds.Add(new CircuitBreakers.Types.Thresholds { MaxRequests = 50 });

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.CircuitBreakers, Is.EqualTo(new XdsCircuitBreakers(50, null, null, null, null)));
    }

    [Test]
    public void Decode_ZeroMaxRequests_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.CircuitBreakers = new CircuitBreakers();
        cluster.CircuitBreakers.Thresholds.Add(new CircuitBreakers.Types.Thresholds { MaxRequests = 0 });

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("circuit_breakers.thresholds[0].max_requests = 0: must be at least 1"));
    }

    [Test]
    public void Decode_OutlierDetection_FillsEnvoysDefaults()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.OutlierDetection = new OutlierDetection { Consecutive5Xx = 3, Interval = Seconds(5), SuccessRateStdevFactor = 2500 };
        cluster.CommonLbConfig = new Cluster.Types.CommonLbConfig { HealthyPanicThreshold = new Percent { Value = 30 } };

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster).OutlierDetection!;

        // Assert
        Assert.That(decoded, Is.EqualTo(new XdsOutlierDetection(
            3, 100, 5, 0, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300), 10, 100, 5, 100, 2.5, 0, 85, 5, 50, 30)));
    }

    [TestCase("max_ejection_percent")]
    [TestCase("enforcing_success_rate")]
    [TestCase("failure_percentage_threshold")]
    [TestCase("enforcing_failure_percentage")]
    [TestCase("enforcing_consecutive_5xx")]
    public void Decode_OutlierPercentageAbove100_IsRejected(string field)
    {
        // Arrange
        var detection = new OutlierDetection();
        switch (field)
        {
            case "max_ejection_percent":
                detection.MaxEjectionPercent = 101;
                break;
            case "enforcing_success_rate":
                detection.EnforcingSuccessRate = 101;
                break;
            case "failure_percentage_threshold":
                detection.FailurePercentageThreshold = 101;
                break;
            case "enforcing_failure_percentage":
                detection.EnforcingFailurePercentage = 101;
                break;
            default:
                detection.EnforcingConsecutive5Xx = 101;
                break;
        }

        var cluster = EdsCluster(V1);
        cluster.OutlierDetection = detection;

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Is.EqualTo($"Cluster '{V1}': outlier_detection.{field} = 101: must be a percentage from 0 to 100 (gRFC A50)"));
    }

    [TestCase(-1, 0, "outlier_detection.interval = -1s: must not be negative")]
    [TestCase(1, -5, "outlier_detection.interval = { seconds: 1, nanos: -5 }: is not a valid google.protobuf.Duration")]
    [TestCase(0, 0, "outlier_detection.interval = 0s: must be greater than 0")]
    public void Decode_OutlierInvalidInterval_IsRejected(long seconds, int nanos, string expected)
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.OutlierDetection = new OutlierDetection { Interval = new Duration { Seconds = seconds, Nanos = nanos } };

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain(expected));
    }

    [Test]
    public void Decode_TlsTransportSocketWithoutCommonTlsContext_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(new UpstreamTlsContext()) };

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Is.EqualTo($"Cluster '{V1}': transport_socket.typed_config.common_tls_context: is not set; gRFC A29 needs at least validation_context.ca_certificate_provider_instance naming the CA certificates to trust"));
    }

    [Test]
    public void Decode_RawBufferTransportSocket_IsPlaintextAndAccepted()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.raw_buffer" };

        // Act
        var decoded = Valid<XdsCluster>(Type, cluster);

        // Assert
        Assert.That(decoded.Name, Is.EqualTo(V1));
    }

    [Test]
    public void Decode_TransportSocketMatches_AreRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.TransportSocketMatches.Add(new Cluster.Types.TransportSocketMatch { Name = "tls" });

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("transport_socket_matches: is not supported (gRFC A29)"));
    }

    [Test]
    public void Decode_LrsServerOtherThanSelf_IsRejected()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.LrsServer = new ConfigSource { Ads = new AggregatedConfigSource() };

        // Act
        var error = Invalid(Type, cluster);

        // Assert
        Assert.That(error, Does.Contain("lrs_server: must be self"));
    }
}
