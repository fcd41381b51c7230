using Envoy.Config.Core.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Type.Matcher.V3;
using Envoy.Type.V3;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Resources;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class RouteConfigurationResourceTypeTests
{
    private static readonly XdsRouteConfigurationResourceType Type = XdsRouteConfigurationResourceType.Instance;

    private static XdsRoute OnlyRoute(RouteMatch match, RouteAction? action = null) =>
        Valid<XdsRouteConfiguration>(Type, NewRouteConfig(Target, NewVirtualHost(NewRoute(match, action ?? ToCluster(V1))))).VirtualHosts[0].Routes.Single();

    private static string RouteError(RouteMatch match, RouteAction? action = null) =>
        Invalid(Type, NewRouteConfig(Target, NewVirtualHost(NewRoute(match, action ?? ToCluster(V1)))));

    [Test]
    public void Decode_IstioShapedConfiguration_KeepsDomainsRoutesAndClusters()
    {
        // Arrange
        var config = NewRouteConfig(Target, NewVirtualHost(
            NewRoute(Prefix().WithHeader(new HeaderMatcher { Name = "x-canary", ExactMatch = "1" }), ToCluster(V2), "canary"),
            NewRoute(Prefix(), Split((V1, 80), (V2, 20)), "default")));

        // Act
        var decoded = Valid<XdsRouteConfiguration>(Type, config);

        // Assert
        var host = decoded.VirtualHosts.Single();
        Assert.Multiple(() =>
        {
            Assert.That(decoded.Name, Is.EqualTo(Target));
            Assert.That(host.Domains, Does.Contain(Target).And.Contain("backend"));
            Assert.That(host.Routes.Select(r => r.Name), Is.EqualTo(new[] { "canary", "default" }));
            Assert.That(host.Routes[0].Match.Headers.Single(), Is.EqualTo(("x-canary", new XdsStringMatch(XdsStringMatchKind.Exact, "1"))));
            Assert.That(host.Routes[0].Action!.Clusters.Select(c => (c.Name, c.Weight)), Is.EqualTo(new[] { (V2, 1u) }));
            Assert.That(host.Routes[1].Match.IsCatchAll, Is.True);
            Assert.That(host.Routes[1].Action!.IsWeighted, Is.True);
            Assert.That(host.Routes[1].Action!.Clusters.Select(c => (c.Name, c.Weight)), Is.EqualTo(new[] { (V1, 80u), (V2, 20u) }));
        });
    }

    [TestCase("prefix", "/api", true, "Prefix", "/api")]
    [TestCase("path", "/api/orders", true, "Exact", "/api/orders")]
    [TestCase("safe_regex", "/api/[0-9]+", true, "Regex", "/api/[0-9]+")]
    [TestCase("safe_regex", "/API/[0-9]+", false, "Regex", "/API/[0-9]+")]
    [TestCase("prefix", "/Api", false, "Regex", "(?i:/Api)(?s:.*)")]
    [TestCase("path", "/a.b", false, "Regex", "(?i:/a\\.b)")]
    [TestCase("path_separated_prefix", "/api", true, "Regex", "/api(?:/(?s:.*))?")]
    public void Decode_PathSpecifier_BecomesTheModelsPathCondition(string kind, string value, bool caseSensitive, string expectedKind, string expected)
    {
        // Arrange
        var match = kind switch
        {
            "prefix" => new RouteMatch { Prefix = value },
            "path" => new RouteMatch { Path = value },
            "safe_regex" => new RouteMatch { SafeRegex = new RegexMatcher { Regex = value } },
            _ => new RouteMatch { PathSeparatedPrefix = value },
        };
        match.CaseSensitive = caseSensitive;

        // Act
        var route = OnlyRoute(match);

        // Assert
        Assert.That(route.Match.Path, Is.EqualTo(new XdsStringMatch(System.Enum.Parse<XdsStringMatchKind>(expectedKind), expected)));
    }

    [Test]
    public void Decode_EmptyPrefix_MatchesEverything()
    {
        // Act
        var route = OnlyRoute(Prefix());

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(route.Match.Path, Is.Null);
            Assert.That(route.Match.IsCatchAll, Is.True);
        });
    }

    [Test]
    public void Decode_PrefixWithoutSlash_NeverMatches()
    {
        // Act
        var route = OnlyRoute(Prefix("api"));

        // Assert
        Assert.That(route.Match.NeverMatches, Is.True);
    }

    [Test]
    public void Decode_NoPathSpecifier_IsRejected()
    {
        // Act
        var error = RouteError(new RouteMatch());

        // Assert
        Assert.That(error, Does.Contain("virtual_hosts[0].routes[0].match: has no path specifier; set prefix, path, safe_regex or path_separated_prefix"));
    }

    [Test]
    public void Decode_RegexTheEngineRejects_IsRejected()
    {
        // Act: a backreference, which neither RE2 nor the non-backtracking engine has.
        var error = RouteError(new RouteMatch { SafeRegex = new RegexMatcher { Regex = "/(a)\\1" } });

        // Assert
        Assert.That(error, Does.Contain("match.safe_regex.regex = '/(a)\\1': not a regular expression the non-backtracking engine accepts"));
    }

    private static IEnumerable<TestCaseData> HeaderCases()
    {
        yield return new TestCaseData(new HeaderMatcher { Name = "h", ExactMatch = "v" }, new XdsStringMatch(XdsStringMatchKind.Exact, "v")).SetName("Decode_Header_Exact");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", PrefixMatch = "v" }, new XdsStringMatch(XdsStringMatchKind.Prefix, "v")).SetName("Decode_Header_Prefix");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", SuffixMatch = "v" }, new XdsStringMatch(XdsStringMatchKind.Suffix, "v")).SetName("Decode_Header_Suffix");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", ContainsMatch = "a.b" }, new XdsStringMatch(XdsStringMatchKind.Regex, "(?s:.*)a\\.b(?s:.*)")).SetName("Decode_Header_ContainsBecomesRegex");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", SafeRegexMatch = new RegexMatcher { Regex = "v[0-9]" } }, new XdsStringMatch(XdsStringMatchKind.Regex, "v[0-9]")).SetName("Decode_Header_SafeRegex");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", PresentMatch = true }, new XdsStringMatch(XdsStringMatchKind.Present, string.Empty)).SetName("Decode_Header_Present");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", PresentMatch = false }, new XdsStringMatch(XdsStringMatchKind.Absent, string.Empty)).SetName("Decode_Header_PresentFalseIsAbsent");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", PresentMatch = true, InvertMatch = true }, new XdsStringMatch(XdsStringMatchKind.Absent, string.Empty)).SetName("Decode_Header_InvertedPresentIsAbsent");
        yield return new TestCaseData(new HeaderMatcher { Name = "h" }, new XdsStringMatch(XdsStringMatchKind.Present, string.Empty)).SetName("Decode_Header_NoSpecifierIsPresent");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", StringMatch = new StringMatcher { Exact = "V", IgnoreCase = true } }, new XdsStringMatch(XdsStringMatchKind.Exact, "V", true)).SetName("Decode_Header_StringMatchIgnoreCase");
        yield return new TestCaseData(new HeaderMatcher { Name = "h", StringMatch = new StringMatcher { Contains = "x", IgnoreCase = true } }, new XdsStringMatch(XdsStringMatchKind.Regex, "(?i:(?s:.*)x(?s:.*))")).SetName("Decode_Header_StringMatchContainsIgnoreCase");
    }

    [TestCaseSource(nameof(HeaderCases))]
    public void Decode_HeaderMatcher_BecomesTheModelsCondition(HeaderMatcher header, object expected)
    {
        // Act
        var route = OnlyRoute(Prefix().WithHeader(header));

        // Assert
        Assert.That(route.Match.Headers.Single(), Is.EqualTo(("h", (XdsStringMatch)expected)));
    }

    [TestCase("invert", "headers[0].invert_match: inverted value matches are not supported by the mesh's route model")]
    [TestCase("range", "headers[0].range_match: integer range matches are not supported by the mesh's route model")]
    [TestCase("missing", "headers[0].treat_missing_header_as_empty: is not supported by the mesh's route model")]
    [TestCase("duplicate", "headers[1].name = 'X-A': a second condition on the same header")]
    [TestCase("authority", "headers[0].name = ':authority': of the pseudo-headers only ':method' with an exact match is supported")]
    [TestCase("empty", "headers[0].name: is empty")]
    public void Decode_HeaderMatcherTheModelCannotExpress_IsRejected(string kind, string expected)
    {
        // Arrange
        var match = Prefix();
        switch (kind)
        {
            case "invert":
                match.Headers.Add(new HeaderMatcher { Name = "h", ExactMatch = "v", InvertMatch = true });
                break;
            case "range":
                match.Headers.Add(new HeaderMatcher { Name = "h", RangeMatch = new Int64Range { Start = 1, End = 5 } });
                break;
            case "missing":
                match.Headers.Add(new HeaderMatcher { Name = "h", ExactMatch = string.Empty, TreatMissingHeaderAsEmpty = true });
                break;
            case "duplicate":
                match.Headers.Add(new HeaderMatcher { Name = "x-a", PrefixMatch = "a" });
                match.Headers.Add(new HeaderMatcher { Name = "X-A", SuffixMatch = "z" });
                break;
            case "authority":
                match.Headers.Add(new HeaderMatcher { Name = ":authority", ExactMatch = "a" });
                break;
            default:
                match.Headers.Add(new HeaderMatcher { ExactMatch = "a" });
                break;
        }

        // Act
        var error = RouteError(match);

        // Assert
        Assert.That(error, Does.Contain($"virtual_hosts[0].routes[0].match.{expected}"));
    }

    [Test]
    public void Decode_MethodPseudoHeader_BecomesTheMethod()
    {
        // Act
        var route = OnlyRoute(Prefix().WithHeader(new HeaderMatcher { Name = ":method", ExactMatch = "post" }));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(route.Match.Method, Is.EqualTo("POST"));
            Assert.That(route.Match.Headers, Is.Empty);
        });
    }

    [Test]
    public void Decode_GrpcMatcher_RequiresGrpcContentType()
    {
        // Act
        var route = OnlyRoute(new RouteMatch { Prefix = "/", Grpc = new RouteMatch.Types.GrpcRouteMatchOptions() });

        // Assert
        Assert.That(route.Match.Headers.Single(), Is.EqualTo(("content-type", new XdsStringMatch(XdsStringMatchKind.Prefix, "application/grpc"))));
    }

    [Test]
    public void Decode_QueryParameters_AreKept()
    {
        // Arrange
        var match = Prefix();
        match.QueryParameters.Add(new QueryParameterMatcher { Name = "debug", PresentMatch = true });
        match.QueryParameters.Add(new QueryParameterMatcher { Name = "v", StringMatch = new StringMatcher { Prefix = "2" } });

        // Act
        var route = OnlyRoute(match);

        // Assert
        Assert.That(route.Match.QueryParameters, Is.EqualTo(new[]
        {
            ("debug", new XdsStringMatch(XdsStringMatchKind.Present, string.Empty)),
            ("v", new XdsStringMatch(XdsStringMatchKind.Prefix, "2")),
        }));
    }

    [TestCase(0u, true)]
    [TestCase(100u, false)]
    public void Decode_RuntimeFractionOfNoneOrAll_NeverOrAlwaysMatches(uint percent, bool never)
    {
        // Arrange
        var match = Prefix("/");
        match.RuntimeFraction = new RuntimeFractionalPercent { DefaultValue = new FractionalPercent { Numerator = percent }, RuntimeKey = "ignored" };

        // Act
        var route = OnlyRoute(match);

        // Assert
        Assert.That(route.Match.NeverMatches, Is.EqualTo(never));
    }

    [Test]
    public void Decode_RuntimeFractionOfSome_IsRejected()
    {
        // Arrange
        var match = Prefix("/");
        match.RuntimeFraction = new RuntimeFractionalPercent { DefaultValue = new FractionalPercent { Numerator = 50 } };

        // Act
        var error = RouteError(match);

        // Assert
        Assert.That(error, Does.Contain("match.runtime_fraction.default_value = 50%: matching a share of requests is not supported by the mesh's route model; split traffic with weighted_clusters instead"));
    }

    [Test]
    public void Decode_WeightedClustersWithZeroTotal_AreRejected()
    {
        // Act
        var error = RouteError(Prefix(), Split((V1, 0), (V2, 0)));

        // Assert
        Assert.That(error, Is.EqualTo($"RouteConfiguration '{Target}': virtual_hosts[0].routes[0].route.weighted_clusters: the weights add up to 0; give at least one cluster a weight above 0"));
    }

    [Test]
    public void Decode_WeightedClustersOverflowing32Bits_AreRejected()
    {
        // Act
        var error = RouteError(Prefix(), Split((V1, uint.MaxValue), (V2, 1)));

        // Assert
        Assert.That(error, Does.Contain("weighted_clusters: the weights add up to 4294967296; the sum must be at most 4294967295"));
    }

    [Test]
    public void Decode_WeightedClustersWithWrongTotalWeight_AreRejected()
    {
        // Arrange
        var action = Split((V1, 80), (V2, 10));
        action.WeightedClusters.TotalWeight = 100;

        // Act
        var error = RouteError(Prefix(), action);

        // Assert
        Assert.That(error, Does.Contain("weighted_clusters.total_weight = 100: the weights add up to 90"));
    }

    [Test]
    public void Decode_EmptyClusterName_IsRejected()
    {
        // Act
        var error = RouteError(Prefix(), ToCluster(string.Empty));

        // Assert
        Assert.That(error, Does.Contain("routes[0].route.cluster = '': is empty; name the cluster to send to"));
    }

    [Test]
    public void Decode_ClusterHeaderRoute_IsIgnored()
    {
        // Arrange: gRFC A28: a route with an unsupported cluster specifier is ignored, the others kept.
        var config = NewRouteConfig(Target, NewVirtualHost(
            NewRoute(Prefix("/a"), new RouteAction { ClusterHeader = "x-cluster" }),
            NewRoute(Prefix(), ToCluster(V1))));

        // Act
        var host = Valid<XdsRouteConfiguration>(Type, config).VirtualHosts.Single();

        // Assert
        Assert.That(host.Routes.Single().Action!.Clusters.Single().Name, Is.EqualTo(V1));
    }

    [Test]
    public void Decode_NonForwardingAction_FailsItsRequests()
    {
        // Arrange
        var config = NewRouteConfig(Target, NewVirtualHost(new Route { Match = Prefix(), NonForwardingAction = new NonForwardingAction() }));

        // Act
        var route = Valid<XdsRouteConfiguration>(Type, config).VirtualHosts.Single().Routes.Single();

        // Assert
        Assert.That(route.Action, Is.Null);
    }

    [Test]
    public void Decode_DirectResponse_IsRejected()
    {
        // Arrange
        var config = NewRouteConfig(Target, NewVirtualHost(new Route { Match = Prefix(), DirectResponse = new DirectResponseAction { Status = 200 } }));

        // Act
        var error = Invalid(Type, config);

        // Assert
        Assert.That(error, Does.Contain("routes[0].direct_response: is not supported by the client"));
    }

    [Test]
    public void Decode_PrefixRewrite_IsRejected()
    {
        // Act
        var error = RouteError(Prefix(), new RouteAction { Cluster = V1, PrefixRewrite = "/v2" });

        // Assert
        Assert.That(error, Does.Contain("route.prefix_rewrite = '/v2': path rewriting is not supported by the mesh's route model"));
    }

    [TestCase("*", true)]
    [TestCase("*.shop.svc.cluster.local", true)]
    [TestCase("backend.*", true)]
    [TestCase("back*end", false)]
    [TestCase("*.shop.*", false)]
    [TestCase("", false)]
    public void Decode_Domain_IsValidatedAsEnvoyDoes(string domain, bool valid)
    {
        // Arrange
        var config = NewRouteConfig(Target, VirtualHostFor("vh", [domain], NewRoute(Prefix(), ToCluster(V1))));

        // Act
        var result = Type.Decode(Any.Pack(config));

        // Assert
        if (valid)
        {
            Assert.That(result.Error, Is.Null);
        }
        else
        {
            Assert.That(result.Error, Does.Contain($"virtual_hosts[0].domains[0] = '{domain}': must be a host (with an optional port), \"*\""));
        }
    }

    [Test]
    public void Decode_VirtualHostWithoutDomains_IsRejected()
    {
        // Act
        var error = Invalid(Type, NewRouteConfig(Target, VirtualHostFor("vh", [], NewRoute(Prefix(), ToCluster(V1)))));

        // Assert
        Assert.That(error, Does.Contain("virtual_hosts[0].domains: is empty"));
    }

    [Test]
    public void Decode_Timeouts_AreRead()
    {
        // Arrange
        var action = new RouteAction
        {
            Cluster = V1,
            Timeout = Seconds(2),
            MaxStreamDuration = new RouteAction.Types.MaxStreamDuration { MaxStreamDuration_ = Seconds(5), GrpcTimeoutHeaderMax = Seconds(0) },
        };

        // Act
        var route = OnlyRoute(Prefix(), action);

        // Assert
        Assert.That(route.Action, Is.EqualTo(route.Action! with { Timeout = TimeSpan.FromSeconds(2), MaxStreamDuration = TimeSpan.FromSeconds(5), GrpcTimeoutHeaderMax = TimeSpan.Zero }));
    }

    [Test]
    public void Decode_NegativeTimeout_IsRejected()
    {
        // Act
        var error = RouteError(Prefix(), new RouteAction { Cluster = V1, Timeout = new Duration { Seconds = -1 } });

        // Assert
        Assert.That(error, Does.Contain("route.timeout = -1s: must not be negative"));
    }

    [Test]
    public void Decode_RetryPolicy_KeepsTheHttpAndGrpcConditionsAndBackoff()
    {
        // Arrange: istiod's default retry_on mixes HTTP and gRPC conditions.
        var retry = new RetryPolicy
        {
            RetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes,5xx",
            NumRetries = 2,
            PerTryTimeout = Seconds(0.5),
            RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = Seconds(0.1) },
        };
        retry.RetriableStatusCodes.Add(503);

        // Act
        var route = OnlyRoute(Prefix(), new RouteAction { Cluster = V1, RetryPolicy = retry });

        // Assert
        var policy = route.Action!.RetryPolicy!;
        Assert.Multiple(() =>
        {
            Assert.That(policy.RetryOn, Is.EqualTo("connect-failure,unavailable,cancelled,retriable-status-codes,5xx"), "refused-stream is an HTTP/2 condition the mesh does not implement");
            Assert.That(policy.NumRetries, Is.EqualTo(2));
            Assert.That(policy.PerTryTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
            Assert.That(policy.RetriableStatusCodes, Is.EqualTo(new[] { 503 }));
            Assert.That(policy.BackoffBase, Is.EqualTo(TimeSpan.FromMilliseconds(100)));
            Assert.That(policy.BackoffMax, Is.EqualTo(TimeSpan.FromSeconds(1)), "max defaults to 10 × base (gRFC A44)");
        });
    }

    [Test]
    public void Decode_RetryPolicyDefaults_AreEnvoys()
    {
        // Act
        var policy = OnlyRoute(Prefix(), new RouteAction { Cluster = V1, RetryPolicy = new RetryPolicy { RetryOn = "5xx" } }).Action!.RetryPolicy!;

        // Assert
        Assert.That(policy, Is.EqualTo(policy with { NumRetries = 1, PerTryTimeout = null, BackoffBase = TimeSpan.FromMilliseconds(25), BackoffMax = TimeSpan.FromMilliseconds(250) }));
    }

    [TestCase("refused-stream,reset-before-request")]
    [TestCase("")]
    public void Decode_RetryPolicyWithoutAConditionTheMeshImplements_HasNoRetries(string retryOn)
    {
        // Act
        var action = OnlyRoute(Prefix(), new RouteAction { Cluster = V1, RetryPolicy = new RetryPolicy { RetryOn = retryOn, NumRetries = 3 } }).Action!;

        // Assert
        Assert.That(action.RetryPolicy, Is.Null);
    }

    [Test]
    public void Decode_RetryPolicyWithGrpcConditionsOnly_RetriesOnThem()
    {
        // Act: gRFC A44's conditions are gRPC status names.
        var policy = OnlyRoute(Prefix(), new RouteAction { Cluster = V1, RetryPolicy = new RetryPolicy { RetryOn = "unavailable,cancelled,deadline-exceeded", NumRetries = 3 } }).Action!.RetryPolicy!;

        // Assert
        Assert.That(policy.RetryOn, Is.EqualTo("unavailable,cancelled,deadline-exceeded"));
        Assert.That(policy.NumRetries, Is.EqualTo(3));
    }

    [Test]
    public void Decode_ManyRetries_AreCappedAtTen()
    {
        // Act
        var policy = OnlyRoute(Prefix(), new RouteAction { Cluster = V1, RetryPolicy = new RetryPolicy { RetryOn = "5xx", NumRetries = 50 } }).Action!.RetryPolicy!;

        // Assert
        Assert.That(policy.NumRetries, Is.EqualTo(10));
    }

    [Test]
    public void Decode_SubMillisecondBackoff_CountsAsOneMillisecond()
    {
        // Arrange
        var retry = new RetryPolicy { RetryOn = "5xx", RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = new Duration { Nanos = 1000 }, MaxInterval = new Duration { Nanos = 2000 } } };

        // Act
        var policy = OnlyRoute(Prefix(), new RouteAction { Cluster = V1, RetryPolicy = retry }).Action!.RetryPolicy!;

        // Assert
        Assert.That((policy.BackoffBase, policy.BackoffMax), Is.EqualTo((TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1))));
    }

    private static IEnumerable<TestCaseData> InvalidRetryCases()
    {
        yield return new TestCaseData(new RetryPolicy { RetryOn = "5xx", NumRetries = 0 }, "retry_policy.num_retries = 0: must be at least 1 (gRFC A44)").SetName("Decode_RetryPolicy_ZeroRetriesRejected");
        yield return new TestCaseData(new RetryPolicy { RetryOn = "5xx", RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = Seconds(0) } }, "retry_policy.retry_back_off.base_interval = 0s: must be greater than 0 (gRFC A44)").SetName("Decode_RetryPolicy_ZeroBaseIntervalRejected");
        yield return new TestCaseData(new RetryPolicy { RetryOn = "5xx", RetryBackOff = new RetryPolicy.Types.RetryBackOff { MaxInterval = Seconds(1) } }, "retry_policy.retry_back_off.base_interval: is not set; it is required when retry_back_off is set (gRFC A44)").SetName("Decode_RetryPolicy_MissingBaseIntervalRejected");
        yield return new TestCaseData(new RetryPolicy { RetryOn = "5xx", RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = Seconds(1), MaxInterval = Seconds(0.5) } }, "retry_policy.retry_back_off.max_interval = 0.5s: must be at least base_interval (1s) (gRFC A44)").SetName("Decode_RetryPolicy_MaxBelowBaseRejected");
        yield return new TestCaseData(new RetryPolicy { RetryOn = "5xx", RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = Seconds(1), MaxInterval = Seconds(0) } }, "retry_policy.retry_back_off.max_interval = 0s: must be greater than 0 (gRFC A44)").SetName("Decode_RetryPolicy_ZeroMaxIntervalRejected");
        yield return new TestCaseData(new RetryPolicy { RetryOn = "retriable-status-codes", RetriableStatusCodes = { 99 } }, "retry_policy.retriable_status_codes[0] = 99: must be an HTTP status code from 100 to 599").SetName("Decode_RetryPolicy_BadStatusCodeRejected");
    }

    [TestCaseSource(nameof(InvalidRetryCases))]
    public void Decode_InvalidRetryPolicy_IsRejected(RetryPolicy retry, string expected)
    {
        // Act
        var error = RouteError(Prefix(), new RouteAction { Cluster = V1, RetryPolicy = retry });

        // Assert
        Assert.That(error, Does.Contain($"virtual_hosts[0].routes[0].route.{expected}"));
    }

    [Test]
    public void Decode_VirtualHostRetryPolicy_IsValidatedToo()
    {
        // Arrange
        var host = NewVirtualHost(NewRoute(Prefix(), ToCluster(V1)));
        host.RetryPolicy = new RetryPolicy { RetryOn = "5xx", NumRetries = 0 };

        // Act
        var error = Invalid(Type, NewRouteConfig(Target, host));

        // Assert
        Assert.That(error, Does.Contain("virtual_hosts[0].retry_policy.num_retries = 0: must be at least 1"));
    }

    [Test]
    public void Decode_HashPolicies_KeepTheSupportedKinds()
    {
        // Arrange
        var action = ToCluster(V1);
        action.HashPolicy.Add(new RouteAction.Types.HashPolicy { FilterState = new RouteAction.Types.HashPolicy.Types.FilterState { Key = "io.grpc.channel_id" } });
        action.HashPolicy.Add(new RouteAction.Types.HashPolicy { Header = new RouteAction.Types.HashPolicy.Types.Header { HeaderName = "x-user" }, Terminal = true });
        action.HashPolicy.Add(new RouteAction.Types.HashPolicy { Cookie = new RouteAction.Types.HashPolicy.Types.Cookie { Name = "session" } });

        // Act
        var policies = OnlyRoute(Prefix(), action).Action!.HashPolicies;

        // Assert
        Assert.That(policies, Is.EqualTo(new[] { new XdsHashPolicy(XdsHashPolicyKind.Header, "x-user", true), new XdsHashPolicy(XdsHashPolicyKind.Cookie, "session", false) }));
    }

    [Test]
    public void Decode_FaultOverrides_AreReadAtEachLevel()
    {
        // Arrange
        var route = NewRoute(Prefix(), ToCluster(V1));
        route.TypedPerFilterConfig["envoy.filters.http.fault"] = Any.Pack(new HTTPFault { Abort = new FaultAbort { HttpStatus = 418, Percentage = new FractionalPercent { Numerator = 100 } } });
        var host = NewVirtualHost(route);
        host.TypedPerFilterConfig["envoy.filters.http.fault"] = Any.Pack(new FilterConfig { Disabled = true });

        // Act
        var decoded = Valid<XdsRouteConfiguration>(Type, NewRouteConfig(Target, host)).VirtualHosts.Single();

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(decoded.Routes[0].FilterOverrides["envoy.filters.http.fault"], Is.EqualTo(new XdsFilterOverride(new XdsFaultConfig(null, 0, 418, 100), false)));
            Assert.That(decoded.FilterOverrides["envoy.filters.http.fault"], Is.EqualTo(new XdsFilterOverride(null, true)));
        });
    }

    [Test]
    public void Decode_UnknownOverride_IsRejectedUnlessOptional()
    {
        // Arrange
        var rejected = NewRoute(Prefix("/a"), ToCluster(V1));
        rejected.TypedPerFilterConfig["lua"] = Any.Pack(new StringValue());
        var optional = NewRoute(Prefix(), ToCluster(V1));
        optional.TypedPerFilterConfig["lua"] = Any.Pack(new FilterConfig { Config = Any.Pack(new StringValue()), IsOptional = true });

        // Act
        var error = Invalid(Type, NewRouteConfig(Target, NewVirtualHost(rejected, optional)));

        // Assert
        Assert.That(error, Is.EqualTo($"RouteConfiguration '{Target}': virtual_hosts[0].routes[0].typed_per_filter_config['lua']: type 'google.protobuf.StringValue' is not a filter override the client supports (HTTPFault); remove it, or wrap it in an envoy.config.route.v3.FilterConfig with is_optional: true"));
    }

    [Test]
    public void Decode_FaultOverrideOnWeightedCluster_IsRejected()
    {
        // Arrange
        var action = Split((V1, 50), (V2, 50));
        action.WeightedClusters.Clusters[1].TypedPerFilterConfig["envoy.filters.http.fault"] = Any.Pack(new HTTPFault());

        // Act
        var error = RouteError(Prefix(), action);

        // Assert
        Assert.That(error, Does.Contain("weighted_clusters.clusters[1].typed_per_filter_config['envoy.filters.http.fault']: a fault override on a weighted cluster is not supported"));
    }

    [Test]
    public void Decode_AllProblems_AreListedInOneMessage()
    {
        // Arrange
        var config = NewRouteConfig(Target, NewVirtualHost(
            NewRoute(new RouteMatch(), ToCluster(V1)),
            NewRoute(Prefix(), Split((V1, 0)))));

        // Act
        var error = Invalid(Type, config);

        // Assert
        Assert.That(error, Does.Contain("routes[0].match: has no path specifier").And.Contain("; virtual_hosts[0].routes[1].route.weighted_clusters: the weights add up to 0"));
    }
}
