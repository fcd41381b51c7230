using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Mesh.Telemetry;

/// <summary>
/// Istio's HTTP metadata exchange: a workload tells its peer who it is in the <c>x-envoy-peer-metadata</c> header, the
/// base64 of a <c>google.protobuf.Struct</c> with the fields Istio's proxy reads (<c>NAME</c>, <c>NAMESPACE</c>,
/// <c>WORKLOAD_NAME</c>, <c>CLUSTER_ID</c>, <c>OWNER</c>, <c>LABELS</c> with <c>app</c>, <c>version</c> and the
/// canonical service labels), and names its node in <c>x-envoy-peer-metadata-id</c>. Mesh clients send it with
/// Istio's metrics on, so the server (a Mesh server, or an Istio sidecar) can label its reports with the caller's workload.
/// </summary>
internal static class IstioPeerMetadata
{
    /// <summary>The header with the encoded metadata.</summary>
    public const string Header = "x-envoy-peer-metadata";

    /// <summary>The header with the node's id.</summary>
    public const string IdHeader = "x-envoy-peer-metadata-id";

    private const string CanonicalName = "service.istio.io/canonical-name";
    private const string CanonicalRevision = "service.istio.io/canonical-revision";

    /// <summary>This workload's metadata, encoded once: what <paramref name="options"/> know, unknown parts left out.</summary>
    public static (string Id, string Value) Encode(IstioMetricsOptions options, string canonicalService, string canonicalRevision)
    {
        var metadata = new Struct();
        var labels = new Struct();
        Add(metadata, "NAMESPACE", options.SourceWorkloadNamespace);
        Add(metadata, "WORKLOAD_NAME", options.SourceWorkload);
        Add(metadata, "CLUSTER_ID", options.SourceCluster);
        if (options.SourceWorkloadNamespace is not IstioMetrics.Unknown && options.SourceWorkload is not IstioMetrics.Unknown)
        {
            Add(metadata, "OWNER", $"kubernetes://apis/apps/v1/namespaces/{options.SourceWorkloadNamespace}/deployments/{options.SourceWorkload}");
        }

        Add(labels, "app", options.SourceApp);
        Add(labels, "version", options.SourceVersion);
        Add(labels, CanonicalName, canonicalService);
        Add(labels, CanonicalRevision, canonicalRevision);
        metadata.Fields["LABELS"] = Value.ForStruct(labels);
        var id = $"sidecar~~{options.SourceWorkload}.{options.SourceWorkloadNamespace}~{options.SourceWorkloadNamespace}.svc.cluster.local";
        return (id, Convert.ToBase64String(metadata.ToByteArray()));

        static void Add(Struct target, string name, string value)
        {
            if (value is not IstioMetrics.Unknown && value.Length > 0)
            {
                target.Fields[name] = Value.ForString(value);
            }
        }
    }

    /// <summary>The caller's workload from a header value, or <see langword="null"/> when it is not valid metadata (then nothing is trusted from it).</summary>
    public static IstioPeer? Decode(string value)
    {
        Struct metadata;
        try
        {
            metadata = Struct.Parser.ParseFrom(Convert.FromBase64String(value));
        }
        catch (Exception e) when (e is FormatException or InvalidProtocolBufferException)
        {
            return null;
        }

        var labels = metadata.Fields.TryGetValue("LABELS", out var l) && l.KindCase == Value.KindOneofCase.StructValue ? l.StructValue : null;
        return new IstioPeer(
            Text(metadata, "WORKLOAD_NAME"),
            Text(metadata, "NAMESPACE"),
            labels is null ? null : Text(labels, "app"),
            labels is null ? null : Text(labels, "version"),
            labels is null ? null : Text(labels, CanonicalName),
            labels is null ? null : Text(labels, CanonicalRevision),
            Text(metadata, "CLUSTER_ID"));

        static string? Text(Struct from, string name) =>
            from.Fields.TryGetValue(name, out var field) && field.KindCase == Value.KindOneofCase.StringValue && field.StringValue.Length > 0 ? field.StringValue : null;
    }
}

/// <summary>What a peer said about itself in Istio's metadata exchange; a missing part is <see langword="null"/>.</summary>
internal sealed record IstioPeer(string? Workload, string? Namespace, string? App, string? Version, string? CanonicalService, string? CanonicalRevision, string? Cluster);
