using Mesh.Configuration;

namespace Mesh.Resilience;

/// <summary>Validated outlier-detection settings of a service (Envoy semantics).</summary>
internal sealed record OutlierDetectionSettings(
    int Consecutive5xx,
    int ConsecutiveGatewayErrors,
    TimeSpan Interval,
    TimeSpan BaseEjectionTime,
    TimeSpan MaxEjectionTime,
    int MaxEjectionPercent,
    int PanicThresholdPercent,
    int EnforcingConsecutive5xx,
    int EnforcingConsecutiveGatewayErrors,
    int EnforcingSuccessRate,
    int SuccessRateMinimumHosts,
    int SuccessRateRequestVolume,
    double SuccessRateStdevFactor,
    int EnforcingFailurePercentage,
    int FailurePercentageThreshold,
    int FailurePercentageMinimumHosts,
    int FailurePercentageRequestVolume)
{
    /// <summary>Validates <paramref name="o"/>, adding every problem to <paramref name="errors"/>.</summary>
    public static OutlierDetectionSettings? Create(OutlierDetectionOptions? o, string path, List<string> errors)
    {
        if (o is null)
        {
            return null;
        }

        var count = errors.Count;
        NonNegative(o.Consecutive5xxErrors, $"{path}:Consecutive5xxErrors", errors);
        NonNegative(o.ConsecutiveGatewayErrors ?? 0, $"{path}:ConsecutiveGatewayErrors", errors);
        Positive(o.Interval, $"{path}:Interval", errors);
        Positive(o.BaseEjectionTime, $"{path}:BaseEjectionTime", errors);
        Positive(o.MaxEjectionTime, $"{path}:MaxEjectionTime", errors);
        Percent(o.MaxEjectionPercent, $"{path}:MaxEjectionPercent", errors);
        Percent(o.PanicThresholdPercent, $"{path}:PanicThresholdPercent", errors);
        Percent(o.EnforcingConsecutive5xx, $"{path}:EnforcingConsecutive5xx", errors);
        Percent(o.EnforcingConsecutiveGatewayErrors ?? 0, $"{path}:EnforcingConsecutiveGatewayErrors", errors);
        Percent(o.EnforcingSuccessRate, $"{path}:EnforcingSuccessRate", errors);
        Percent(o.EnforcingFailurePercentage, $"{path}:EnforcingFailurePercentage", errors);
        Percent(o.FailurePercentageThreshold, $"{path}:FailurePercentageThreshold", errors);
        NonNegative(o.SuccessRateMinimumHosts, $"{path}:SuccessRateMinimumHosts", errors);
        NonNegative(o.SuccessRateRequestVolume, $"{path}:SuccessRateRequestVolume", errors);
        NonNegative(o.FailurePercentageMinimumHosts, $"{path}:FailurePercentageMinimumHosts", errors);
        NonNegative(o.FailurePercentageRequestVolume, $"{path}:FailurePercentageRequestVolume", errors);
        if (o.SuccessRateStdevFactor <= 0 || double.IsNaN(o.SuccessRateStdevFactor))
        {
            errors.Add($"{path}:SuccessRateStdevFactor = {o.SuccessRateStdevFactor.ToString(System.Globalization.CultureInfo.InvariantCulture)}: must be > 0 (Envoy's default is 1.9)");
        }

        if (errors.Count != count)
        {
            return null;
        }

        return new OutlierDetectionSettings(
            o.Consecutive5xxErrors,
            o.ConsecutiveGatewayErrors ?? 5,
            o.Interval,
            o.BaseEjectionTime,
            o.MaxEjectionTime < o.BaseEjectionTime ? o.BaseEjectionTime : o.MaxEjectionTime,
            o.MaxEjectionPercent,
            o.PanicThresholdPercent,
            o.EnforcingConsecutive5xx,
            o.EnforcingConsecutiveGatewayErrors ?? (o.ConsecutiveGatewayErrors is null ? 0 : 100),
            o.EnforcingSuccessRate,
            o.SuccessRateMinimumHosts,
            o.SuccessRateRequestVolume,
            o.SuccessRateStdevFactor,
            o.EnforcingFailurePercentage,
            o.FailurePercentageThreshold,
            o.FailurePercentageMinimumHosts,
            o.FailurePercentageRequestVolume);
    }

    internal static void NonNegative(int value, string path, List<string> errors)
    {
        if (value < 0)
        {
            errors.Add($"{path} = {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}: must be >= 0");
        }
    }

    internal static void Percent(int value, string path, List<string> errors)
    {
        if (value is < 0 or > 100)
        {
            errors.Add($"{path} = {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}: must be a percentage from 0 to 100");
        }
    }

    internal static void Positive(TimeSpan value, string path, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{path} = {value.ToString("c", System.Globalization.CultureInfo.InvariantCulture)}: must be a positive duration, e.g. 00:00:10");
        }
    }
}
