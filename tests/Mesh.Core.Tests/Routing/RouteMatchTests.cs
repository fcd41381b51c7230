using Mesh.Configuration;
using Mesh.Model;

namespace Mesh.Core.Tests.Routing;

/// <summary>Route matching through the snapshot builder: every match kind, AND within a match, OR across matches, order.</summary>
public class RouteMatchTests
{
    [TestCase("/api/orders", "/api/orders", true)]
    [TestCase("/api/orders", "/api/orders/", false)]
    [TestCase("/api/orders", "/API/orders", false)]
    [TestCase("/api/orders", "/api", false)]
    [TestCase("/", "/", true)]
    public void SelectRoute_PathExact_MatchesOnlyThatPath(string path, string requestPath, bool matches)
    {
        // Arrange
        var service = BuildService(Route("m", new RouteMatchOptions { Path = path }));
        var request = TestRequest.Get(requestPath);

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [TestCase("/api", "/api", true)]
    [TestCase("/api", "/api/orders", true)]
    [TestCase("/api", "/apiary", true)]
    [TestCase("/api/", "/api", false)]
    [TestCase("/api", "/v1/api", false)]
    [TestCase("/api", "/API/orders", false)]
    [TestCase("/", "/anything", true)]
    public void SelectRoute_PathPrefix_MatchesStringPrefix(string prefix, string requestPath, bool matches)
    {
        // Arrange: a string prefix, as Istio's uri.prefix (so /api also matches /apiary).
        var service = BuildService(Route("m", new RouteMatchOptions { PathPrefix = prefix }));
        var request = TestRequest.Get(requestPath);

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [TestCase("/api/.*", "/api/x", true)]
    [TestCase("/api/.*", "/v1/api/x", false)]
    [TestCase("/api/.*", "/api", false)]
    [TestCase("/users/[0-9]+", "/users/42", true)]
    [TestCase("/users/[0-9]+", "/users/42/orders", false)]
    [TestCase("/a|/b", "/b", true)]
    [TestCase("/a|/b", "/ab", false)]
    [TestCase("/pkg\\.Greeter/.*", "/pkg.Greeter/SayHello", true)]
    public void SelectRoute_PathRegex_MatchesWholePath(string pattern, string requestPath, bool matches)
    {
        // Arrange
        var service = BuildService(Route("m", new RouteMatchOptions { PathRegex = pattern }));
        var request = TestRequest.Get(requestPath);

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [Test]
    public void SelectRoute_PathRegexWithoutSlash_DoesNotMatchAPathContainingIt()
    {
        // Arrange: "api" would find a match inside "/api/x"; full-match semantics require the whole path.
        var service = BuildService(Route("m", new RouteMatchOptions { PathRegex = "api" }));
        var request = TestRequest.Get("/api/x");

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route, Is.Null);
    }

    [TestCase("Exact", "1", false, "1", true)]
    [TestCase("Exact", "1", false, "10", false)]
    [TestCase("Exact", "yes", false, "YES", false)]
    [TestCase("Exact", "yes", true, "YES", true)]
    [TestCase("Exact", "1", false, null, false)]
    [TestCase("Prefix", "Bearer ", false, "Bearer abc", true)]
    [TestCase("Prefix", "Bearer ", false, "bearer abc", false)]
    [TestCase("Prefix", "Bearer ", true, "bearer abc", true)]
    [TestCase("Prefix", "Bearer ", false, null, false)]
    [TestCase("Suffix", "-beta", false, "v2-beta", true)]
    [TestCase("Suffix", "-beta", false, "v2-BETA", false)]
    [TestCase("Suffix", "-beta", true, "v2-BETA", true)]
    [TestCase("Suffix", "-beta", false, "beta-v2", false)]
    [TestCase("Regex", "v[0-9]+", false, "v12", true)]
    [TestCase("Regex", "v[0-9]+", false, "xv12", false)]
    [TestCase("Regex", "v[0-9]+", false, "V12", false)]
    [TestCase("Regex", "v[0-9]+", true, "V12", true)]
    [TestCase("Regex", ".*", false, null, false)]
    [TestCase("Present", null, false, "anything", true)]
    [TestCase("Present", null, false, "", true)]
    [TestCase("Present", null, false, null, false)]
    [TestCase("Absent", null, false, null, true)]
    [TestCase("Absent", null, false, "", false)]
    public void SelectRoute_HeaderCondition_MatchesByKind(string kind, string? expected, bool ignoreCase, string? headerValue, bool matches)
    {
        // Arrange
        var match = new RouteMatchOptions { Headers = { ["x-test"] = Condition(kind, expected, ignoreCase) } };
        var service = BuildService(Route("m", match));
        var request = TestRequest.Get("/", headers: headerValue is null ? null : new() { ["X-Test"] = headerValue });

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [TestCase("Exact", "2", "?version=2", true)]
    [TestCase("Exact", "2", "?version=20", false)]
    [TestCase("Exact", "2", "?a=1&version=2", true)]
    [TestCase("Exact", "2", "?Version=2", false)]
    [TestCase("Exact", "2", "?v=2", false)]
    [TestCase("Prefix", "2", "?version=2.1", true)]
    [TestCase("Regex", "[0-9]+", "?version=42", true)]
    [TestCase("Regex", "[0-9]+", "?version=4x", false)]
    [TestCase("Present", null, "?version", true)]
    [TestCase("Present", null, "?version=", true)]
    [TestCase("Present", null, "?other=1", false)]
    [TestCase("Absent", null, "", true)]
    [TestCase("Absent", null, "?version=1", false)]
    public void SelectRoute_QueryParameterCondition_MatchesByKind(string kind, string? expected, string query, bool matches)
    {
        // Arrange: query parameter names are case-sensitive.
        var match = new RouteMatchOptions { QueryParams = { ["version"] = Condition(kind, expected, false) } };
        var service = BuildService(Route("m", match));
        var request = TestRequest.Get("/", query);

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [TestCase("POST", "POST", true)]
    [TestCase("POST", "post", true)]
    [TestCase("post", "POST", true)]
    [TestCase("POST", "GET", false)]
    [TestCase("PATCH", "PUT", false)]
    public void SelectRoute_Method_MatchesIgnoringCase(string method, string requestMethod, bool matches)
    {
        // Arrange
        var service = BuildService(Route("m", new RouteMatchOptions { Method = method }));
        var request = new TestRequest(requestMethod, "/");

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [TestCase("GET", "/api/orders", "1", "?tenant=a", true)]
    [TestCase("POST", "/api/orders", "1", "?tenant=a", false)]
    [TestCase("GET", "/web", "1", "?tenant=a", false)]
    [TestCase("GET", "/api/orders", "0", "?tenant=a", false)]
    [TestCase("GET", "/api/orders", null, "?tenant=a", false)]
    [TestCase("GET", "/api/orders", "1", "?tenant=b", false)]
    [TestCase("GET", "/api/orders", "1", "", false)]
    public void SelectRoute_SeveralConditionsInOneMatch_AllMustHold(string method, string path, string? canary, string query, bool matches)
    {
        // Arrange
        var match = new RouteMatchOptions
        {
            Method = "GET",
            PathPrefix = "/api",
            Headers = { ["x-canary"] = new StringMatchOptions { Exact = "1" } },
            QueryParams = { ["tenant"] = new StringMatchOptions { Exact = "a" } },
        };
        var service = BuildService(Route("m", match));
        var request = new TestRequest(method, path, query, canary is null ? null : new() { ["x-canary"] = canary });

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [TestCase("GET", "/a", true)]
    [TestCase("POST", "/b", true)]
    [TestCase("POST", "/a", true)]
    [TestCase("GET", "/b", false)]
    public void SelectRoute_SeveralMatches_AnyMayHold(string method, string path, bool matches)
    {
        // Arrange: Match[0] is path /a, Match[1] is method POST.
        var service = BuildService(Route("m", new RouteMatchOptions { Path = "/a" }, new RouteMatchOptions { Method = "POST" }));
        var request = new TestRequest(method, path);

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(matches ? "m" : null));
    }

    [TestCase("/api/orders", "1", "canary")]
    [TestCase("/api/orders", null, "api")]
    [TestCase("/web", "1", "canary")]
    [TestCase("/web", null, "everything-else")]
    public void SelectRoute_SeveralRoutesMatch_FirstInOrderWins(string path, string? canary, string expected)
    {
        // Arrange
        var service = BuildService(
            Route("canary", new RouteMatchOptions { Headers = { ["x-canary"] = new StringMatchOptions { Exact = "1" } } }),
            Route("api", new RouteMatchOptions { PathPrefix = "/api" }),
            Route("everything-else"));
        var request = TestRequest.Get(path, headers: canary is null ? null : new() { ["x-canary"] = canary });

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo(expected));
    }

    [Test]
    public void SelectRoute_NoRouteMatches_ReturnsNull()
    {
        // Arrange
        var service = BuildService(Route("api", new RouteMatchOptions { PathPrefix = "/api" }), Route("web", new RouteMatchOptions { PathPrefix = "/web" }));
        var request = TestRequest.Get("/other");

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route, Is.Null);
    }

    [Test]
    public void SelectRoute_CatchAllRoute_MatchesEverything()
    {
        // Arrange
        var service = BuildService(Route("all"));
        var requests = new[] { TestRequest.Get("/"), new TestRequest("DELETE", "/x/y", "?q=1", new() { ["h"] = "v" }) };

        // Act
        var names = new List<string?>();
        for (var i = 0; i < requests.Length; i++)
        {
            names.Add(service.SelectRoute(ref requests[i])?.Name);
        }

        // Assert
        Assert.That(names, Is.EqualTo(new[] { "all", "all" }));
        Assert.That(service.Routes[0].IsCatchAll, Is.True);
    }

    [Test]
    public void SelectRoute_ServiceWithoutRoutes_DefaultRouteToAllEndpoints()
    {
        // Arrange
        var snapshot = TestMesh.BuildValid(TestMesh.Service(count: 2));
        var service = snapshot.Services[0];
        var request = new TestRequest("PUT", "/anything");

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo("default"));
        Assert.That(route!.PickCluster(), Is.SameAs(snapshot.Clusters["backend"]));
    }

    [Test]
    public void SelectRoute_UnnamedRoutes_NamedByIndex()
    {
        // Arrange
        var service = BuildService(
            new RouteOptions { Match = { new RouteMatchOptions { Path = "/a" } }, Destinations = { new DestinationOptions() } },
            new RouteOptions { Destinations = { new DestinationOptions() } });
        var request = TestRequest.Get("/b");

        // Act
        var route = service.SelectRoute(ref request);

        // Assert
        Assert.That(route?.Name, Is.EqualTo("routes[1]"));
    }

    [Test]
    public void SelectRoute_AfterWarmUp_AllocatesNothing()
    {
        // Arrange: exact, prefix, suffix, regex and presence conditions, matched against a request that passes them all.
        var service = BuildService(
            Route("regex", new RouteMatchOptions { PathRegex = "/nope/.*" }),
            Route("m", new RouteMatchOptions
            {
                Method = "GET",
                PathPrefix = "/api",
                Headers =
                {
                    ["x-a"] = new StringMatchOptions { Exact = "1" },
                    ["x-b"] = new StringMatchOptions { Suffix = "-beta", IgnoreCase = true },
                    ["x-c"] = new StringMatchOptions { Regex = "v[0-9]+" },
                    ["x-d"] = new StringMatchOptions { Absent = true },
                },
                QueryParams = { ["tenant"] = new StringMatchOptions { Present = true } },
            }));
        var request = TestRequest.Get("/api/orders", "?tenant=a", new() { ["x-a"] = "1", ["x-b"] = "v2-BETA", ["x-c"] = "v12" });
        for (var i = 0; i < 100; i++)
        {
            service.SelectRoute(ref request);
        }

        // Act
        var before = GC.GetAllocatedBytesForCurrentThread();
        RouteModel? route = null;
        for (var i = 0; i < 10_000; i++)
        {
            route = service.SelectRoute(ref request);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Assert
        Assert.That(route?.Name, Is.EqualTo("m"));
        Assert.That(allocated, Is.Zero);
    }

    internal static RouteOptions Route(string name, params RouteMatchOptions[] matches)
    {
        var route = new RouteOptions { Name = name, Destinations = { new DestinationOptions() } };
        route.Match.AddRange(matches);
        return route;
    }

    private static ServiceModel BuildService(params RouteOptions[] routes)
    {
        var snapshot = TestMesh.BuildValid(TestMesh.Service(count: 2, configure: s => s.Routes.AddRange(routes)));
        Assert.That(snapshot.TryGetService("backend", out var service), Is.True);
        return service!;
    }

    private static StringMatchOptions Condition(string kind, string? value, bool ignoreCase) => kind switch
    {
        "Exact" => new StringMatchOptions { Exact = value, IgnoreCase = ignoreCase },
        "Prefix" => new StringMatchOptions { Prefix = value, IgnoreCase = ignoreCase },
        "Suffix" => new StringMatchOptions { Suffix = value, IgnoreCase = ignoreCase },
        "Regex" => new StringMatchOptions { Regex = value, IgnoreCase = ignoreCase },
        "Present" => new StringMatchOptions { Present = true },
        "Absent" => new StringMatchOptions { Absent = true },
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
