using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Envoy.Type.V3;
using Duration = Google.Protobuf.WellKnownTypes.Duration;

namespace Mesh.Xds.Resources;

/// <summary>The message types the decoders recognise inside <see cref="Any"/> fields, by full protobuf name.</summary>
internal static class XdsTypeUrls
{
    public const string HttpConnectionManager = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
    public const string Router = "envoy.extensions.filters.http.router.v3.Router";
    public const string Fault = "envoy.extensions.filters.http.fault.v3.HTTPFault";
    public const string Rbac = "envoy.extensions.filters.http.rbac.v3.RBAC";
    public const string RbacPerRoute = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
    public const string FilterConfig = "envoy.config.route.v3.FilterConfig";
    public const string UdpaTypedStruct = "udpa.type.v1.TypedStruct";
    public const string XdsTypedStruct = "xds.type.v3.TypedStruct";
    public const string RawBuffer = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
    public const string RoundRobin = "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin";
    public const string LeastRequest = "envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest";
    public const string RingHash = "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash";
    public const string Maglev = "envoy.extensions.load_balancing_policies.maglev.v3.Maglev";
    public const string Random = "envoy.extensions.load_balancing_policies.random.v3.Random";
    public const string WrrLocality = "envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality";
    public const string ClientSideWeightedRoundRobin = "envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin";

    /// <summary>The message type of a type URL: what follows the last '/' (any host prefix is accepted, as protobuf does).</summary>
    public static string MessageType(string? typeUrl)
    {
        if (string.IsNullOrEmpty(typeUrl))
        {
            return string.Empty;
        }

        var slash = typeUrl.LastIndexOf('/');
        return slash < 0 ? typeUrl : typeUrl[(slash + 1)..];
    }
}

/// <summary>Validation and formatting shared by the decoders, so every message reads the same.</summary>
internal static class XdsFields
{
    /// <summary>The largest <c>google.protobuf.Duration</c> seconds (10,000 years).</summary>
    private const long MaxDurationSeconds = 315_576_000_000;

    /// <summary>
    /// A <c>google.protobuf.Duration</c> that must be valid and not negative; <see langword="null"/> when unset or invalid
    /// (the problem is added to <paramref name="errors"/>).
    /// </summary>
    public static TimeSpan? Duration(Duration? value, string path, List<string> errors)
    {
        if (value is null)
        {
            return null;
        }

        var seconds = value.Seconds;
        var nanos = value.Nanos;
        if (seconds is < -MaxDurationSeconds or > MaxDurationSeconds || nanos is < -999_999_999 or > 999_999_999 || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0))
        {
            errors.Add($"{path} = {Format(value)}: is not a valid google.protobuf.Duration (seconds within ±{MaxDurationSeconds.ToString(CultureInfo.InvariantCulture)}, nanos within ±999999999 and of the same sign)");
            return null;
        }

        if (seconds < 0 || nanos < 0)
        {
            errors.Add($"{path} = {Format(value)}: must not be negative");
            return null;
        }

        return TimeSpan.FromTicks((seconds * TimeSpan.TicksPerSecond) + (nanos / 100));
    }

    /// <summary>A duration as protobuf JSON writes it, e.g. <c>1.5s</c>.</summary>
    public static string Format(Duration value)
    {
        if (value.Nanos is < -999_999_999 or > 999_999_999 || (value.Seconds > 0 && value.Nanos < 0) || (value.Seconds < 0 && value.Nanos > 0))
        {
            return string.Create(CultureInfo.InvariantCulture, $"{{ seconds: {value.Seconds}, nanos: {value.Nanos} }}");
        }

        if (value.Nanos == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{value.Seconds}s");
        }

        var fraction = Math.Abs(value.Nanos).ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0');
        var sign = value.Seconds == 0 && value.Nanos < 0 ? "-" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{value.Seconds}.{fraction}s");
    }

    /// <summary>A duration for messages, e.g. <c>0.25s</c>.</summary>
    public static string Format(TimeSpan value) => string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds}s");

    /// <summary>
    /// A <c>FractionalPercent</c> as a percentage from 0 to 100; a numerator above its denominator counts as 100 %, as
    /// in Envoy. An unknown denominator is an error.
    /// </summary>
    public static double? Percentage(FractionalPercent? value, string path, List<string> errors)
    {
        if (value is null)
        {
            return null;
        }

        double denominator = value.Denominator switch
        {
            FractionalPercent.Types.DenominatorType.Hundred => 100,
            FractionalPercent.Types.DenominatorType.TenThousand => 10_000,
            FractionalPercent.Types.DenominatorType.Million => 1_000_000,
            _ => 0,
        };
        if (denominator == 0)
        {
            errors.Add($"{path}.denominator = {((int)value.Denominator).ToString(CultureInfo.InvariantCulture)}: must be HUNDRED, TEN_THOUSAND or MILLION");
            return null;
        }

        return Math.Min(value.Numerator, denominator) * 100 / denominator;
    }

    /// <summary>A <c>uint32</c> count for a model field that is an <see cref="int"/>: values above <see cref="int.MaxValue"/> mean "no limit" in practice.</summary>
    public static int Clamp(uint value) => value > int.MaxValue ? int.MaxValue : (int)value;

    /// <summary>A <c>uint64</c> count as an <see cref="int"/>, saturating.</summary>
    public static int Clamp(ulong value) => value > int.MaxValue ? int.MaxValue : (int)value;

    /// <summary>A string value for an error message: quoted, shortened and with control characters escaped.</summary>
    public static string Quote(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }

        const int Max = 120;
        var shown = value.Length > Max ? value[..Max] + "…" : value;
        var builder = new System.Text.StringBuilder(shown.Length + 2);
        builder.Append('\'');
        foreach (var c in shown)
        {
            if (char.IsControl(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.Append('\'').ToString();
    }

    /// <summary>
    /// Parses an embedded message; a malformed one adds "<paramref name="path"/>: is not a valid T message (reason)" to
    /// <paramref name="errors"/>. Google.Protobuf reports malformed input as <see cref="InvalidProtocolBufferException"/>
    /// and, for a few truncations, as <see cref="InvalidOperationException"/>.
    /// </summary>
    public static bool TryParse<T>(MessageParser<T> parser, ByteString bytes, string path, List<string> errors, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? message)
        where T : IMessage<T>
    {
        try
        {
            message = parser.ParseFrom(bytes);
            return true;
        }
        catch (Exception e) when (IsParseFailure(e))
        {
            errors.Add($"{path}: is not a valid {MessageName(parser)} message ({e.Message})");
            message = default;
            return false;
        }
    }

    /// <summary>Whether an exception thrown while parsing means the bytes are malformed.</summary>
    public static bool IsParseFailure(Exception e) => e is InvalidProtocolBufferException or InvalidOperationException;

    private static string MessageName<T>(MessageParser<T> parser)
        where T : IMessage<T> => parser.ParseFrom(ByteString.Empty).Descriptor.FullName;

    /// <summary>A number for messages.</summary>
    public static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A number for messages.</summary>
    public static string Format(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A number for messages.</summary>
    public static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
