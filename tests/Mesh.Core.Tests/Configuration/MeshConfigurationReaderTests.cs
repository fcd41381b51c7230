using System.Text;
using Mesh.Configuration;
using Mesh.Model;
using Microsoft.Extensions.Configuration;

namespace Mesh.Core.Tests.Configuration;

public class MeshConfigurationReaderTests
{
    private const string Endpoint0 = "Mesh:Services:backend:Endpoints[0]";

    /// <summary>DESIGN.md 4.1 without the settings that are not built yet, and with a v2 endpoint so every subset selects one.</summary>
    private const string Design41Json = """
        { "Mesh": { "Services": { "backend": {
            "Hosts": [ "backend.shop.svc.cluster.local" ],
            "Endpoints": [ { "Address": "http://127.0.0.1:5001", "Labels": { "version": "v1" }, "Weight": 1, "Locality": "zone-a" },
                           { "Address": "http://127.0.0.1:5002", "Labels": { "version": "v2" }, "Weight": 3, "Health": "Draining" } ],
            "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
            "Routes": [ { "Name": "canary",
                          "Match": [ { "PathPrefix": "/api", "Method": "GET", "Headers": { "x-canary": { "Exact": "1", "IgnoreCase": true } },
                                       "QueryParams": { "tenant": { "Present": true } } } ],
                          "Destinations": [ { "Subset": "v1", "Weight": 80 }, { "Subset": "v2", "Weight": 20 } ] },
                        { "Destinations": [ { "Host": "backend" } ] } ],
            "LoadBalancer": { "Policy": "RingHash", "ConsistentHash": { "HttpHeaderName": "x-user", "MinimumRingSize": 2048, "MaximumRingSize": 4096, "TableSize": 131071 } } } } } }
        """;

    [Test]
    public void Read_Design41Json_ReadsEverySetting()
    {
        // Arrange
        var configuration = FromJson(Design41Json);
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Is.Empty);
        var backend = options.Services["BACKEND"];
        Assert.That(backend.Hosts, Is.EqualTo(new[] { "backend.shop.svc.cluster.local" }));
        Assert.That(backend.Endpoints.Select(e => (e.Address, e.Weight, e.Locality, e.Health)), Is.EqualTo(new[]
        {
            ("http://127.0.0.1:5001", 1, "zone-a", EndpointHealth.Healthy),
            ("http://127.0.0.1:5002", 3, (string?)null, EndpointHealth.Draining),
        }));
        Assert.That(backend.Endpoints[1].Labels, Is.EquivalentTo(new Dictionary<string, string> { ["version"] = "v2" }));
        Assert.That(backend.Subsets["v2"], Is.EquivalentTo(new Dictionary<string, string> { ["version"] = "v2" }));
        var canary = backend.Routes[0];
        Assert.That(canary.Name, Is.EqualTo("canary"));
        var match = canary.Match.Single();
        Assert.That((match.PathPrefix, match.Path, match.Method), Is.EqualTo(("/api", (string?)null, "GET")));
        Assert.That((match.Headers["X-Canary"].Exact, match.Headers["x-canary"].IgnoreCase), Is.EqualTo(("1", true)));
        Assert.That(match.QueryParams["tenant"].Present, Is.True);
        Assert.That(canary.Destinations.Select(d => (d.Host, d.Subset, d.Weight)), Is.EqualTo(new[] { ((string?)null, "v1", (int?)80), (null, "v2", 20) }));
        Assert.That(backend.Routes[1].Match, Is.Empty);
        Assert.That(backend.Routes[1].Destinations.Single().Host, Is.EqualTo("backend"));
        Assert.That(backend.LoadBalancer!.Policy, Is.EqualTo("RingHash"));
        var hash = backend.LoadBalancer.ConsistentHash!;
        Assert.That((hash.HttpHeaderName, hash.MinimumRingSize, hash.MaximumRingSize, hash.TableSize), Is.EqualTo(("x-user", 2048, 4096, 131071)));
    }

    [Test]
    public void Read_Design41Json_BuildsASnapshot()
    {
        // Arrange
        var options = new MeshOptions();
        MeshConfigurationReader.Read(FromJson(Design41Json).GetSection("Mesh"), options, "Mesh");

        // Act
        var snapshot = TestMesh.BuildValid(options);

        // Assert
        Assert.That(snapshot.Clusters.Keys, Is.EquivalentTo(new[] { "backend", "backend/v1", "backend/v2" }));
        Assert.That(snapshot.TryGetService("backend.shop.svc.cluster.local", out var service), Is.True);
        var canary = TestRequest.Get("/api/orders", "?tenant=a", new() { ["x-canary"] = "1" });
        var plain = TestRequest.Get("/api/orders");
        Assert.That(service!.SelectRoute(ref canary)?.Name, Is.EqualTo("canary"));
        Assert.That(service.SelectRoute(ref plain)?.Name, Is.EqualTo("routes[1]"));
    }

    [Test]
    public void Read_Design41JsonWithResilience_ReadsAndBuilds()
    {
        // Arrange: DESIGN.md 4.1 verbatim, plus a v2 endpoint so that the v2 subset selects one.
        var configuration = FromJson("""
            { "Mesh": { "Services": { "backend": {
                "Endpoints": [ { "Address": "http://127.0.0.1:5001", "Labels": { "version": "v1" }, "Weight": 1, "Locality": "zone-a" },
                               { "Address": "http://127.0.0.1:5002", "Labels": { "version": "v2" } } ],
                "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
                "Routes": [ { "Match": [ { "PathPrefix": "/api", "Headers": { "x-canary": { "Exact": "1" } } } ],
                              "Destinations": [ { "Subset": "v1", "Weight": 80 }, { "Subset": "v2", "Weight": 20 } ],
                              "Timeout": "00:00:02", "Retries": { "Attempts": 2, "PerTryTimeout": "00:00:01", "RetryOn": "5xx,reset,connect-failure" },
                              "Fault": { "Abort": { "HttpStatus": 503, "Percentage": 10 } } } ],
                "LoadBalancer": { "Policy": "RoundRobin" },
                "OutlierDetection": { "Consecutive5xxErrors": 5, "Interval": "00:00:10", "BaseEjectionTime": "00:00:30", "MaxEjectionPercent": 50 },
                "ConnectionPool": { "MaxRequests": 1024, "MaxPendingRequests": 1024, "MaxRetries": 3 } } } } }
            """);
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Is.Empty);
        var backend = options.Services["backend"];
        var route = backend.Routes.Single();
        Assert.That(route.Timeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That((route.Retries!.Attempts, route.Retries.PerTryTimeout, route.Retries.RetryOn), Is.EqualTo((2, (TimeSpan?)TimeSpan.FromSeconds(1), "5xx,reset,connect-failure")));
        Assert.That((route.Fault!.Abort!.HttpStatus, route.Fault.Abort.Percentage), Is.EqualTo((503, 10.0)));
        var outlier = backend.OutlierDetection!;
        Assert.That((outlier.Consecutive5xxErrors, outlier.Interval, outlier.BaseEjectionTime, outlier.MaxEjectionPercent), Is.EqualTo((5, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), 50)));
        var pool = backend.ConnectionPool!;
        Assert.That((pool.MaxRequests, pool.MaxPendingRequests, pool.MaxRetries), Is.EqualTo((1024, 1024, 3)));
        var build = TestMesh.Build(options);
        build.Runtime.DisposeExcept(MeshRuntime.Empty);
        Assert.That(build.Errors, Is.Empty);
    }

    [TestCase("Mesh:Services:backend:Endpoints:0:Wieght", "2", "Mesh:Services:backend:Endpoints[0]:Wieght: unknown setting; valid settings here are Address, Health, Labels, Locality, Weight, Workload")]
    [TestCase("Mesh:Sevices:backend:Endpoints:0:Address", "http://127.0.0.1:5001", "Mesh:Sevices: unknown setting; valid settings here are Clusters, Services")]
    [TestCase("Mesh:Services:backend:LoadBalancer:Polcy", "Random", "Mesh:Services:backend:LoadBalancer:Polcy: unknown setting; valid settings here are ConsistentHash, Policy")]
    [TestCase("Mesh:Services:backend:LoadBalancer:ConsistentHash:Header", "x", "Mesh:Services:backend:LoadBalancer:ConsistentHash:Header: unknown setting; valid settings here are HttpCookieName, HttpHeaderName, HttpQueryParameterName, MaximumRingSize, MinimumRingSize, TableSize")]
    [TestCase("Mesh:Services:backend:Routes:0:Match:0:Uri", "/api", "Mesh:Services:backend:Routes[0]:Match[0]:Uri: unknown setting; valid settings here are Headers, Method, Path, PathPrefix, PathRegex, QueryParams")]
    [TestCase("Mesh:Services:backend:Routes:0:Match:0:Headers:x-a:Equals", "1", "Mesh:Services:backend:Routes[0]:Match[0]:Headers:x-a:Equals: unknown setting; valid settings here are Absent, Exact, IgnoreCase, Prefix, Present, Regex, Suffix")]
    [TestCase("Mesh:Services:backend:Routes:0:Destinations:0:Service", "v1", "Mesh:Services:backend:Routes[0]:Destinations[0]:Service: unknown setting; valid settings here are Cluster, Host, Subset, Weight")]
    [TestCase("Mesh:Clusters:c1:Endpoints:0:Adress", "http://127.0.0.1:5001", "Mesh:Clusters:c1:Endpoints[0]:Adress: unknown setting; valid settings here are Address, Health, Labels, Locality, Weight, Workload")]
    [TestCase("Mesh:Clusters:c1:Endpoints:0:Workload:App_Name", "orders", "Mesh:Clusters:c1:Endpoints[0]:Workload:App_Name: unknown setting; valid settings here are App, Cluster, Name, Namespace, Version")]
    public void Read_UnknownSetting_ReportedWithPathAndValidSettings(string key, string value, string expected)
    {
        // Arrange
        var configuration = FromPairs((key, value));
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Is.EqualTo(new[] { expected }));
    }

    [TestCase("Mesh:Services:backend:Endpoint:0:Address", "Mesh:Services:backend:Endpoint")]
    [TestCase("Mesh:Services:backend:Routes:0:Destination:0:Subset", "Mesh:Services:backend:Routes[0]:Destination")]
    public void Read_UnknownSettingOfServiceOrRoute_ReportedWithPath(string key, string path)
    {
        // Arrange: the lists of valid settings of services and routes grow with features, so only their start is fixed.
        var configuration = FromPairs((key, "x"));
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Has.Count.EqualTo(1));
        Assert.That(options.ReadErrors[0], Does.StartWith($"{path}: unknown setting; valid settings here are "));
        Assert.That(options.ReadErrors[0], Does.Contain("Destinations").Or.Contain("Endpoints"));
    }

    [TestCase("Endpoints:0:Weight", "abc", $"{Endpoint0}:Weight = 'abc': must be a whole number")]
    [TestCase("Endpoints:0:Weight", "1.5", $"{Endpoint0}:Weight = '1.5': must be a whole number")]
    [TestCase("Endpoints:0:Weight", "99999999999", $"{Endpoint0}:Weight = '99999999999': must be a whole number")]
    [TestCase("Endpoints:0:Weight", "", $"{Endpoint0}:Weight: a value is required")]
    [TestCase("Endpoints:0:Health", "Sick", $"{Endpoint0}:Health = 'Sick': must be one of Unknown, Healthy, Unhealthy, Draining")]
    [TestCase("Endpoints:0:Health", "2", $"{Endpoint0}:Health = '2': must be one of Unknown, Healthy, Unhealthy, Draining")]
    [TestCase("Routes:0:Destinations:0:Weight", "eighty", "Mesh:Services:backend:Routes[0]:Destinations[0]:Weight = 'eighty': must be a whole number")]
    [TestCase("Routes:0:Match:0:Headers:x-a:IgnoreCase", "yes", "Mesh:Services:backend:Routes[0]:Match[0]:Headers:x-a:IgnoreCase = 'yes': must be true or false")]
    [TestCase("Routes:0:Match:0:QueryParams:q:Present", "1", "Mesh:Services:backend:Routes[0]:Match[0]:QueryParams:q:Present = '1': must be true or false")]
    [TestCase("LoadBalancer:ConsistentHash:TableSize", "big", "Mesh:Services:backend:LoadBalancer:ConsistentHash:TableSize = 'big': must be a whole number")]
    [TestCase("LoadBalancer:Policy:Name", "RoundRobin", "Mesh:Services:backend:LoadBalancer:Policy: must be a single value, not an object or a list")]
    [TestCase("Endpoints:0:Labels:version:major", "1", $"{Endpoint0}:Labels:version: must be a single value, not an object or a list")]
    [TestCase("Endpoints", "http://127.0.0.1:5001", "Mesh:Services:backend:Endpoints = 'http://127.0.0.1:5001': must be a list, not a single value")]
    [TestCase("LoadBalancer", "RoundRobin", "Mesh:Services:backend:LoadBalancer = 'RoundRobin': must be an object, not a single value")]
    [TestCase("Endpoints:Address", "http://127.0.0.1:5001", "Mesh:Services:backend:Endpoints:Address: Mesh:Services:backend:Endpoints must be a list (a JSON array)")]
    public void Read_WrongType_ReportedWithPathValueAndRule(string key, string value, string expected)
    {
        // Arrange
        var configuration = FromPairs(($"Mesh:Services:backend:{key}", value));
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Is.EqualTo(new[] { expected }));
    }

    [Test]
    public void Read_SeveralProblems_CollectsEveryOneAndReadsTheRest()
    {
        // Arrange
        var configuration = FromPairs(
            ("Mesh:Services:backend:Endpoints:0:Address", "http://127.0.0.1:5001"),
            ("Mesh:Services:backend:Endpoints:0:Wieght", "2"),
            ("Mesh:Services:backend:Endpoints:1:Address", "http://127.0.0.1:5002"),
            ("Mesh:Services:backend:Endpoints:1:Weight", "abc"),
            ("Mesh:Services:backend:LoadBalancer:Policy", "Random"),
            ("Mesh:Services:backend:LoadBalancer:Bias", "2"));
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Is.EquivalentTo(new[]
        {
            $"{Endpoint0}:Wieght: unknown setting; valid settings here are Address, Health, Labels, Locality, Weight, Workload",
            "Mesh:Services:backend:Endpoints[1]:Weight = 'abc': must be a whole number",
            "Mesh:Services:backend:LoadBalancer:Bias: unknown setting; valid settings here are ConsistentHash, Policy",
        }));
        Assert.That(options.Services["backend"].Endpoints.Select(e => e.Address), Is.EqualTo(new[] { "http://127.0.0.1:5001", "http://127.0.0.1:5002" }));
        Assert.That(options.Services["backend"].LoadBalancer!.Policy, Is.EqualTo("Random"));
    }

    [Test]
    public void Read_ReadErrors_RejectTheBuildWithValidationErrors()
    {
        // Arrange: a misspelled weight must not silently fall back to the default.
        var configuration = FromPairs(
            ("Mesh:Services:backend:Endpoints:0:Address", "ftp://x"),
            ("Mesh:Services:backend:Endpoints:0:Wieght", "5"),
            ("Mesh:Services:backend:Endpoints:1:Address", "http://127.0.0.1:5002"));
        var options = new MeshOptions();
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Act
        var errors = TestMesh.Errors(options);

        // Assert
        Assert.That(errors, Has.Count.EqualTo(2));
        Assert.That(errors[0], Does.StartWith($"{Endpoint0}:Wieght: unknown setting"));
        Assert.That(errors[1], Does.StartWith($"{Endpoint0}:Address = 'ftp://x': must be an absolute http or https URI"));
    }

    [Test]
    public void Read_MoreThanTenListItems_KeepsNumericOrder()
    {
        // Arrange: configuration keys sort as strings ("10" before "2"); list items must keep their index order.
        var pairs = Enumerable.Range(0, 12).Select(i => ($"Mesh:Services:backend:Endpoints:{i}:Address", $"http://127.0.0.1:{5000 + i}")).ToArray();
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(FromPairs(pairs).GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.Services["backend"].Endpoints.Select(e => e.Address), Is.EqualTo(Enumerable.Range(0, 12).Select(i => $"http://127.0.0.1:{5000 + i}")));
    }

    [Test]
    public void Read_KeysInAnyCase_Read()
    {
        // Arrange: configuration keys are case-insensitive, so are setting names.
        var configuration = FromPairs(
            ("mesh:services:backend:endpoints:0:address", "http://127.0.0.1:5001"),
            ("mesh:services:backend:endpoints:0:WEIGHT", "4"),
            ("mesh:services:backend:endpoints:0:health", "unhealthy"));
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Is.Empty);
        var endpoint = options.Services["backend"].Endpoints.Single();
        Assert.That((endpoint.Address, endpoint.Weight, endpoint.Health), Is.EqualTo(("http://127.0.0.1:5001", 4, EndpointHealth.Unhealthy)));
    }

    [Test]
    public void Read_EmptyOptionalValues_LeftUnset()
    {
        // Arrange: JSON null reads as an empty value; optional settings then keep their defaults.
        var configuration = FromJson("""
            { "Mesh": { "Services": { "backend": {
                "Endpoints": [ { "Address": "http://127.0.0.1:5001", "Locality": null } ],
                "Routes": [ { "Destinations": [ { "Weight": null } ] } ] } } } }
            """);
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert
        Assert.That(options.ReadErrors, Is.Empty);
        Assert.That(options.Services["backend"].Endpoints[0].Locality, Is.Null.Or.Empty);
        Assert.That(options.Services["backend"].Routes[0].Destinations[0].Weight, Is.Null);
    }

    [Test]
    public void Read_EmptyService_ReadAsAServiceWithoutSettings()
    {
        // Arrange
        var configuration = FromJson("""{ "Mesh": { "Services": { "backend": { } } } }""");
        var options = new MeshOptions();

        // Act
        MeshConfigurationReader.Read(configuration.GetSection("Mesh"), options, "Mesh");

        // Assert: the builder then reports that it has no endpoints and no routes.
        Assert.That(options.ReadErrors, Is.Empty);
        Assert.That(TestMesh.Errors(options), Is.EqualTo(new[] { "Mesh:Services:backend: has no Endpoints and no Routes; add Endpoints, or Routes whose Destinations name another Host" }));
    }

    internal static IConfigurationRoot FromJson(string json) =>
        new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

    private static IConfigurationRoot FromPairs(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();
}
