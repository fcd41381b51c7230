using System.Text.Json;
using System.Text.Json.Nodes;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Configuration.Manifests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.ControlPlane.Tests.Infrastructure;

/// <summary>Config objects for translation tests: built from JSON, or read from <c>samples/manifests</c> by the manifest source.</summary>
internal static class TranslationTestObjects
{
    public const string Istio = "networking.istio.io/v1";

    /// <summary>An object whose body is <paramref name="spec"/> (JSON) under <c>spec</c>, with apiVersion, kind and metadata filled in.</summary>
    public static ConfigObject Object(string apiVersion, string kind, string ns, string name, string spec, string? labels = null)
    {
        var body = new JsonObject
        {
            ["apiVersion"] = apiVersion,
            ["kind"] = kind,
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["labels"] = labels is null ? null : JsonNode.Parse(labels) },
            ["spec"] = JsonNode.Parse(spec),
        };
        return new ConfigObject(apiVersion, kind, ns, name, JsonSerializer.SerializeToElement(body), $"test.yaml, {kind} {name}");
    }

    /// <summary>An object of a kind without <c>spec</c> (EndpointSlice): the whole body is <paramref name="body"/>.</summary>
    public static ConfigObject Whole(string apiVersion, string kind, string ns, string name, string body)
    {
        using var document = JsonDocument.Parse(body);
        return new ConfigObject(apiVersion, kind, ns, name, document.RootElement.Clone(), $"test.yaml, {kind} {name}");
    }

    /// <summary>The repository's <c>samples/manifests</c> directory.</summary>
    public static string SampleManifestsDirectory
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                var candidate = Path.Combine(directory.FullName, "samples", "manifests");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new DirectoryNotFoundException("samples/manifests not found above the test's base directory");
        }
    }

    /// <summary>Reads <c>samples/manifests</c> as the control plane does (the manifest source into a store).</summary>
    public static async Task<IReadOnlyList<ConfigObject>> LoadSampleManifestsAsync()
    {
        var store = new ConfigStore();
        using var source = new ManifestSource(SampleManifestsDirectory, store, NullLogger<ManifestSource>.Instance) { WatchFileSystem = false };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await source.StartAsync(timeout.Token);
        await source.StopAsync(timeout.Token);
        Assert.That(source.Problems, Is.Empty, "samples/manifests should read without problems");
        return store.Snapshot();
    }

    /// <summary>The seed scenario as objects (the same as samples/manifests), with backends on the given ports.</summary>
    public static List<ConfigObject> Seed(int v1a = 5101, int v1b = 5102, int v2 = 5103) =>
    [
        Object("v1", "Service", "demo", "backend", """{"selector":{"app":"backend"},"ports":[{"name":"http","port":8080,"targetPort":"http"}]}"""),
        Entry("backend-v1-a", v1a, "v1"),
        Entry("backend-v1-b", v1b, "v1"),
        Entry("backend-v2", v2, "v2"),
        Object(Istio, "VirtualService", "demo", "backend", """
            {"hosts":["backend"],"http":[
              {"name":"canary","match":[{"headers":{"x-canary":{"exact":"1"}}}],"route":[{"destination":{"host":"backend","subset":"v2"}}]},
              {"name":"split","route":[{"destination":{"host":"backend","subset":"v1"},"weight":80},{"destination":{"host":"backend","subset":"v2"},"weight":20}]}]}
            """),
        Object(Istio, "DestinationRule", "demo", "backend", """
            {"host":"backend","trafficPolicy":{"loadBalancer":{"simple":"ROUND_ROBIN"}},"subsets":[
              {"name":"v1","labels":{"version":"v1"}},
              {"name":"v2","labels":{"version":"v2"},"trafficPolicy":{"loadBalancer":{"simple":"LEAST_REQUEST"}}}]}
            """),
    ];

    private static ConfigObject Entry(string name, int port, string version) =>
        Object(Istio, "WorkloadEntry", "demo", name, $$"""{"address":"127.0.0.1","ports":{"http":{{port}}},"labels":{"app":"backend","version":"{{version}}"},"locality":"local/zone-a"}""");
}
