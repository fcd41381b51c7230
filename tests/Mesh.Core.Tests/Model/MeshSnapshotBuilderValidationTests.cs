using Mesh.Configuration;
using Mesh.Model;

namespace Mesh.Core.Tests.Model;

/// <summary>Every validation rule of <see cref="MeshSnapshotBuilder"/>, with the exact message it reports.</summary>
public class MeshSnapshotBuilderValidationTests
{
    private const string Backend = "Mesh:Services:backend";
    private const string Route0 = Backend + ":Routes[0]";
    private const string Match0 = Route0 + ":Match[0]";
    private const string AddressRule = ": must be an absolute http or https URI with a host, an optional port and no path, e.g. \"http://127.0.0.1:5001\"";
    private const string HostRule = ": must be a host name such as 'backend' or 'backend.shop.svc.cluster.local' (no scheme, port or path)";
    private const string StringMatchKinds = "set exactly one of Exact, Prefix, Suffix, Regex, Present: true or Absent: true";

    private static IEnumerable<TestCaseData> InvalidOptions()
    {
        // Endpoints.
        yield return Case("address with another scheme", s => s.Endpoints[0].Address = "ftp://127.0.0.1:5001", $"{Backend}:Endpoints[0]:Address = 'ftp://127.0.0.1:5001'{AddressRule}");
        yield return Case("address with a path", s => s.Endpoints[0].Address = "http://127.0.0.1:5001/api", $"{Backend}:Endpoints[0]:Address = 'http://127.0.0.1:5001/api'{AddressRule}");
        yield return Case("address with a query", s => s.Endpoints[0].Address = "http://127.0.0.1:5001/?a=1", $"{Backend}:Endpoints[0]:Address = 'http://127.0.0.1:5001/?a=1'{AddressRule}");
        yield return Case("address with user info", s => s.Endpoints[0].Address = "http://me@127.0.0.1:5001", $"{Backend}:Endpoints[0]:Address = 'http://me@127.0.0.1:5001'{AddressRule}");
        yield return Case("relative address", s => s.Endpoints[1].Address = "backend:5001/x", $"{Backend}:Endpoints[1]:Address = 'backend:5001/x'{AddressRule}");
        yield return Case("blank address", s => s.Endpoints[0].Address = " ", $"{Backend}:Endpoints[0]:Address = ' '{AddressRule}");
        yield return Case("missing address", s => s.Endpoints[0].Address = null, $"{Backend}:Endpoints[0]:Address: is required, e.g. \"http://127.0.0.1:5001\"");
        yield return Case("weight 0", s => s.Endpoints[1].Weight = 0, $"{Backend}:Endpoints[1]:Weight = 0: must be >= 1");
        yield return Case("negative weight", s => s.Endpoints[0].Weight = -5, $"{Backend}:Endpoints[0]:Weight = -5: must be >= 1");
        yield return Case("duplicate address", s => s.Endpoints[1].Address = "HTTP://127.0.0.1:5001/", $"{Backend}:Endpoints[1]:Address = 'HTTP://127.0.0.1:5001/': duplicates Endpoints[0]; list each endpoint once and use Weight for a larger share");
        yield return Case("duplicate address by default port", s => (s.Endpoints[0].Address, s.Endpoints[1].Address) = ("http://backend-0", "http://backend-0:80"), $"{Backend}:Endpoints[1]:Address = 'http://backend-0:80': duplicates Endpoints[0]; list each endpoint once and use Weight for a larger share");
        yield return Case("undefined health", s => s.Endpoints[0].Health = (EndpointHealth)7, $"{Backend}:Endpoints[0]:Health = 7: must be one of Unknown, Healthy, Unhealthy, Draining");
        yield return Case("null endpoint", s => s.Endpoints[1] = null!, $"{Backend}:Endpoints[1]: an endpoint needs at least an Address");
        yield return Case("endpoint weights above uint.MaxValue", s => s.Endpoints.ForEach(e => e.Weight = int.MaxValue), $"{Backend}:Endpoints: the weights add up to 6442450941; the sum must be <= 4294967295", extraEndpoint: true);

        // Load balancer.
        yield return Case("unknown policy", s => s.LoadBalancer = new() { Policy = "Fastest" }, $"{Backend}:LoadBalancer:Policy = 'Fastest': unknown load-balancing policy; valid policies are LeastRequest, Maglev, Random, RingHash, RoundRobin, WeightedRandom, WeightedRoundRobin");
        yield return Case("RingHash without ConsistentHash", s => s.LoadBalancer = new() { Policy = "ringhash" }, $"{Backend}:LoadBalancer:Policy = 'RingHash': needs ConsistentHash with one of HttpHeaderName, HttpCookieName or HttpQueryParameterName");
        yield return Case("Maglev without ConsistentHash", s => s.LoadBalancer = new() { Policy = "Maglev" }, $"{Backend}:LoadBalancer:Policy = 'Maglev': needs ConsistentHash with one of HttpHeaderName, HttpCookieName or HttpQueryParameterName");
        yield return Case("ConsistentHash with two sources", s => s.LoadBalancer = new() { Policy = "RingHash", ConsistentHash = new() { HttpHeaderName = "x-user", HttpCookieName = "session" } }, $"{Backend}:LoadBalancer:ConsistentHash: set exactly one of HttpHeaderName, HttpCookieName or HttpQueryParameterName (found 2)");
        yield return Case("ConsistentHash with no source", s => s.LoadBalancer = new() { Policy = "Maglev", ConsistentHash = new() { HttpHeaderName = " " } }, $"{Backend}:LoadBalancer:ConsistentHash: set exactly one of HttpHeaderName, HttpCookieName or HttpQueryParameterName (found 0)");
        yield return Case("ConsistentHash without a hashing policy", s => s.LoadBalancer = new() { ConsistentHash = new() { HttpHeaderName = "x-user" } }, $"{Backend}:LoadBalancer:ConsistentHash: is used only by hashing policies, but Policy is 'RoundRobin'; set Policy to RingHash or Maglev, or remove ConsistentHash");
        yield return Case("non-prime TableSize", s => s.LoadBalancer = new() { Policy = "Maglev", ConsistentHash = new() { HttpHeaderName = "x-user", TableSize = 65536 } }, $"{Backend}:LoadBalancer:ConsistentHash:TableSize = 65536: must be a prime no larger than 5000011, e.g. 65537 (the default) or 131071");
        yield return Case("prime TableSize above the limit", s => s.LoadBalancer = new() { Policy = "Maglev", ConsistentHash = new() { HttpHeaderName = "x-user", TableSize = 5000077 } }, $"{Backend}:LoadBalancer:ConsistentHash:TableSize = 5000077: must be a prime no larger than 5000011, e.g. 65537 (the default) or 131071");
        yield return Case("MinimumRingSize 0", s => s.LoadBalancer = new() { Policy = "RingHash", ConsistentHash = new() { HttpHeaderName = "x-user", MinimumRingSize = 0 } }, $"{Backend}:LoadBalancer:ConsistentHash:MinimumRingSize = 0: must be between 1 and 8388608");
        yield return Case("MaximumRingSize below MinimumRingSize", s => s.LoadBalancer = new() { Policy = "RingHash", ConsistentHash = new() { HttpHeaderName = "x-user", MinimumRingSize = 2048, MaximumRingSize = 1024 } }, $"{Backend}:LoadBalancer:ConsistentHash:MaximumRingSize = 1024: must be between MinimumRingSize (2048) and 8388608");

        // Subsets and destinations.
        yield return Case("unknown subset", s => AddRoute(s, new DestinationOptions { Subset = "v3" }), $"{Route0}:Destinations[0]:Subset = 'v3': service 'backend' has no such subset; its subsets are v1, v2", subsets: true);
        yield return Case("subset of a service without subsets", s => AddRoute(s, new DestinationOptions { Subset = "v1" }), $"{Route0}:Destinations[0]:Subset = 'v1': service 'backend' has no such subset; it defines no Subsets");
        yield return Case("subset that selects nothing", s => { s.Subsets["v3"] = new() { ["version"] = "v3" }; AddRoute(s, new DestinationOptions { Subset = "v3" }); }, $"{Route0}:Destinations[0]:Subset = 'v3': selects none of the endpoints of service 'backend'; check the subset's labels against the endpoints' Labels");
        yield return Case("subset without labels", s => s.Subsets["all"] = [], $"{Backend}:Subsets:all: a subset must select at least one label, e.g. \"all\": {{ \"version\": \"all\" }}");
        yield return Case("unknown Host", s => AddRoute(s, new DestinationOptions { Host = "nowhere" }), $"{Route0}:Destinations[0]:Host = 'nowhere': no such service; known services are backend");
        yield return Case("mixed weighted and unweighted", s => AddRoute(s, new DestinationOptions { Subset = "v1", Weight = 80 }, new DestinationOptions { Subset = "v2" }), $"{Route0}:Destinations: 1 of 2 destinations have a Weight; give every destination a Weight, or none for an equal split", subsets: true);
        yield return Case("weights summing to 0", s => AddRoute(s, new DestinationOptions { Subset = "v1", Weight = 0 }, new DestinationOptions { Subset = "v2", Weight = 0 }), $"{Route0}:Destinations: the weights add up to 0; at least one destination needs a Weight > 0", subsets: true);
        yield return Case("negative destination weight", s => AddRoute(s, new DestinationOptions { Subset = "v1", Weight = -3 }, new DestinationOptions { Subset = "v2", Weight = 1 }), $"{Route0}:Destinations[0]:Weight = -3: must be >= 0", subsets: true);
        yield return Case("destination weights above uint.MaxValue", s => AddRoute(s, [.. Enumerable.Range(0, 3).Select(_ => new DestinationOptions { Weight = int.MaxValue })]), $"{Route0}:Destinations: the weights add up to 6442450941; the sum must be <= 4294967295");
        yield return Case("route without destinations", s => s.Routes.Add(new RouteOptions()), $"{Route0}:Destinations: at least one destination is required, e.g. [ {{ \"Subset\": \"v1\" }} ]");
        yield return Case("null route", s => s.Routes.Add(null!), $"{Route0}: a route needs Destinations");

        // Matches.
        yield return Case("two path kinds", s => AddMatch(s, new() { Path = "/a", PathPrefix = "/a" }), $"{Match0}: set only one of Path, PathPrefix and PathRegex");
        yield return Case("three path kinds", s => AddMatch(s, new() { Path = "/a", PathPrefix = "/a", PathRegex = "/a" }), $"{Match0}: set only one of Path, PathPrefix and PathRegex");
        yield return Case("Path without '/'", s => AddMatch(s, new() { Path = "api" }), $"{Match0}:Path = 'api': must start with '/', e.g. '/api'");
        yield return Case("PathPrefix without '/'", s => AddMatch(s, new() { PathPrefix = "api/v1" }), $"{Match0}:PathPrefix = 'api/v1': must start with '/', e.g. '/api/v1'");
        yield return Case("invalid method", s => AddMatch(s, new() { Method = "GET /" }), $"{Match0}:Method = 'GET /': must be an HTTP method such as GET, POST, PUT or DELETE");
        yield return Case("empty method", s => AddMatch(s, new() { Method = "" }), $"{Match0}:Method = '': must be an HTTP method such as GET, POST, PUT or DELETE");
        yield return Case("null match", s => AddMatch(s, null!), $"{Match0}: an empty match; remove it, or remove Match altogether to match every request");
        yield return Case("header match with no kind", s => AddMatch(s, new() { Headers = { ["x-test"] = new() { IgnoreCase = true } } }), $"{Match0}:Headers:x-test: {StringMatchKinds} (found 0)");
        yield return Case("header match with two kinds", s => AddMatch(s, new() { Headers = { ["x-test"] = new() { Exact = "a", Prefix = "a" } } }), $"{Match0}:Headers:x-test: {StringMatchKinds} (found 2)");
        yield return Case("header match that is null", s => AddMatch(s, new() { Headers = { ["x-test"] = null! } }), $"{Match0}:Headers:x-test: {StringMatchKinds}");
        yield return Case("query match with two kinds", s => AddMatch(s, new() { QueryParams = { ["v"] = new() { Present = true, Absent = true } } }), $"{Match0}:QueryParams:v: {StringMatchKinds} (found 2)");
        yield return Case("Present: false", s => AddMatch(s, new() { Headers = { ["x-test"] = new() { Present = false } } }), $"{Match0}:Headers:x-test: Present and Absent can only be true; use Absent: true instead of Present: false, and the reverse");
        yield return Case("Absent: false", s => AddMatch(s, new() { QueryParams = { ["v"] = new() { Absent = false } } }), $"{Match0}:QueryParams:v: Present and Absent can only be true; use Absent: true instead of Present: false, and the reverse");

        // Routes and services.
        yield return Case("catch-all route not last", s => { AddRoute(s, new DestinationOptions()); AddMatch(s, new() { PathPrefix = "/api" }, route: 1); }, $"{Backend}:Routes[1]: can never match because Routes[0] has no Match and takes every request; put the catch-all route last");
        yield return Case("bad host alias", s => s.Hosts.Add("http://backend"), $"{Backend}:Hosts[0] = 'http://backend'{HostRule}");
        yield return Case("host alias with a port", s => s.Hosts.Add("backend:80"), $"{Backend}:Hosts[0] = 'backend:80'{HostRule}");
    }

    [TestCaseSource(nameof(InvalidOptions))]
    public void Build_InvalidOptions_ReportsExactlyThatError(Action<ServiceOptions> configure, string expected, bool subsets, bool extraEndpoint)
    {
        // Arrange: a valid service (endpoints :5001 version=v1 and :5002 version=v2), then one thing broken.
        var options = TestMesh.Service(count: extraEndpoint ? 3 : 2, configure: s =>
        {
            if (subsets)
            {
                s.Subsets["v1"] = new() { ["version"] = "v1" };
                s.Subsets["v2"] = new() { ["version"] = "v2" };
            }

            configure(s);
        });

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { expected }));
    }

    [TestCase("(", "not a valid regular expression")]
    [TestCase("[a-", "not a valid regular expression")]
    [TestCase("(a)\\1", "not supported by the non-backtracking engine")]
    [TestCase("(?=a)a", "not supported by the non-backtracking engine")]
    public void Build_InvalidPathRegex_ReportsPatternAndReason(string pattern, string reason)
    {
        // Arrange: the parser's own explanation sits in parentheses between a fixed start and end.
        var options = TestMesh.Service(configure: s => AddMatch(s, new() { PathRegex = pattern }));

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Match0}:PathRegex = '{pattern}': {reason} ("));
        Assert.That(errors[0], Does.EndWith("); backreferences and lookarounds are not supported"));
    }

    [TestCase("Maglev", 0, 1024, 8388608, "TableSize = 0: must be a prime")]
    [TestCase("Maglev", 1, 1024, 8388608, "TableSize = 1: must be a prime")]
    [TestCase("Maglev", -3, 1024, 8388608, "TableSize = -3: must be a prime")]
    [TestCase("Maglev", 65536, 1024, 8388608, "TableSize = 65536: must be a prime")]
    [TestCase("RingHash", 65537, -1, 8388608, "MinimumRingSize = -1: must be between 1 and 8388608")]
    [TestCase("RingHash", 65537, int.MaxValue, int.MaxValue, "MinimumRingSize = 2147483647: must be between 1 and 8388608")]
    public void Build_InvalidHashTableSettings_RejectedWithoutHangingOrThrowing(string policy, int tableSize, int minimumRingSize, int maximumRingSize, string expected)
    {
        // Arrange: the snapshot is discarded but its pickers are built. A non-prime Maglev table leaves some endpoint
        // a permutation that never finds a free slot, a table below 2 divides by zero, and an unchecked minimum ring
        // size asks for 2^31 entries; the build must still return its errors, promptly.
        var options = TestMesh.Service(count: 4, configure: s => s.LoadBalancer = new LoadBalancerOptions
        {
            Policy = policy,
            ConsistentHash = new() { HttpHeaderName = "x-user", TableSize = tableSize, MinimumRingSize = minimumRingSize, MaximumRingSize = maximumRingSize },
        });

        // Act
        var build = Task.Run(() => TestMesh.Build(options));
        var finished = build.Wait(TimeSpan.FromSeconds(20));

        // Assert
        Assert.That(finished, Is.True, "the build did not finish");
        Assert.That(build.Result.Snapshot, Is.Null);
        Assert.That(build.Result.Errors, Has.All.StartWith($"{Backend}:LoadBalancer:ConsistentHash:"));
        Assert.That(build.Result.Errors, Has.Some.StartWith($"{Backend}:LoadBalancer:ConsistentHash:{expected}"));
    }

    [Test]
    public void Build_InvalidHeaderRegex_ReportsTheRegexPath()
    {
        // Arrange
        var options = TestMesh.Service(configure: s => AddMatch(s, new() { Headers = { ["x-test"] = new() { Regex = "(" } } }));

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Match0}:Headers:x-test:Regex = '(': not a valid regular expression ("));
    }

    [Test]
    public void Build_HostClaimedByTwoServices_ReportsTheSecondClaim()
    {
        // Arrange
        var options = TestMesh.Service();
        options.Services["frontend"] = new ServiceOptions { Hosts = { "frontend.shop", "BACKEND" }, Endpoints = { new() { Address = "http://127.0.0.1:6001" } } };

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { "Mesh:Services:frontend:Hosts[1] = 'BACKEND': the host already belongs to service 'backend'; a host can name only one service" }));
    }

    [Test]
    public void Build_AliasClaimedByTwoServices_ReportsTheSecondClaim()
    {
        // Arrange
        var options = TestMesh.Service(configure: s => s.Hosts.Add("api.shop"));
        options.Services["frontend"] = new ServiceOptions { Hosts = { "api.shop" }, Endpoints = { new() { Address = "http://127.0.0.1:6001" } } };

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { "Mesh:Services:frontend:Hosts[0] = 'api.shop': the host already belongs to service 'backend'; a host can name only one service" }));
    }

    [Test]
    public void Build_ServiceNameNotAHostName_ReportsTheName()
    {
        // Arrange
        var options = TestMesh.Service(name: "back end");

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { $"Mesh:Services:back end = 'back end'{HostRule}" }));
    }

    [Test]
    public void Build_ServiceWithNoEndpointsAndNoRoutes_ReportsIt()
    {
        // Arrange
        var options = new MeshOptions { Services = { ["backend"] = new ServiceOptions() } };

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { $"{Backend}: has no Endpoints and no Routes; add Endpoints, or Routes whose Destinations name another Host" }));
    }

    [Test]
    public void Build_NullService_ReportsIt()
    {
        // Arrange
        var options = new MeshOptions { Services = { ["backend"] = null! } };

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { $"{Backend}: the service has no settings; give it Endpoints or Routes" }));
    }

    [Test]
    public void Build_RouteToOwnClusterWithoutEndpoints_ReportsIt()
    {
        // Arrange
        var options = new MeshOptions { Services = { ["frontend"] = new ServiceOptions { Routes = { new RouteOptions { Destinations = { new() } } } } } };

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { "Mesh:Services:frontend:Routes[0]:Destinations[0]: service 'frontend' has no Endpoints to send to" }));
    }

    [Test]
    public void Build_UnknownHostWithSeveralServices_ListsThemInOrder()
    {
        // Arrange
        var options = TestMesh.Service(configure: s => AddRoute(s, new DestinationOptions { Host = "orders" }));
        options.Services["zeta"] = new ServiceOptions { Endpoints = { new() { Address = "http://127.0.0.1:6001" } } };
        options.Services["alpha"] = new ServiceOptions { Endpoints = { new() { Address = "http://127.0.0.1:6002" } } };

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { $"{Route0}:Destinations[0]:Host = 'orders': no such service; known services are alpha, backend, zeta" }));
    }

    [Test]
    public void Build_NullDestination_ReportsIt()
    {
        // Arrange
        var options = TestMesh.Service(configure: s => AddRoute(s, [null!]));

        // Act
        var errors = TestMesh.Errors(options);

        // Assert: the null destination also counts as weight 0, which adds "the weights add up to 0".
        Assert.That(errors, Does.Contain($"{Route0}:Destinations[0]: a destination needs a Subset, a Host or a Cluster"));
    }

    [Test]
    public void Build_SeveralProblems_ReportsEveryOneAndNoSnapshot()
    {
        // Arrange: problems in endpoints, load balancer, routes and a second service, all at once.
        var options = TestMesh.Service(configure: s =>
        {
            s.Endpoints[0].Address = "localhost:5001";
            s.Endpoints[1].Weight = 0;
            s.LoadBalancer = new LoadBalancerOptions { Policy = "Fastest" };
            s.Routes.Add(new RouteOptions { Match = { new() { Path = "api" } }, Destinations = { new() { Subset = "v9" } } });
        });
        options.Services["frontend"] = new ServiceOptions { Hosts = { "backend" } };

        // Act
        var result = TestMesh.Build(options);

        // Assert
        Assert.That(result.Snapshot, Is.Null);
        Assert.That(result.Errors, Is.EqualTo(new[]
        {
            $"{Backend}:Endpoints[0]:Address = 'localhost:5001'{AddressRule}",
            $"{Backend}:Endpoints[1]:Weight = 0: must be >= 1",
            $"{Backend}:LoadBalancer:Policy = 'Fastest': unknown load-balancing policy; valid policies are LeastRequest, Maglev, Random, RingHash, RoundRobin, WeightedRandom, WeightedRoundRobin",
            "Mesh:Services:frontend:Hosts[0] = 'backend': the host already belongs to service 'backend'; a host can name only one service",
            $"{Match0}:Path = 'api': must start with '/', e.g. '/api'",
            $"{Route0}:Destinations[0]:Subset = 'v9': service 'backend' has no such subset; it defines no Subsets",
            "Mesh:Services:frontend: has no Endpoints and no Routes; add Endpoints, or Routes whose Destinations name another Host",
        }));
    }

    [Test]
    public void Build_ReadErrors_ReportedFirstWithValidationErrors()
    {
        // Arrange: problems the configuration reader found travel with the options.
        var options = TestMesh.Service(configure: s => s.Endpoints[0].Weight = 0);
        options.ReadErrors.Add("Mesh:Services:backend:Endpoints[0]:Wieght: unknown setting");

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Is.EqualTo(new[] { "Mesh:Services:backend:Endpoints[0]:Wieght: unknown setting", $"{Backend}:Endpoints[0]:Weight = 0: must be >= 1" }));
    }

    private static TestCaseData Case(string name, Action<ServiceOptions> configure, string expected, bool subsets = false, bool extraEndpoint = false) =>
        new TestCaseData(configure, expected, subsets, extraEndpoint).SetArgDisplayNames(name);

    private static void AddRoute(ServiceOptions service, params DestinationOptions[] destinations)
    {
        var route = new RouteOptions();
        route.Destinations.AddRange(destinations);
        service.Routes.Add(route);
    }

    private static void AddMatch(ServiceOptions service, RouteMatchOptions match, int route = 0)
    {
        while (service.Routes.Count <= route)
        {
            service.Routes.Add(new RouteOptions { Destinations = { new DestinationOptions() } });
        }

        service.Routes[route].Match.Add(match);
    }
}
