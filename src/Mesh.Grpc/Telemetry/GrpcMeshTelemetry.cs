using System.Diagnostics;
using System.Diagnostics.Metrics;
using Google.Protobuf;
using Grpc.Core;
using Mesh.Model;
using Mesh.Telemetry;

namespace Mesh.Grpc.Telemetry;

/// <summary>
/// Mesh.Grpc's instruments on the <c>Mesh.Grpc</c> meter, named as gRPC's OpenTelemetry metrics (gRFC A66):
/// <c>grpc.client.call.duration</c>, <c>grpc.client.attempt.started</c>, <c>grpc.client.attempt.duration</c>,
/// tagged with <c>grpc.method</c>, <c>grpc.target</c>, <c>grpc.status</c> and (calls) the mesh's service, route and cluster. Retries,
/// overflows (drops), faults and ejections are counted by the <c>Mesh</c> meter, as for HTTP.
/// </summary>
public sealed class GrpcMeshTelemetry
{
    /// <summary>The meter's name.</summary>
    public const string Name = "Mesh.Grpc";

    private static readonly string[] StatusNames = Enum.GetValues<StatusCode>().OrderBy(c => (int)c).Select(StatusName).ToArray();

    // Istio tags grpc_response_status with the numeric code, as text.
    private static readonly string[] StatusNumbers = Enumerable.Range(0, 17).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    private readonly IstioMetrics? _istio;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _targetHosts = new(StringComparer.Ordinal);

    internal GrpcMeshTelemetry(IMeterFactory meterFactory, IstioMetrics? istio = null)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _istio = istio;
        Meter = meterFactory.Create(Name);
        double[] buckets = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
        CallDuration = Meter.CreateHistogram("grpc.client.call.duration", "s", "Duration of gRPC calls through the mesh, from the application's view, across every attempt.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });
        AttemptsStarted = Meter.CreateCounter<long>("grpc.client.attempt.started", "{attempt}", "Attempts of gRPC calls started, including retries and hedges.");
        AttemptDuration = Meter.CreateHistogram("grpc.client.attempt.duration", "s", "Duration of each attempt of a gRPC call.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });
    }

    /// <summary>The meter.</summary>
    public Meter Meter { get; }

    internal Histogram<double> CallDuration { get; }

    internal Counter<long> AttemptsStarted { get; }

    internal Histogram<double> AttemptDuration { get; }

    // The host the caller addressed: xds:///greeter.shop:50051 -> greeter.shop.
    private static string TargetHost(string target)
    {
        var scheme = target.IndexOf("://", StringComparison.Ordinal);
        var authority = scheme < 0 ? target : target[(scheme + 3)..].TrimStart('/');
        var port = authority.LastIndexOf(':');
        return port < 0 ? authority : authority[..port];
    }

    /// <summary>The status as gRFC A66 tags it, e.g. <c>UNAVAILABLE</c>.</summary>
    internal static string StatusTag(StatusCode code) => (int)code is >= 0 and <= 16 ? StatusNames[(int)code] : code.ToString();

    /// <summary>Whether Istio's metrics are registered and listened to (then calls are sized and streams count their messages).</summary>
    internal bool IstioEnabled => _istio is { IsEnabled: true };

    /// <summary>
    /// The call's headers with Istio's metadata exchange added (a copy: the caller's may be shared), or the same when
    /// Istio's metrics are off or the caller sent its own.
    /// </summary>
    internal Metadata? WithPeerMetadata(Metadata? headers)
    {
        if (_istio is not { SendsPeerMetadata: true } || headers?.Get(IstioPeerMetadata.Header) is not null)
        {
            return headers;
        }

        var copy = new Metadata();
        foreach (var entry in headers ?? [])
        {
            copy.Add(entry);
        }

        copy.Add(IstioPeerMetadata.IdHeader, _istio.PeerMetadataId);
        copy.Add(IstioPeerMetadata.Header, _istio.PeerMetadata);
        return copy;
    }

    /// <summary>
    /// The body bytes a message takes on the wire as gRPC frames it (a 5-byte prefix and the protobuf encoding,
    /// uncompressed), or -1 for a message that is not protobuf's.
    /// </summary>
    internal static long MessageBytes(object? message) => message is IMessage protobuf ? 5L + protobuf.CalculateSize() : -1;

    /// <summary>
    /// A unary call: Istio's sizes are its request and response messages (<paramref name="response"/> null when none
    /// arrived); <paramref name="responseHeaders"/>, when they arrived, may name the destination workload (Istio's metadata exchange).
    /// </summary>
    internal void RecordCall(string method, string target, string service, string route, string cluster, StatusCode status, TimeSpan elapsed, EndpointModel? endpoint, object? request, object? response, Task<Metadata>? responseHeaders)
    {
        if (_istio is not { IsEnabled: true })
        {
            RecordCall(method, target, service, route, cluster, status, elapsed, endpoint, IstioSizes.None);
            return;
        }

        var answered = responseHeaders is { IsCompletedSuccessfully: true } && responseHeaders.Result.GetValue(IstioPeerMetadata.Header) is { } exchanged
            ? _istio.AnsweredWorkload(exchanged)
            : null;
        RecordCall(method, target, service, route, cluster, status, elapsed, endpoint, new IstioSizes(MessageBytes(request), response is null ? 0 : MessageBytes(response)), answered);
    }

    /// <summary>A call (unary or stream) with Istio's sizes as counted.</summary>
    internal void RecordCall(string method, string target, string service, string route, string cluster, StatusCode status, TimeSpan elapsed, EndpointModel? endpoint, in IstioSizes sizes, EndpointWorkload? answered = null)
    {
        if (_istio is not null)
        {
            RecordIstio(target, endpoint, status, elapsed, sizes, answered);
        }

        if (!CallDuration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "grpc.method", method },
            { "grpc.target", target },
            { "grpc.status", StatusTag(status) },
            { MeshTelemetry.Tags.Service, service },
            { MeshTelemetry.Tags.Route, route },
            { MeshTelemetry.Tags.Cluster, cluster },
        };
        CallDuration.Record(elapsed.TotalSeconds, tags);
    }

    /// <summary>Istio's metrics of a call or stream: the answering endpoint (null when none answered) and the sizes.</summary>
    private void RecordIstio(string target, EndpointModel? endpoint, StatusCode status, TimeSpan elapsed, in IstioSizes sizes, EndpointWorkload? answered)
    {
        var host = _targetHosts.TryGetValue(target, out var cached) ? cached : _targetHosts.GetOrAdd(target, TargetHost);
        var code = (int)status is >= 0 and <= 16 ? StatusNumbers[(int)status] : ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);

        // Istio's sidecar reports gRPC calls with the HTTP/2 status, 200 whenever a response arrived.
        _istio!.Record(host, "grpc", endpoint, 200, code, "-", elapsed, sizes, answered: answered);
    }

    internal void RecordAttemptStarted(string method, string target)
    {
        if (AttemptsStarted.Enabled)
        {
            AttemptsStarted.Add(1, new KeyValuePair<string, object?>("grpc.method", method), new KeyValuePair<string, object?>("grpc.target", target));
        }
    }

    internal void RecordAttempt(string method, string target, StatusCode status, TimeSpan elapsed)
    {
        if (!AttemptDuration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "grpc.method", method },
            { "grpc.target", target },
            { "grpc.status", StatusTag(status) },
        };
        AttemptDuration.Record(elapsed.TotalSeconds, tags);
    }

    private static string StatusName(StatusCode code) => code switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        _ => "UNAUTHENTICATED",
    };
}
