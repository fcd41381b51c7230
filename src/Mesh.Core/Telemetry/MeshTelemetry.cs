using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mesh.Telemetry;

/// <summary>
/// Mesh's instruments: the <c>Mesh</c> <see cref="Meter"/> (created through <see cref="IMeterFactory"/>)
/// and the <c>Mesh</c> <see cref="System.Diagnostics.ActivitySource"/>. Names follow OpenTelemetry's HTTP
/// semantic conventions where they exist, with <c>mesh.*</c> attributes for the mesh's own concepts.
/// </summary>
public sealed class MeshTelemetry
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "Mesh";

    private static readonly object[] StatusCodes = CreateStatusCodes();

    internal MeshTelemetry(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(Name);
        RequestDuration = Meter.CreateHistogram(
            "mesh.client.request.duration",
            unit: "s",
            description: "Duration of requests sent through the mesh, from route selection to response headers.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });
        Requests = Meter.CreateCounter<long>("mesh.client.requests", unit: "{request}", description: "Requests sent through the mesh.");
        ConfigUpdates = Meter.CreateCounter<long>("mesh.config.updates", unit: "{update}", description: "Configuration updates, accepted or rejected.");
        Retries = Meter.CreateCounter<long>("mesh.client.retries", unit: "{retry}", description: "Retries sent (attempts after the first).");
        Hedges = Meter.CreateCounter<long>("mesh.client.hedges", unit: "{hedge}", description: "Hedged attempts sent.");
        Overflows = Meter.CreateCounter<long>("mesh.client.overflows", unit: "{request}", description: "Requests or retries refused by a cluster's circuit-breaking thresholds or retry budget.");
        RateLimited = Meter.CreateCounter<long>("mesh.client.rate_limited", unit: "{request}", description: "Requests refused by a local rate limit.");
        Faults = Meter.CreateCounter<long>("mesh.client.faults", unit: "{fault}", description: "Injected faults (delays and aborts).");
        Timeouts = Meter.CreateCounter<long>("mesh.client.timeouts", unit: "{timeout}", description: "Attempts or requests that timed out.");
        OutlierEjections = Meter.CreateCounter<long>("mesh.outlier.ejections", unit: "{ejection}", description: "Endpoints ejected by outlier detection.");
        OutlierReturns = Meter.CreateCounter<long>("mesh.outlier.returns", unit: "{endpoint}", description: "Ejected endpoints returned to service.");
        BreakerTransitions = Meter.CreateCounter<long>("mesh.circuit_breaker.transitions", unit: "{transition}", description: "Cluster circuit breaker state changes.");
    }

    /// <summary>The mesh's activity source; spans are created only when something listens.</summary>
    public static ActivitySource ActivitySource { get; } = new(Name);

    /// <summary>The mesh's meter.</summary>
    public Meter Meter { get; }

    internal Histogram<double> RequestDuration { get; }

    internal Counter<long> Requests { get; }

    internal Counter<long> ConfigUpdates { get; }

    internal Counter<long> Retries { get; }

    internal Counter<long> Hedges { get; }

    internal Counter<long> Overflows { get; }

    internal Counter<long> RateLimited { get; }

    internal Counter<long> Faults { get; }

    internal Counter<long> Timeouts { get; }

    internal Counter<long> OutlierEjections { get; }

    internal Counter<long> OutlierReturns { get; }

    internal Counter<long> BreakerTransitions { get; }

    /// <summary>Adds an event to the current span, if one is recorded (retries, hedges, refusals, faults, ejections).</summary>
    internal static void AddEvent(string name, string? key = null, object? value = null, string? key2 = null, object? value2 = null)
    {
        var activity = Activity.Current;
        if (activity is null || !activity.IsAllDataRequested)
        {
            return;
        }

        var tags = new ActivityTagsCollection();
        if (key is not null)
        {
            tags.Add(key, value);
        }

        if (key2 is not null)
        {
            tags.Add(key2, value2);
        }

        activity.AddEvent(new ActivityEvent(name, tags: tags));
    }

    /// <summary>A boxed status code, cached so tagging a measurement does not allocate.</summary>
    internal static object StatusCode(int code) => (uint)code < (uint)StatusCodes.Length ? StatusCodes[code] : code;

    private static object[] CreateStatusCodes()
    {
        var codes = new object[600];
        for (var i = 0; i < codes.Length; i++)
        {
            codes[i] = i;
        }

        return codes;
    }

    /// <summary>Attribute names.</summary>
    public static class Tags
    {
        /// <summary>The logical service (host) the request addressed.</summary>
        public const string Service = "mesh.service";

        /// <summary>The route that matched.</summary>
        public const string Route = "mesh.route";

        /// <summary>The destination cluster.</summary>
        public const string Cluster = "mesh.cluster";

        /// <summary>The endpoint's host (opt-in on metrics).</summary>
        public const string ServerAddress = "server.address";

        /// <summary>The endpoint's port (opt-in on metrics).</summary>
        public const string ServerPort = "server.port";

        /// <summary>The response status code.</summary>
        public const string StatusCode = "http.response.status_code";

        /// <summary>The request method.</summary>
        public const string Method = "http.request.method";

        /// <summary>The kind of failure, when the request failed.</summary>
        public const string ErrorType = "error.type";

        /// <summary>Why an endpoint was ejected: consecutive_5xx, consecutive_gateway_errors, success_rate, failure_percentage.</summary>
        public const string EjectionReason = "mesh.outlier.reason";

        /// <summary>Which limit refused a request: max_requests, max_pending_requests, max_retries, retry_budget.</summary>
        public const string OverflowKind = "mesh.overflow.kind";

        /// <summary>Which breaker changed state: error_rate or slow_call.</summary>
        public const string Breaker = "mesh.circuit_breaker.kind";

        /// <summary>The breaker's new state: open, half_open, closed.</summary>
        public const string BreakerState = "mesh.circuit_breaker.state";

        /// <summary>The fault injected: delay or abort.</summary>
        public const string FaultKind = "mesh.fault.kind";

        /// <summary>Which timeout expired: per_try or total.</summary>
        public const string TimeoutKind = "mesh.timeout.kind";

        /// <summary>accepted or rejected.</summary>
        public const string ConfigResult = "mesh.config.result";
    }
}
