using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Client;
using Mesh.Xds.Resources;
using Mesh.Xds.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Xds.Tests.Client;

/// <summary>
/// A tiny CDS type for the client tests (so they do not depend on the real decoders): a state-of-the-world type
/// that rejects clusters whose name or <c>alt_stat_name</c> starts with "bad". <c>alt_stat_name</c> serves as the
/// payload that distinguishes versions of a cluster.
/// </summary>
internal sealed class TestClusterType : XdsResourceType
{
    public const string Url = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

    public static readonly TestClusterType Instance = new();

    public override string TypeUrl => Url;

    public override string Name => "Cluster";

    public override bool AllResourcesRequiredInSotW => true;

    public static Cluster Cluster(string name, string payload = "") => new() { Name = name, AltStatName = payload };

    public override XdsDecodeResult Decode(Any resource)
    {
        Cluster cluster;
        try
        {
            cluster = resource.Unpack<Cluster>();
        }
        catch (InvalidProtocolBufferException e)
        {
            return XdsDecodeResult.Invalid(null, e.Message);
        }

        if (cluster.Name.StartsWith("bad", StringComparison.Ordinal))
        {
            return XdsDecodeResult.Invalid(cluster.Name, "names starting with 'bad' are rejected by the test type");
        }

        if (cluster.AltStatName.StartsWith("bad", StringComparison.Ordinal))
        {
            return XdsDecodeResult.Invalid(cluster.Name, $"alt_stat_name '{cluster.AltStatName}' is rejected by the test type");
        }

        return XdsDecodeResult.Valid(cluster.Name, cluster);
    }
}

/// <summary>A tiny EDS type for the client tests: not state-of-the-world, accepts everything with a name.</summary>
internal sealed class TestEndpointsType : XdsResourceType
{
    public const string Url = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

    public static readonly TestEndpointsType Instance = new();

    public override string TypeUrl => Url;

    public override string Name => "ClusterLoadAssignment";

    public override bool AllResourcesRequiredInSotW => false;

    public static ClusterLoadAssignment Endpoints(string name) => new() { ClusterName = name };

    public override XdsDecodeResult Decode(Any resource)
    {
        try
        {
            var assignment = resource.Unpack<ClusterLoadAssignment>();
            return XdsDecodeResult.Valid(assignment.ClusterName, assignment);
        }
        catch (InvalidProtocolBufferException e)
        {
            return XdsDecodeResult.Invalid(null, e.Message);
        }
    }
}

internal static class TestXdsClients
{
    /// <summary>A client of <paramref name="server"/> handling the two test types.</summary>
    public static XdsClient Create(
        FakeAdsServer server,
        TimeProvider? time = null,
        XdsClientOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        params string[] serverFeatures) =>
        new(
            XdsBootstrap.Parse(server.BootstrapJson(serverFeatures), "test bootstrap"),
            [TestClusterType.Instance, TestEndpointsType.Instance],
            time ?? TimeProvider.System,
            loggerFactory ?? NullLoggerFactory.Instance,
            options);

    public static XdsClientResourceStatus StatusOf(this XdsClient client, string name, string typeUrl = TestClusterType.Url) =>
        client.GetStatus().Resources.Single(r => r.TypeUrl == typeUrl && r.Name == name);
}
