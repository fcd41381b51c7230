using System.Text.Json.Nodes;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Security;
using Mesh.Xds.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using LeastRequestConfig = Envoy.Extensions.LoadBalancingPolicies.LeastRequest.V3.LeastRequest;
using RandomConfig = Envoy.Extensions.LoadBalancingPolicies.Random.V3.Random;
using RoundRobinConfig = Envoy.Extensions.LoadBalancingPolicies.RoundRobin.V3.RoundRobin;

namespace Mesh.ControlPlane.Hosting;

/// <summary>The admin endpoints: health, readiness, the current xDS snapshot with the warnings, and the connected clients.</summary>
internal static class AdminEndpoints
{
    // Every message of the xDS protos: a snapshot's Any fields may hold any of them (HTTP filters, TLS contexts, RBAC,
    // load-balancing policies), and one the registry lacked would fail the whole dump.
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithTypeRegistry(TypeRegistry.FromFiles(
        typeof(Envoy.Config.Listener.V3.Listener).Assembly.GetTypes()
            .Where(static t => t.IsAbstract && t.IsSealed && t.Name.EndsWith("Reflection", StringComparison.Ordinal))
            .Select(static t => t.GetProperty("Descriptor")?.GetValue(null))
            .OfType<Google.Protobuf.Reflection.FileDescriptor>()
            .ToArray())));

    public static void Map(WebApplication app, IConfigStore store, ControlPlaneHost host, XdsSnapshotCache cache, Func<IEnumerable<string>> sourceProblems)
    {
        app.MapGet("/healthz", static () => Results.Text("ok\n"));
        app.MapGet("/readyz", () => store.IsSynced && host.Status.Snapshot is not null
            ? Results.Text("ready\n")
            : Results.Text(store.IsSynced ? "no snapshot published yet\n" : "sources not synced yet\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/debug/config_dump", () => Results.Text(ConfigDump(host.Status, sourceProblems()).ToJsonString(), "application/json"));
        app.MapGet("/debug/clients", () => Results.Text(Clients(cache).ToJsonString(), "application/json"));
    }

    /// <summary>The CA's roots at <c>/ca/root-cert.pem</c>: public, so a workload can fetch them to bootstrap in development.</summary>
    public static void MapCertificateAuthority(WebApplication app, CertificateAuthority authority)
    {
        var pem = authority.RootsPem;
        app.MapGet("/ca/root-cert.pem", () => Results.Text(pem, "application/x-pem-file"));
    }

    internal static JsonObject ConfigDump(ControlPlaneStatus status, IEnumerable<string>? sourceProblems = null)
    {
        var resources = new JsonObject();
        if (status.Snapshot is { } snapshot)
        {
            foreach (var (typeUrl, set) in snapshot.ResourceSets.OrderBy(static s => s.Key, StringComparer.Ordinal))
            {
                var items = new JsonArray();
                foreach (var resource in set.Resources.Values.OrderBy(static r => r.Name, StringComparer.Ordinal))
                {
                    items.Add(JsonNode.Parse(Formatter.Format(resource.Resource)));
                }

                resources[typeUrl] = items;
            }
        }

        return new JsonObject
        {
            ["version"] = status.Snapshot?.Version,
            ["published"] = status.Published,
            ["errors"] = new JsonArray([.. status.Errors.Select(static e => (JsonNode?)e)]),
            ["warnings"] = new JsonArray([.. status.Warnings.Select(static w => (JsonNode?)w)]),
            ["sourceProblems"] = new JsonArray([.. (sourceProblems ?? []).Select(static p => (JsonNode?)p)]),
            ["resources"] = resources,
        };
    }

    private static JsonArray Clients(XdsSnapshotCache cache)
    {
        var result = new JsonArray();
        foreach (var client in cache.Clients)
        {
            var types = new JsonArray();
            foreach (var type in client.Types)
            {
                types.Add(JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(type)));
            }

            result.Add(new JsonObject
            {
                ["streamId"] = client.StreamId,
                ["protocol"] = client.Protocol.ToString(),
                ["nodeId"] = client.NodeId,
                ["cluster"] = client.Cluster,
                ["userAgent"] = client.UserAgent,
                ["peer"] = client.Peer,
                ["connectedAt"] = client.ConnectedAt,
                ["types"] = types,
            });
        }

        return result;
    }
}
