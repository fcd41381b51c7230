using System.Collections;
using System.Globalization;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Common.Fault.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Extensions.LoadBalancingPolicies.RingHash.V3;
using Envoy.Extensions.LoadBalancingPolicies.RoundRobin.V3;
using Envoy.Extensions.LoadBalancingPolicies.WrrLocality.V3;
using Envoy.Type.Matcher.V3;
using Envoy.Type.V3;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Resources;
using Mesh.Xds.Tests.Infrastructure;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

/// <summary>
/// Thousands of mutated resources (flipped bytes, truncations, random field values, wrong type URLs) through every
/// decoder: no exception escapes, every rejection has a message, and every resource a decoder accepts translates into
/// options the mesh's builder accepts. Seeds are fixed; a failure names the seed and the iteration to replay.
/// </summary>
[TestFixture]
public sealed class ResourceDecoderFuzzTests
{
    private const int Iterations = 5_000;

    private static readonly XdsResourceType[] Types = [.. XdsResourceTypes.All];

    private static readonly string[] Strings =
    [
        string.Empty, "a", "*", "*.shop", "shop.*", "a*b", "/", "/api", "api", "10.0.0.1", "::1", "[::1]:80", "host:80", "x-canary",
        ":method", ":authority", "(", "[a-", "a{2,1}", "(a)\\1", ".*", "\u0000", "é", Target, V1, V2, "envoy.filters.http.router",
    ];

    private static readonly string[] TypeUrls =
    [
        XdsListenerResourceType.ListenerTypeUrl,
        XdsRouteConfigurationResourceType.RouteConfigurationTypeUrl,
        XdsClusterResourceType.ClusterTypeUrl,
        XdsEndpointsResourceType.EndpointsTypeUrl,
        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
        "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "type.googleapis.com/envoy.config.route.v3.FilterConfig",
        "type.googleapis.com/udpa.type.v1.TypedStruct",
        "type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash",
        "type.googleapis.com/envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality",
        "type.googleapis.com/google.protobuf.StringValue",
        "garbage",
        string.Empty,
    ];

    [TestCase(20240601)]
    [TestCase(7)]
    public void Decode_MutatedResources_NeverThrowAndExplainEveryRejection(int seed)
    {
        var random = new Random(seed);
        var seeds = SeedResources();
        var accepted = 0;
        var rejected = 0;
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            var (type, original) = seeds[random.Next(seeds.Count)];
            var any = Mutate(original, type, random, out var mutation);
            foreach (var decoder in Types)
            {
                var context = $"seed {seed.ToString(CultureInfo.InvariantCulture)}, iteration {iteration.ToString(CultureInfo.InvariantCulture)}, {mutation}, {decoder.Name} decoder, resource {any.TypeUrl} {Convert.ToBase64String(any.Value.ToByteArray())}";
                XdsDecodeResult result;
                try
                {
                    result = decoder.Decode(any);
                }
                catch (Exception e)
                {
                    Assert.Fail($"The decoder threw {e.GetType().Name}: {e.Message} ({context})");
                    return;
                }

                if (result.Error is null)
                {
                    accepted++;
                    Assert.That(result.Resource, Is.Not.Null, context);
                    Assert.That(result.Name, Is.Not.Null.And.Not.Empty, context);
                    CheckTranslates(result.Resource!, context);
                }
                else
                {
                    rejected++;
                    Assert.That(result.Error, Is.Not.Empty, context);
                    Assert.That(result.Resource, Is.Null, context);
                }
            }
        }

        TestContext.Out.WriteLine($"seed {seed}: {accepted} decodes accepted (and translated), {rejected} rejected");

        // Both outcomes must be well represented, or the fuzzing proves little.
        Assert.Multiple(() =>
        {
            Assert.That(accepted, Is.GreaterThan(Iterations / 10), "accepted decodes");
            Assert.That(rejected, Is.GreaterThan(Iterations / 10), "rejected decodes");
        });
    }

    /// <summary>An accepted resource, put in a configuration with what it needs, must build a valid snapshot.</summary>
    private static void CheckTranslates(object resource, string context)
    {
        var target = new XdsTarget(Target, Host);
        var listener = Valid<XdsListener>(XdsResourceTypes.Listener, NewListener(hcm: RdsManager(Target, FaultFilter(), RouterFilter())));
        var routes = Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, NewRouteConfig());
        var clusters = new Dictionary<string, XdsClusterConfig>();
        var endpoints = Valid<XdsEndpoints>(XdsResourceTypes.Endpoints, Assignment(V1, "10.0.0.1:80", "10.0.0.2:80"));
        switch (resource)
        {
            case XdsListener decoded:
                listener = decoded;
                routes = decoded.RouteConfiguration ?? routes;
                break;
            case XdsRouteConfiguration decoded:
                routes = decoded;
                break;
            case XdsCluster decoded:
                routes = Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, NewRouteConfig(Target, NewVirtualHost(NewRoute(Prefix(), HashedCluster(decoded.Name)))));
                clusters[decoded.Name] = new XdsClusterConfig(decoded, endpoints with { Name = decoded.EdsServiceName ?? decoded.Name }, null);
                break;
            case XdsEndpoints decoded:
                endpoints = decoded;
                break;
        }

        var host = XdsMeshTranslator.SelectVirtualHost(routes, Target);
        foreach (var name in host is null ? [] : XdsMeshTranslator.ReferencedClusters(host))
        {
            if (!clusters.ContainsKey(name))
            {
                clusters[name] = new XdsClusterConfig(Valid<XdsCluster>(XdsResourceTypes.Cluster, EdsCluster(name)), endpoints, null);
            }
        }

        var translation = XdsMeshTranslator.Translate([new XdsTargetConfig(target, listener, routes, null)], clusters);
        var result = ResourceMesh.Build(translation.Options);
        Assert.That(result.Errors, Is.Empty, $"an accepted resource must translate into valid options ({context})");
    }

    private static RouteAction HashedCluster(string name)
    {
        var action = ToCluster(name);
        action.HashPolicy.Add(new RouteAction.Types.HashPolicy { Header = new RouteAction.Types.HashPolicy.Types.Header { HeaderName = "x-user" } });
        return action;
    }

    private static Any Mutate(IMessage original, XdsResourceType type, Random random, out string mutation)
    {
        var message = original.Descriptor.Parser.ParseFrom(original.ToByteString());
        switch (random.Next(6))
        {
            case 0:
                mutation = "flipped bytes";
                return new Any { TypeUrl = type.TypeUrl, Value = FlipBytes(message.ToByteArray(), random) };
            case 1:
                mutation = "truncated";
                var bytes = message.ToByteArray();
                return new Any { TypeUrl = type.TypeUrl, Value = ByteString.CopyFrom(bytes, 0, random.Next(bytes.Length + 1)) };
            case 2:
                mutation = "random field values";
                for (var i = random.Next(1, 5); i > 0; i--)
                {
                    MutateField(message, random, 0);
                }

                return new Any { TypeUrl = type.TypeUrl, Value = message.ToByteString() };
            case 3:
                mutation = "random field values and flipped bytes";
                MutateField(message, random, 0);
                return new Any { TypeUrl = type.TypeUrl, Value = FlipBytes(message.ToByteArray(), random) };
            case 4:
                mutation = "another type URL";
                return new Any { TypeUrl = TypeUrls[random.Next(TypeUrls.Length)], Value = message.ToByteString() };
            default:
                mutation = "random bytes";
                var noise = new byte[random.Next(64)];
                random.NextBytes(noise);
                return new Any { TypeUrl = type.TypeUrl, Value = ByteString.CopyFrom(noise) };
        }
    }

    private static ByteString FlipBytes(byte[] bytes, Random random)
    {
        for (var i = random.Next(1, 6); i > 0 && bytes.Length > 0; i--)
        {
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        }

        return ByteString.CopyFrom(bytes);
    }

    /// <summary>Sets one field somewhere in the message tree to a random (often boundary) value, clears it, or adds or removes an element.</summary>
    private static void MutateField(IMessage message, Random random, int depth)
    {
        var fields = message.Descriptor.Fields.InFieldNumberOrder();
        if (fields.Count == 0)
        {
            return;
        }

        var field = fields[random.Next(fields.Count)];
        var accessor = field.Accessor;
        if (field.IsMap)
        {
            ((IDictionary)accessor.GetValue(message)).Clear();
            return;
        }

        if (field.IsRepeated)
        {
            var list = (IList)accessor.GetValue(message);
            if (list.Count > 0 && field.FieldType == FieldType.Message && random.Next(2) == 0)
            {
                MutateField((IMessage)list[random.Next(list.Count)]!, random, depth + 1);
            }
            else if (list.Count > 0 && random.Next(3) == 0)
            {
                list.RemoveAt(random.Next(list.Count));
            }
            else if (list.Count > 0 && random.Next(3) == 0)
            {
                // Duplicates are a classic: the same endpoint, locality or filter twice.
                list.Add(field.FieldType == FieldType.Message ? Copy((IMessage)list[random.Next(list.Count)]!) : list[random.Next(list.Count)]);
            }
            else if (RandomValue(field, random) is { } value)
            {
                list.Add(value);
            }

            return;
        }

        if (field.FieldType == FieldType.Message && !IsWrapper(field.MessageType) && depth < 12)
        {
            var current = (IMessage?)accessor.GetValue(message);
            if (current is not null && random.Next(4) != 0)
            {
                MutateField(current, random, depth + 1);
                return;
            }
        }

        accessor.SetValue(message, RandomValue(field, random));
    }

    private static IMessage Copy(IMessage message) => message.Descriptor.Parser.ParseFrom(message.ToByteString());

    private static bool IsWrapper(MessageDescriptor type) => type.File.Package == "google.protobuf" && type.Name.EndsWith("Value", StringComparison.Ordinal) && type.Name is not ("Value" or "ListValue");

    private static object? RandomValue(FieldDescriptor field, Random random)
    {
        switch (field.FieldType)
        {
            case FieldType.Bool:
                return random.Next(2) == 0;
            case FieldType.String:
                return Strings[random.Next(Strings.Length)];
            case FieldType.Bytes:
                var bytes = new byte[random.Next(8)];
                random.NextBytes(bytes);
                return ByteString.CopyFrom(bytes);
            case FieldType.Enum:
                return System.Enum.ToObject(field.EnumType.ClrType, random.Next(5) == 0 ? random.Next(-3, 100) : random.Next(field.EnumType.Values.Count));
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                return Pick(random, 0, 1, -1, int.MaxValue, int.MinValue, random.Next(-100, 100_000));
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                return Pick(random, 0L, 1L, -1L, long.MaxValue, long.MinValue, 315_576_000_001L, (long)random.Next(-100, 100_000));
            case FieldType.UInt32 or FieldType.Fixed32:
                return Pick(random, 0u, 1u, 2u, 100u, 101u, 65_536u, uint.MaxValue, (uint)random.Next(0, 100_000));
            case FieldType.UInt64 or FieldType.Fixed64:
                return Pick(random, 0ul, 1ul, 1024ul, 8_388_608ul, 8_388_609ul, ulong.MaxValue, (ulong)random.Next(0, 100_000));
            case FieldType.Double:
                return Pick(random, 0d, 50d, 100d, 101d, -1d, double.NaN, double.PositiveInfinity);
            case FieldType.Float:
                return Pick(random, 0f, 1f, -1f, float.NaN);
            case FieldType.Message when IsWrapper(field.MessageType):
                // C# exposes wrapper fields as nullable primitives.
                return random.Next(4) == 0 ? null : field.MessageType.Name switch
                {
                    "BoolValue" => random.Next(2) == 0,
                    "UInt32Value" => Pick(random, 0u, 1u, 2u, 100u, 101u, uint.MaxValue),
                    "UInt64Value" => Pick(random, 0ul, 1ul, 8_388_608ul, 8_388_609ul, ulong.MaxValue),
                    "Int32Value" => Pick(random, 0, -1, int.MaxValue),
                    "Int64Value" => Pick(random, 0L, -1L, long.MaxValue),
                    "DoubleValue" => Pick(random, 0d, -1d, double.NaN),
                    "FloatValue" => Pick(random, 0f, float.NaN),
                    "StringValue" => Strings[random.Next(Strings.Length)],
                    _ => ByteString.Empty,
                };
            case FieldType.Message when field.MessageType.FullName == Any.Descriptor.FullName:
                return new Any { TypeUrl = TypeUrls[random.Next(TypeUrls.Length)], Value = random.Next(2) == 0 ? ByteString.Empty : new Duration { Seconds = random.Next() }.ToByteString() };
            case FieldType.Message when field.MessageType.FullName == Duration.Descriptor.FullName:
                return Pick(random, new Duration(), new Duration { Seconds = -1 }, new Duration { Seconds = 1, Nanos = -5 }, new Duration { Seconds = long.MaxValue }, new Duration { Nanos = 1000 }, new Duration { Seconds = 5 });
            case FieldType.Message:
                // A fresh, empty message, or none.
                return random.Next(3) == 0 ? null : field.MessageType.Parser.ParseFrom(ByteString.Empty);
            default:
                return null;
        }
    }

    private static T Pick<T>(Random random, params T[] values) => values[random.Next(values.Length)];

    /// <summary>Valid, feature-rich resources of every type to start the mutations from.</summary>
    private static List<(XdsResourceType Type, IMessage Message)> SeedResources()
    {
        var fault = new HTTPFault
        {
            Delay = new FaultDelay { FixedDelay = Seconds(0.1), Percentage = new FractionalPercent { Numerator = 5, Denominator = FractionalPercent.Types.DenominatorType.TenThousand } },
            Abort = new FaultAbort { GrpcStatus = 14, Percentage = new FractionalPercent { Numerator = 10 } },
        };
        var routes = RichRoutes();
        var inlineHcm = new Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager
        {
            RouteConfig = routes.Clone(),
            CommonHttpProtocolOptions = new HttpProtocolOptions { MaxStreamDuration = Seconds(30) },
        };
        inlineHcm.HttpFilters.Add(FaultFilter(fault, "fault"));
        inlineHcm.HttpFilters.Add(RouterFilter());

        var ring = EdsCluster(V1, "backend-v1");
        ring.LbPolicy = Cluster.Types.LbPolicy.RingHash;
        ring.RingHashLbConfig = new Cluster.Types.RingHashLbConfig { MinimumRingSize = 64, MaximumRingSize = 4096 };
        ring.CircuitBreakers = new CircuitBreakers();
        ring.CircuitBreakers.Thresholds.Add(new CircuitBreakers.Types.Thresholds
        {
            MaxRequests = 100,
            MaxPendingRequests = 10,
            MaxRetries = 3,
            RetryBudget = new CircuitBreakers.Types.Thresholds.Types.RetryBudget { BudgetPercent = new Percent { Value = 20 }, MinRetryConcurrency = 2 },
        });
        ring.OutlierDetection = new OutlierDetection { Consecutive5Xx = 3, Interval = Seconds(5), BaseEjectionTime = Seconds(10), MaxEjectionPercent = 50, EnforcingFailurePercentage = 100 };
        ring.CommonLbConfig = new Cluster.Types.CommonLbConfig { HealthyPanicThreshold = new Percent { Value = 40 } };

        var policy = EdsCluster(V2);
        var inner = new LoadBalancingPolicy();
        inner.Policies.Add(new LoadBalancingPolicy.Types.Policy { TypedExtensionConfig = new TypedExtensionConfig { Name = "ring", TypedConfig = Any.Pack(new RingHash { MinimumRingSize = 16 }) } });
        inner.Policies.Add(new LoadBalancingPolicy.Types.Policy { TypedExtensionConfig = new TypedExtensionConfig { Name = "rr", TypedConfig = Any.Pack(new RoundRobin()) } });
        policy.LoadBalancingPolicy = new LoadBalancingPolicy();
        policy.LoadBalancingPolicy.Policies.Add(new LoadBalancingPolicy.Types.Policy { TypedExtensionConfig = new TypedExtensionConfig { Name = "wrr", TypedConfig = Any.Pack(new WrrLocality { EndpointPickingPolicy = inner }) } });

        var assignment = Assignment(V1,
            NewLocality("zone-a", 3, 0, NewEndpoint("10.0.0.1", 8080), NewEndpoint("10.0.0.2", 8080, HealthStatus.Unknown, 3), NewEndpoint("10.0.0.3", 8080, HealthStatus.Draining)),
            NewLocality("zone-b", 1, 0, NewEndpoint("fd00::1", 8080, weight: 2)),
            NewLocality("zone-c", 1, 1, NewEndpoint("10.0.2.1", 8080)));
        assignment.Endpoints[0].LbEndpoints[0].Endpoint.AdditionalAddresses.Add(new Envoy.Config.Endpoint.V3.Endpoint.Types.AdditionalAddress { Address = new Address { SocketAddress = new SocketAddress { Address = "fd00::9", PortValue = 8080 } } });

        return
        [
            (XdsResourceTypes.Listener, NewListener(hcm: RdsManager(Target, FaultFilter(fault, "fault"), RouterFilter()))),
            (XdsResourceTypes.Listener, NewListener(hcm: inlineHcm)),
            (XdsResourceTypes.RouteConfiguration, routes),
            (XdsResourceTypes.Cluster, ring),
            (XdsResourceTypes.Cluster, policy),
            (XdsResourceTypes.Cluster, new Cluster { Name = "static", Type = Cluster.Types.DiscoveryType.Static, LoadAssignment = Assignment("static", "10.1.0.1:80", "10.1.0.2:80") }),
            (XdsResourceTypes.Endpoints, assignment),
        ];
    }

    private static RouteConfiguration RichRoutes()
    {
        var caseless = new RouteMatch { Prefix = "/Api", CaseSensitive = false };
        caseless.QueryParameters.Add(new QueryParameterMatcher { Name = "v", StringMatch = new StringMatcher { Exact = "2", IgnoreCase = true } });
        var headers = new RouteMatch { SafeRegex = new RegexMatcher { Regex = "/orders/[0-9]+" } };
        headers.Headers.Add(new HeaderMatcher { Name = "x-canary", ExactMatch = "1" });
        headers.Headers.Add(new HeaderMatcher { Name = "user-agent", ContainsMatch = "bot" });
        headers.Headers.Add(new HeaderMatcher { Name = "x-debug", PresentMatch = true, InvertMatch = true });
        headers.Headers.Add(new HeaderMatcher { Name = ":method", ExactMatch = "GET" });
        var split = Split((V1, 80), (V2, 20));
        split.Timeout = Seconds(2);
        split.MaxStreamDuration = new RouteAction.Types.MaxStreamDuration { MaxStreamDuration_ = Seconds(5) };
        split.RetryPolicy = new RetryPolicy { RetryOn = "5xx,retriable-status-codes,unavailable", NumRetries = 2, PerTryTimeout = Seconds(1), RetriableStatusCodes = { 409 }, RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = Seconds(0.05) } };
        split.HashPolicy.Add(new RouteAction.Types.HashPolicy { Header = new RouteAction.Types.HashPolicy.Types.Header { HeaderName = "x-user" } });
        var abort = NewRoute(new RouteMatch { PathSeparatedPrefix = "/admin" }, ToCluster(V2), "admin");
        abort.TypedPerFilterConfig["fault"] = Any.Pack(new HTTPFault { Abort = new FaultAbort { HttpStatus = 403, Percentage = new FractionalPercent { Numerator = 100 } } });
        var host = NewVirtualHost(
            NewRoute(headers, ToCluster(V2), "orders"),
            abort,
            NewRoute(caseless, split, "api"),
            new Route { Match = new RouteMatch { Path = "/internal" }, NonForwardingAction = new NonForwardingAction() },
            NewRoute(Prefix(), ToCluster(V1), "default"));
        host.RetryPolicy = new RetryPolicy { RetryOn = "connect-failure", NumRetries = 1 };
        host.TypedPerFilterConfig["fault"] = Any.Pack(new FilterConfig { Disabled = true });
        return NewRouteConfig(Target, host, VirtualHostFor("other", ["*.example.com", "api.*"], NewRoute(Prefix("/"), ToCluster(V1))));
    }
}
