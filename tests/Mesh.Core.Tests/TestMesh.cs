using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;

namespace Mesh.Core.Tests;

/// <summary>Builds snapshots through the real <see cref="MeshSnapshotBuilder"/> with every built-in policy.</summary>
internal static class TestMesh
{
    public static LoadBalancingPolicy[] Policies() =>
    [
        new RoundRobinPolicy(),
        new RandomPolicy(),
        new WeightedRoundRobinPolicy(),
        new WeightedRandomPolicy(),
        new LeastRequestPolicy(),
        new RingHashPolicy(),
        new MaglevPolicy(),
    ];

    public static MeshBuildResult Build(MeshOptions options, Random? random = null, IReadOnlyDictionary<string, EndpointState>? previous = null) =>
        new MeshSnapshotBuilder(Policies(), random ?? new Random(42)).Build(options, "test", 1, previous ?? new Dictionary<string, EndpointState>());

    /// <summary>Builds and requires success; the failure message lists the errors.</summary>
    public static MeshSnapshot BuildValid(MeshOptions options, Random? random = null)
    {
        var result = Build(options, random);
        Assert.That(result.Errors, Is.Empty, "the options should be valid");
        return result.Snapshot!;
    }

    /// <summary>Builds and returns the errors; the build must fail.</summary>
    public static IReadOnlyList<string> Errors(MeshOptions options)
    {
        var result = Build(options);
        Assert.That(result.Snapshot, Is.Null, "the options should be rejected");
        return result.Errors;
    }

    /// <summary>One service with <paramref name="count"/> endpoints http://127.0.0.1:5001.. (labels version=v1 for odd, v2 for even ports).</summary>
    public static MeshOptions Service(string name = "backend", int count = 2, Action<ServiceOptions>? configure = null)
    {
        var service = new ServiceOptions();
        for (var i = 1; i <= count; i++)
        {
            service.Endpoints.Add(new EndpointOptions
            {
                Address = $"http://127.0.0.1:{5000 + i}",
                Labels = { ["version"] = i % 2 == 1 ? "v1" : "v2" },
            });
        }

        configure?.Invoke(service);
        var options = new MeshOptions();
        options.Services[name] = service;
        return options;
    }
}
