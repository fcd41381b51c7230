using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mesh.ControlPlane.Configuration;

namespace Mesh.Propagation.Serving;

/// <summary>
/// The configuration the benchmark serves: the seed scenario of <c>samples/manifests</c> (Service <c>demo/backend</c>
/// selecting WorkloadEntries by label, subsets v1 / v2, the canary route and the 80/20 split) with
/// <see cref="Count"/> WorkloadEntries instead of three, and the one-endpoint change each round makes.
/// </summary>
internal sealed class Workload
{
    public const string SourceId = "benchmark";
    public const string Namespace = "demo";
    public const string Target = "backend.demo.svc.cluster.local:8080";
    public const string Host = "backend.demo.svc.cluster.local";
    private const string Istio = "networking.istio.io/v1";

    private readonly string[] _addresses;
    private int _round;

    public Workload(int count)
    {
        Count = count;
        _addresses = [.. Enumerable.Range(0, count).Select(InitialAddress)];
    }

    public int Count { get; }

    /// <summary>Every object: the Service, the WorkloadEntries, the VirtualService and the DestinationRule.</summary>
    public IEnumerable<ConfigObject> Objects()
    {
        yield return Object("v1", "Service", "backend", """{"selector":{"app":"backend"},"ports":[{"name":"http","port":8080,"targetPort":"http"}]}""");
        for (var i = 0; i < Count; i++)
        {
            yield return Entry(i);
        }

        yield return Object(Istio, "VirtualService", "backend", """
            {"hosts":["backend"],"http":[
              {"name":"canary","match":[{"headers":{"x-canary":{"exact":"1"}}}],"route":[{"destination":{"host":"backend","subset":"v2"}}]},
              {"name":"split","route":[{"destination":{"host":"backend","subset":"v1"},"weight":80},{"destination":{"host":"backend","subset":"v2"},"weight":20}]}]}
            """);
        yield return Object(Istio, "DestinationRule", "backend", """
            {"host":"backend","trafficPolicy":{"loadBalancer":{"simple":"ROUND_ROBIN"}},"subsets":[
              {"name":"v1","labels":{"version":"v1"}},
              {"name":"v2","labels":{"version":"v2"},"trafficPolicy":{"loadBalancer":{"simple":"LEAST_REQUEST"}}}]}
            """);
    }

    /// <summary>
    /// The next round's change: one WorkloadEntry, a different one each round, gets an address never used before.
    /// Returns the entry to upsert and the address it had and has.
    /// </summary>
    public (ConfigObject Entry, string OldHost, string NewHost) NextChange()
    {
        var round = ++_round;
        var index = (int)((round * 389L) % Count);
        var old = _addresses[index];
        _addresses[index] = string.Create(CultureInfo.InvariantCulture, $"10.2.{round / 250}.{(round % 250) + 1}");
        return (Entry(index), old, _addresses[index]);
    }

    private static string InitialAddress(int i) => string.Create(CultureInfo.InvariantCulture, $"10.1.{i / 250}.{(i % 250) + 1}");

    private ConfigObject Entry(int i)
    {
        // One in five endpoints is v2, the rest v1: the subsets' clusters then hold 20 % and 80 % of the endpoints.
        var version = i % 5 == 0 ? "v2" : "v1";
        var spec = $$"""{"address":"{{_addresses[i]}}","ports":{"http":8080},"labels":{"app":"backend","version":"{{version}}"},"locality":"local/zone-a"}""";
        return Object(Istio, "WorkloadEntry", string.Create(CultureInfo.InvariantCulture, $"backend-{i:D4}"), spec);
    }

    private static ConfigObject Object(string apiVersion, string kind, string name, string spec)
    {
        var body = new JsonObject
        {
            ["apiVersion"] = apiVersion,
            ["kind"] = kind,
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = Namespace },
            ["spec"] = JsonNode.Parse(spec),
        };
        return new ConfigObject(apiVersion, kind, Namespace, name, JsonSerializer.SerializeToElement(body), $"benchmark, {kind} {name}");
    }
}
