using Mesh.Http.Tests.Infrastructure;

namespace Mesh.Http.Tests.Resilience;

/// <summary>Resilience policies changed by configuration reloads while requests run.</summary>
[TestFixture]
public sealed class PolicyReloadTests
{
    private const int Concurrency = 8;
    private const int RequestsPerVersion = 150;

    // Scenario 7.
    [Test]
    public async Task Reload_PoliciesChangeUnderLoad_NoRequestFails()
    {
        // Arrange
        await using var a = await FaultyBackend.StartAsync("a");
        await using var b = await FaultyBackend.StartAsync("b");
        await using var c = await FaultyBackend.StartAsync("c");
        FaultyBackend[] backends = [a, b, c];
        string[] configurations =
        [
            Config(backends, Retries(2, "5xx"), OutlierDetection(5), """{ "MaxRequests": 64 }"""),
            Config(backends, Retries(1, "5xx,reset,connect-failure", perTryTimeout: "00:00:05"), OutlierDetection(3), """{ "MaxRequests": 4, "MaxPendingRequests": 64 }""", weights: [5, 1, 1]),
            Config(backends, """ "Timeout": "00:00:10", "Hedging": { "Delay": "00:00:00.050", "MaxAttempts": 2 }, """, null, """{ "RetryBudgetPercent": 50, "MinRetryConcurrency": 8 }""", weights: [1, 5, 1]),
            Config(backends, null, null, null),
        ];
        using var configuration = TestConfiguration.Reloadable(configurations[0], out var provider);
        await using var mesh = MeshClient.Create(configuration);
        using var client = mesh.CreateClient();
        var first = mesh.State.Current.Version;
        var versions = new List<(long Version, long Completed)>();
        await using var load = LoadGenerator.Start(client, mesh.State, Concurrency);
        await Poll.UntilAsync(() => load.CompletedSince(first) >= RequestsPerVersion, "requests complete under the first configuration");

        // Act: every policy kind changes, twice round, while 8 loops keep sending.
        for (var i = 1; i <= 2 * configurations.Length; i++)
        {
            provider.Replace(configurations[i % configurations.Length]);
            var expected = first + i;
            await Poll.UntilAsync(() => mesh.State.Current.Version == expected, $"snapshot v{expected} is published");
            await Poll.UntilAsync(() => load.CompletedSince(expected) >= RequestsPerVersion, $"{RequestsPerVersion} requests complete under v{expected}");
        }

        await load.StopAsync();

        // Assert
        TestContext.Out.WriteLine($"{load.Completed} requests over {2 * configurations.Length} reloads, {load.Failures.Count} failed; attempts a/b/c = {a.Attempts}/{b.Attempts}/{c.Attempts}");
        Assert.Multiple(() =>
        {
            Assert.That(load.Failures, Is.Empty, "no request failed during the reloads");
            Assert.That(mesh.State.Current.Version, Is.EqualTo(first + (2 * configurations.Length)), "every reload was accepted");
            Assert.That(backends.Select(e => e.Attempts), Has.All.GreaterThan(0));
        });
    }

    private static string Retries(int attempts, string retryOn, string? perTryTimeout = null) =>
        $$""" "Retries": { "Attempts": {{attempts}}, "RetryOn": "{{retryOn}}"{{(perTryTimeout is null ? "" : $", \"PerTryTimeout\": \"{perTryTimeout}\"")}} }, """;

    private static string OutlierDetection(int consecutive5xx) =>
        $$"""{ "Consecutive5xxErrors": {{consecutive5xx}}, "Interval": "00:00:00.200", "BaseEjectionTime": "00:00:01", "MaxEjectionPercent": 50 }""";

    /// <summary>Service <c>backend</c>; <paramref name="routePolicies"/> (JSON members ending with a comma) make a catch-all route, weights switch to WeightedRoundRobin.</summary>
    private static string Config(FaultyBackend[] backends, string? routePolicies, string? outlierDetection, string? connectionPool, int[]? weights = null)
    {
        var endpoints = string.Join(", ", backends.Select((e, i) => $$"""{ "Address": "{{e.Address}}", "Weight": {{weights?[i] ?? 1}} }"""));
        var members = new List<string> { $"\"Endpoints\": [ {endpoints} ]" };
        if (routePolicies is not null)
        {
            members.Add($$""" "Routes": [ { "Name": "reloaded", {{routePolicies}} "Destinations": [ { "Host": "backend" } ] } ] """);
        }

        if (outlierDetection is not null)
        {
            members.Add($"\"OutlierDetection\": {outlierDetection}");
        }

        if (connectionPool is not null)
        {
            members.Add($"\"ConnectionPool\": {connectionPool}");
        }

        if (weights is not null)
        {
            members.Add("""  "LoadBalancer": { "Policy": "WeightedRoundRobin" } """);
        }

        return $$"""{ "Mesh": { "Services": { "backend": { {{string.Join(", ", members)}} } } } }""";
    }
}
