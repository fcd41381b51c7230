using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Common.Fault.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Type.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Xds.Resources;
using Mesh.Xds.Tests.Infrastructure;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class XdsMeshTranslatorTests
{
    private static readonly XdsTarget BackendTarget = new(Target, Host);

    /// <summary>Decodes the resources, translates them for the backend target, and returns the options and warnings.</summary>
    private static XdsTranslation Translate(Listener listener, RouteConfiguration? routes, Cluster[] clusters, ClusterLoadAssignment[] assignments)
    {
        var decodedListener = Valid<XdsListener>(XdsResourceTypes.Listener, listener);
        var decodedRoutes = routes is null ? decodedListener.RouteConfiguration : Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, routes);
        var decodedAssignments = assignments.Select(a => Valid<XdsEndpoints>(XdsResourceTypes.Endpoints, a)).ToDictionary(a => a.Name);
        var clusterConfigs = new Dictionary<string, XdsClusterConfig>();
        foreach (var cluster in clusters.Select(c => Valid<XdsCluster>(XdsResourceTypes.Cluster, c)))
        {
            clusterConfigs[cluster.Name] = new XdsClusterConfig(cluster, cluster.EdsServiceName is { } eds ? decodedAssignments.GetValueOrDefault(eds) : null, null);
        }

        return XdsMeshTranslator.Translate([new XdsTargetConfig(BackendTarget, decodedListener, decodedRoutes, null)], clusterConfigs);
    }

    private static XdsTranslation TranslateIstio(RouteConfiguration routes, Listener? listener = null) =>
        Translate(listener ?? NewListener(), routes, [EdsCluster(V1), EdsCluster(V2)], [Assignment(V1, "10.0.0.1:8080", "10.0.0.2:8080"), Assignment(V2, "10.0.1.1:8080")]);

    private static Mesh.Model.MeshSnapshot Build(MeshOptions options) => ResourceMesh.BuildValid(options);

    private static RouteOptions OnlyRoute(XdsTranslation translation) => translation.Options.Services[Host].Routes.Single();

    [Test]
    public void Translate_IstioCanaryAndSplit_RoutesByHeaderAndWeight()
    {
        // Arrange: x-canary: 1 goes to v2; the rest is split 80/20 between v1 and v2.
        var routes = NewRouteConfig(Target, NewVirtualHost(
            NewRoute(Prefix().WithHeader(new HeaderMatcher { Name = "x-canary", ExactMatch = "1" }), ToCluster(V2), "canary"),
            NewRoute(Prefix(), Split((V1, 80), (V2, 20)), "default")));

        // Act
        var translation = TranslateIstio(routes);
        var snapshot = Build(translation.Options);

        // Assert
        var canary = ResourceTestRequest.Get("/orders", new() { ["x-canary"] = "1" }).RouteIn(snapshot, Host)!;
        var other = ResourceTestRequest.Get("/orders").RouteIn(snapshot, Host)!;
        var picks = Enumerable.Range(0, 10_000).Select(_ => other.PickCluster().Name).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(translation.Warnings, Is.Empty);
            Assert.That(canary.Name, Is.EqualTo("canary"));
            Assert.That(Enumerable.Range(0, 100).Select(_ => canary.PickCluster().Name).Distinct(), Is.EqualTo(new[] { V2 }));
            Assert.That(other.Name, Is.EqualTo("default"));
            Assert.That(picks.Count(p => p == V1), Is.InRange(7_700, 8_300));
            Assert.That(picks.Count(p => p == V2), Is.InRange(1_700, 2_300));
            Assert.That(snapshot.Clusters[V1].Endpoints.Select(e => e.Address.ToString()), Is.EqualTo(new[] { "http://10.0.0.1:8080/", "http://10.0.0.2:8080/" }));
            Assert.That(snapshot.Clusters[V2].Endpoints, Has.Length.EqualTo(1));
        });
    }

    [Test]
    public void Translate_VirtualHostDomains_BecomeHostAliasesWithoutPorts()
    {
        // Act
        var service = TranslateIstio(NewRouteConfig()).Options.Services[Host];

        // Assert
        Assert.That(service.Hosts, Is.EquivalentTo(new[] { "backend", "backend.shop", "backend.shop.svc", "10.96.0.12" }));
    }

    [Test]
    public void Translate_AliasedHost_ReachesTheService()
    {
        // Act
        var snapshot = Build(TranslateIstio(NewRouteConfig()).Options);

        // Assert
        Assert.That(ResourceTestRequest.Get("/").RouteIn(snapshot, "backend.shop")!.PickCluster().Name, Is.EqualTo(V1));
    }

    [TestCase("backend.shop.svc.cluster.local:8080", "exact")]
    [TestCase("api.shop.svc.cluster.local:8080", "long-suffix")]
    [TestCase("api.other:8080", "suffix")]
    [TestCase("backend.elsewhere", "prefix")]
    [TestCase("unrelated", "any")]
    public void SelectVirtualHost_MostSpecificDomainWins(string authority, string expected)
    {
        // Arrange
        var config = Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, NewRouteConfig(Target,
            VirtualHostFor("any", ["*"], NewRoute(Prefix(), ToCluster(V1))),
            VirtualHostFor("prefix", ["backend.*"], NewRoute(Prefix(), ToCluster(V1))),
            VirtualHostFor("suffix", ["*:8080"], NewRoute(Prefix(), ToCluster(V1))),
            VirtualHostFor("long-suffix", ["*.shop.svc.cluster.local:8080"], NewRoute(Prefix(), ToCluster(V1))),
            VirtualHostFor("exact", [Target], NewRoute(Prefix(), ToCluster(V1)))));

        // Act
        var host = XdsMeshTranslator.SelectVirtualHost(config, authority);

        // Assert
        Assert.That(host?.Name, Is.EqualTo(expected));
    }

    [Test]
    public void SelectVirtualHost_IgnorePortInHostMatching_MatchesTheHostAlone()
    {
        // Arrange
        var proto = NewRouteConfig(Target, VirtualHostFor("plain", [Host], NewRoute(Prefix(), ToCluster(V1))));
        proto.IgnorePortInHostMatching = true;
        var config = Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, proto);

        // Act
        var host = XdsMeshTranslator.SelectVirtualHost(config, Target);

        // Assert
        Assert.That(host?.Name, Is.EqualTo("plain"));
    }

    [Test]
    public void Translate_NoMatchingVirtualHost_FailsTheTargetsRequests()
    {
        // Arrange
        var routes = NewRouteConfig(Target, VirtualHostFor("other", ["other.example.com"], NewRoute(Prefix(), ToCluster(V1))));

        // Act
        var translation = TranslateIstio(routes);
        var snapshot = Build(translation.Options);

        // Assert
        var route = ResourceTestRequest.Get("/").RouteIn(snapshot, Host)!;
        Assert.Multiple(() =>
        {
            Assert.That(route.PickCluster().Name, Is.EqualTo(XdsMeshTranslator.UnavailableCluster));
            Assert.That(route.PickCluster().Endpoints, Is.Empty);
            Assert.That(translation.Warnings.Single(), Does.Contain($"no virtual host of route configuration '{Target}' matches the authority '{Target}'"));
        });
    }

    [Test]
    public void Translate_MissingCluster_FailsOnlyItsRoutes()
    {
        // Arrange
        var decoded = Valid<XdsListener>(XdsResourceTypes.Listener, NewListener());
        var routes = Valid<XdsRouteConfiguration>(XdsResourceTypes.RouteConfiguration, NewRouteConfig(Target, NewVirtualHost(
            NewRoute(Prefix("/new"), ToCluster(V2)),
            NewRoute(Prefix(), ToCluster(V1)))));
        var v1 = Valid<XdsCluster>(XdsResourceTypes.Cluster, EdsCluster(V1));
        var clusters = new Dictionary<string, XdsClusterConfig>
        {
            [V1] = new(v1, Valid<XdsEndpoints>(XdsResourceTypes.Endpoints, Assignment(V1, "10.0.0.1:80")), null),
            [V2] = new(null, null, "does not exist on the xDS server"),
        };

        // Act
        var translation = XdsMeshTranslator.Translate([new XdsTargetConfig(BackendTarget, decoded, routes, null)], clusters);
        var snapshot = Build(translation.Options);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(ResourceTestRequest.Get("/new/x").RouteIn(snapshot, Host)!.PickCluster().Endpoints, Is.Empty);
            Assert.That(ResourceTestRequest.Get("/old").RouteIn(snapshot, Host)!.PickCluster().Endpoints, Has.Length.EqualTo(1));
            Assert.That(translation.Warnings.Single(), Is.EqualTo($"Cluster '{V2}': does not exist on the xDS server; requests routed to it fail"));
        });
    }

    [Test]
    public void Translate_RoutesAfterACatchAll_AreLeftOut()
    {
        // Arrange
        var routes = NewRouteConfig(Target, NewVirtualHost(
            NewRoute(Prefix("nope"), ToCluster(V2), "never"),
            NewRoute(Prefix(), ToCluster(V1), "all"),
            NewRoute(Prefix("/x"), ToCluster(V2), "unreachable")));

        // Act
        var service = TranslateIstio(routes).Options.Services[Host];

        // Assert
        Assert.That(service.Routes.Select(r => r.Name), Is.EqualTo(new[] { "all" }));
    }

    [Test]
    public void Translate_CaseInsensitivePrefix_MatchesAnyCase()
    {
        // Arrange
        var match = Prefix("/api");
        match.CaseSensitive = false;
        var routes = NewRouteConfig(Target, NewVirtualHost(NewRoute(match, ToCluster(V2), "api"), NewRoute(Prefix(), ToCluster(V1), "rest")));

        // Act
        var snapshot = Build(TranslateIstio(routes).Options);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(ResourceTestRequest.Get("/API/orders").RouteIn(snapshot, Host)!.Name, Is.EqualTo("api"));
            Assert.That(ResourceTestRequest.Get("/apiary").RouteIn(snapshot, Host)!.Name, Is.EqualTo("api"));
            Assert.That(ResourceTestRequest.Get("/other").RouteIn(snapshot, Host)!.Name, Is.EqualTo("rest"));
        });
    }

    [Test]
    public void Translate_PathSeparatedPrefix_MatchesSegmentsOnly()
    {
        // Arrange
        var routes = NewRouteConfig(Target, NewVirtualHost(NewRoute(new RouteMatch { PathSeparatedPrefix = "/api" }, ToCluster(V2), "api"), NewRoute(Prefix(), ToCluster(V1), "rest")));

        // Act
        var snapshot = Build(TranslateIstio(routes).Options);

        // Assert
        Assert.That(
            new[] { "/api", "/api/", "/api/x", "/apix" }.Select(p => ResourceTestRequest.Get(p).RouteIn(snapshot, Host)!.Name),
            Is.EqualTo(new[] { "api", "api", "api", "rest" }));
    }

    [Test]
    public void Translate_HeaderContainsAndQueryAndMethod_MatchRequests()
    {
        // Arrange
        var match = Prefix("/")
            .WithHeader(new HeaderMatcher { Name = "user-agent", ContainsMatch = "bot." })
            .WithHeader(new HeaderMatcher { Name = ":method", ExactMatch = "GET" });
        match.QueryParameters.Add(new QueryParameterMatcher { Name = "debug", PresentMatch = true });
        var routes = NewRouteConfig(Target, NewVirtualHost(NewRoute(match, ToCluster(V2), "bots"), NewRoute(Prefix(), ToCluster(V1), "rest")));
        var snapshot = Build(TranslateIstio(routes).Options);

        // Act
        var bot = ResourceTestRequest.Get("/", new() { ["User-Agent"] = "a bot.x" }, "debug=1").RouteIn(snapshot, Host)!.Name;
        var notDotted = ResourceTestRequest.Get("/", new() { ["User-Agent"] = "a botx" }, "debug=1").RouteIn(snapshot, Host)!.Name;
        var noQuery = ResourceTestRequest.Get("/", new() { ["User-Agent"] = "a bot.x" }).RouteIn(snapshot, Host)!.Name;

        // Assert
        Assert.That(new[] { bot, notDotted, noQuery }, Is.EqualTo(new[] { "bots", "rest", "rest" }));
    }

    [TestCase(2.0, 5.0, null, null, 2.0)]
    [TestCase(null, 5.0, null, 9.0, 5.0)]
    [TestCase(null, null, null, 9.0, 9.0)]
    [TestCase(8.0, 5.0, 3.0, 9.0, 3.0)]
    [TestCase(0.0, null, 0.0, 9.0, null)]
    [TestCase(0.0, null, null, 0.0, null)]
    [TestCase(null, null, null, null, null)]
    public void Translate_Timeout_IsTheSmallestOfTimeoutAndStreamLimit(double? timeout, double? maxStream, double? grpcHeaderMax, double? listenerMaxStream, double? expected)
    {
        // Arrange
        var action = ToCluster(V1);
        if (timeout is { } t)
        {
            action.Timeout = Seconds(t);
        }

        if (maxStream is not null || grpcHeaderMax is not null)
        {
            action.MaxStreamDuration = new RouteAction.Types.MaxStreamDuration();
            if (maxStream is { } m)
            {
                action.MaxStreamDuration.MaxStreamDuration_ = Seconds(m);
            }

            if (grpcHeaderMax is { } g)
            {
                action.MaxStreamDuration.GrpcTimeoutHeaderMax = Seconds(g);
            }
        }

        var hcm = RdsManager();
        if (listenerMaxStream is { } l)
        {
            hcm.CommonHttpProtocolOptions = new HttpProtocolOptions { MaxStreamDuration = Seconds(l) };
        }

        // Act
        var route = OnlyRoute(TranslateIstio(NewRouteConfig(Target, NewVirtualHost(NewRoute(Prefix(), action))), NewListener(hcm: hcm)));

        // Assert
        Assert.That(route.Timeout, Is.EqualTo(expected is { } e ? TimeSpan.FromSeconds(e) : (TimeSpan?)null));
    }

    [Test]
    public void Translate_RetryPolicy_RouteOverridesVirtualHost()
    {
        // Arrange
        var host = NewVirtualHost(
            NewRoute(Prefix("/own"), new RouteAction { Cluster = V1, RetryPolicy = new RetryPolicy { RetryOn = "5xx", NumRetries = 4 } }, "own"),
            NewRoute(Prefix(), ToCluster(V1), "inherited"));
        host.RetryPolicy = new RetryPolicy
        {
            RetryOn = "gateway-error,retriable-status-codes",
            RetriableStatusCodes = { 409 },
            PerTryTimeout = Seconds(1),
            RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = Seconds(0.05), MaxInterval = Seconds(0.2) },
        };

        // Act
        var translation = TranslateIstio(NewRouteConfig(Target, host));
        var routes = translation.Options.Services[Host].Routes;
        _ = Build(translation.Options);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That((routes[0].Retries!.Attempts, routes[0].Retries!.RetryOn), Is.EqualTo((4, "5xx")));
            var inherited = routes[1].Retries!;
            Assert.That(inherited.Attempts, Is.EqualTo(1));
            Assert.That(inherited.RetryOn, Is.EqualTo("gateway-error,retriable-status-codes"));
            Assert.That(inherited.RetriableStatusCodes, Is.EqualTo(new[] { 409 }));
            Assert.That(inherited.PerTryTimeout, Is.EqualTo(TimeSpan.FromSeconds(1)));
            Assert.That((inherited.BackoffBaseInterval, inherited.BackoffMaxInterval), Is.EqualTo((TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(200))));
        });
    }

    [Test]
    public void Translate_FaultFilter_MostSpecificOverrideWins()
    {
        // Arrange: the listener delays 10 %; the virtual host disables faults; one route aborts all with 503.
        var listenerFault = new HTTPFault { Delay = new FaultDelay { FixedDelay = Seconds(0.2), Percentage = new FractionalPercent { Numerator = 10 } } };
        var listener = NewListener(hcm: RdsManager(Target, FaultFilter(listenerFault, "fault"), RouterFilter()));
        var abort = NewRoute(Prefix("/abort"), ToCluster(V1), "abort");
        abort.TypedPerFilterConfig["fault"] = Any.Pack(new HTTPFault { Abort = new FaultAbort { HttpStatus = 503, Percentage = new FractionalPercent { Numerator = 100 } } });
        var host = NewVirtualHost(abort, NewRoute(Prefix(), ToCluster(V1), "quiet"));
        host.TypedPerFilterConfig["fault"] = Any.Pack(new FilterConfig { Disabled = true });
        var plainHost = NewVirtualHost(NewRoute(Prefix(), ToCluster(V1), "delayed"));

        // Act
        var overridden = TranslateIstio(NewRouteConfig(Target, host), listener);
        var inherited = TranslateIstio(NewRouteConfig(Target, plainHost), listener);
        _ = Build(overridden.Options);

        // Assert
        var routes = overridden.Options.Services[Host].Routes;
        var delayed = OnlyRoute(inherited).Fault!;
        Assert.Multiple(() =>
        {
            Assert.That(routes[0].Fault!.Abort!.HttpStatus, Is.EqualTo(503));
            Assert.That(routes[0].Fault!.Abort!.Percentage, Is.EqualTo(100));
            Assert.That(routes[0].Fault!.Delay, Is.Null);
            Assert.That(routes[1].Fault, Is.Null);
            Assert.That((delayed.Delay!.FixedDelay, delayed.Delay.Percentage, delayed.Abort), Is.EqualTo((TimeSpan.FromMilliseconds(200), 10.0, (FaultAbortOptions?)null)));
        });
    }

    [Test]
    public void Translate_RingHashCluster_TakesTheFirstRoutesHashKey()
    {
        // Arrange: two routes ask different keys of the same ring-hash cluster.
        var ring = EdsCluster(V1);
        ring.LbPolicy = Cluster.Types.LbPolicy.RingHash;
        ring.RingHashLbConfig = new Cluster.Types.RingHashLbConfig { MinimumRingSize = 64, MaximumRingSize = 1024 };
        var byUser = ToCluster(V1);
        byUser.HashPolicy.Add(new RouteAction.Types.HashPolicy { Header = new RouteAction.Types.HashPolicy.Types.Header { HeaderName = "x-user" } });
        var bySession = ToCluster(V1);
        bySession.HashPolicy.Add(new RouteAction.Types.HashPolicy { Cookie = new RouteAction.Types.HashPolicy.Types.Cookie { Name = "session" } });
        var routes = NewRouteConfig(Target, NewVirtualHost(NewRoute(Prefix("/a"), byUser, "a"), NewRoute(Prefix(), bySession, "b")));

        // Act
        var translation = Translate(NewListener(), routes, [ring], [Assignment(V1, "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")]);
        var snapshot = Build(translation.Options);

        // Assert
        var balancer = translation.Options.Clusters[V1].LoadBalancer!;
        Assert.Multiple(() =>
        {
            Assert.That(balancer.Policy, Is.EqualTo(LoadBalancingDefaults.RingHash));
            Assert.That(balancer.ConsistentHash!.HttpHeaderName, Is.EqualTo("x-user"));
            Assert.That((balancer.ConsistentHash.MinimumRingSize, balancer.ConsistentHash.MaximumRingSize), Is.EqualTo((64, 1024)));
            Assert.That(snapshot.Clusters[V1].PolicyName, Is.EqualTo(LoadBalancingDefaults.RingHash));
            Assert.That(translation.Warnings.Single(), Is.EqualTo($"Cluster '{V1}': route 'b' of target '{Target}' hashes on cookie 'session', but route 'a' of target '{Target}' already chose header 'x-user'; the mesh keeps one hash key per cluster, so the first is used"));
        });
    }

    [Test]
    public void Translate_RingHashWithoutHashPolicy_PicksAtRandom()
    {
        // Arrange
        var ring = EdsCluster(V1);
        ring.LbPolicy = Cluster.Types.LbPolicy.Maglev;

        // Act
        var translation = Translate(NewListener(), NewRouteConfig(), [ring], [Assignment(V1, "10.0.0.1:80", "10.0.0.2:80")]);
        _ = Build(translation.Options);

        // Assert
        Assert.That(translation.Options.Clusters[V1].LoadBalancer!.Policy, Is.EqualTo(LoadBalancingDefaults.Random));
    }

    [Test]
    public void Translate_LocalityWeights_GiveEachLocalityItsShare()
    {
        // Arrange: zone-a (weight 3) has 1 endpoint, zone-b (weight 1) has 2: shares 3/4, 1/8, 1/8.
        var assignment = Assignment(V1,
            NewLocality("zone-a", 3, 0, NewEndpoint("10.0.0.1", 80)),
            NewLocality("zone-b", 1, 0, NewEndpoint("10.0.1.1", 80), NewEndpoint("10.0.1.2", 80)));

        // Act
        var translation = Translate(NewListener(), NewRouteConfig(), [EdsCluster(V1)], [assignment]);
        _ = Build(translation.Options);

        // Assert
        var cluster = translation.Options.Clusters[V1];
        Assert.Multiple(() =>
        {
            Assert.That(cluster.Endpoints.Select(e => (e.Address, e.Weight, e.Locality)), Is.EqualTo(new[]
            {
                ("http://10.0.0.1:80", 6, "region-1/zone-a"),
                ("http://10.0.1.1:80", 1, "region-1/zone-b"),
                ("http://10.0.1.2:80", 1, "region-1/zone-b"),
            }));
            Assert.That(cluster.LoadBalancer!.Policy, Is.EqualTo(LoadBalancingDefaults.WeightedRoundRobin));
        });
    }

    [Test]
    public void Translate_IstioLocalityWeights_KeepPlainRoundRobin()
    {
        // Arrange: istiod weighs each locality by its endpoint count, which gives every endpoint the same share.
        var assignment = Assignment(V1,
            NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80)),
            NewLocality("zone-b", 2, 0, NewEndpoint("10.0.1.1", 80), NewEndpoint("10.0.1.2", 80)));

        // Act
        var cluster = Translate(NewListener(), NewRouteConfig(), [EdsCluster(V1)], [assignment]).Options.Clusters[V1];

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(cluster.Endpoints.Select(e => e.Weight), Is.EqualTo(new[] { 1, 1, 1 }));
            Assert.That(cluster.LoadBalancer!.Policy, Is.EqualTo(LoadBalancingDefaults.RoundRobin));
        });
    }

    [Test]
    public void Translate_PriorityWithoutEndpoints_FailsOverToTheNext()
    {
        // Arrange: priority 0's only endpoint is unhealthy.
        var assignment = Assignment(V1,
            NewLocality("zone-a", 1, 0, NewEndpoint("10.0.0.1", 80, HealthStatus.Unhealthy)),
            NewLocality("zone-b", 1, 1, NewEndpoint("10.0.1.1", 80)),
            NewLocality("zone-c", 1, 2, NewEndpoint("10.0.2.1", 80)));

        // Act
        var cluster = Translate(NewListener(), NewRouteConfig(), [EdsCluster(V1)], [assignment]).Options.Clusters[V1];

        // Assert
        Assert.That(cluster.Endpoints.Select(e => e.Address), Is.EqualTo(new[] { "http://10.0.1.1:80" }));
    }

    [Test]
    public void Translate_CircuitBreakersAndOutlierDetection_MapToTheClusterOptions()
    {
        // Arrange
        var cluster = EdsCluster(V1);
        cluster.CircuitBreakers = new CircuitBreakers();
        cluster.CircuitBreakers.Thresholds.Add(new CircuitBreakers.Types.Thresholds { MaxRequests = 100, MaxPendingRequests = 5 });
        cluster.OutlierDetection = new OutlierDetection
        {
            Consecutive5Xx = 7,
            ConsecutiveGatewayFailure = 3,
            EnforcingConsecutiveGatewayFailure = 100,
            BaseEjectionTime = Seconds(15),
            MaxEjectionPercent = 50,
            EnforcingFailurePercentage = 100,
            FailurePercentageThreshold = 60,
        };

        // Act
        var translation = Translate(NewListener(), NewRouteConfig(), [cluster], [Assignment(V1, "10.0.0.1:80")]);
        _ = Build(translation.Options);

        // Assert
        var options = translation.Options.Clusters[V1];
        Assert.Multiple(() =>
        {
            Assert.That((options.ConnectionPool!.MaxRequests, options.ConnectionPool.MaxPendingRequests), Is.EqualTo((100, 5)));
            Assert.That(options.ConnectionPool.MaxRetries, Is.EqualTo(ResilienceDefaults.MaxRetries), "without max_retries the mesh's default (unlimited, with a budget) stays");
            Assert.That(options.ConnectionPool.RetryBudgetPercent, Is.EqualTo(ResilienceDefaults.RetryBudgetPercent));
            var outliers = options.OutlierDetection!;
            Assert.That((outliers.Consecutive5xxErrors, outliers.ConsecutiveGatewayErrors, outliers.EnforcingConsecutiveGatewayErrors), Is.EqualTo((7, (int?)3, (int?)100)));
            Assert.That((outliers.BaseEjectionTime, outliers.MaxEjectionPercent, outliers.Interval), Is.EqualTo((TimeSpan.FromSeconds(15), 50, TimeSpan.FromSeconds(10))));
            Assert.That((outliers.EnforcingFailurePercentage, outliers.FailurePercentageThreshold), Is.EqualTo((100, 60)));
        });
    }

    [Test]
    public void Translate_NonForwardingRoute_SendsToTheUnavailableCluster()
    {
        // Arrange
        var routes = NewRouteConfig(Target, NewVirtualHost(new Route { Match = Prefix(), NonForwardingAction = new NonForwardingAction() }));

        // Act
        var translation = TranslateIstio(routes);
        var snapshot = Build(translation.Options);

        // Assert
        Assert.That(ResourceTestRequest.Get("/").RouteIn(snapshot, Host)!.PickCluster().Name, Is.EqualTo(XdsMeshTranslator.UnavailableCluster));
    }

    [Test]
    public void Translate_InlineRouteConfiguration_IsUsed()
    {
        // Arrange
        var hcm = new Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager { RouteConfig = NewRouteConfig("inline", NewVirtualHost(NewRoute(Prefix(), ToCluster(V2)))) };
        hcm.HttpFilters.Add(RouterFilter());

        // Act
        var translation = Translate(NewListener(hcm: hcm), null, [EdsCluster(V2)], [Assignment(V2, "10.0.1.1:80")]);
        var snapshot = Build(translation.Options);

        // Assert
        Assert.That(ResourceTestRequest.Get("/").RouteIn(snapshot, Host)!.PickCluster().Name, Is.EqualTo(V2));
    }
}
