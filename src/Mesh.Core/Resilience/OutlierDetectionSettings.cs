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
        SettingRules.NonNegative(o.Consecutive5xxErrors, $"{path}:Consecutive5xxErrors", errors);
        SettingRules.NonNegative(o.ConsecutiveGatewayErrors ?? 0, $"{path}:ConsecutiveGatewayErrors", errors);
        SettingRules.Positive(o.Interval, $"{path}:Interval", errors);
        SettingRules.Positive(o.BaseEjectionTime, $"{path}:BaseEjectionTime", errors);
        SettingRules.Positive(o.MaxEjectionTime, $"{path}:MaxEjectionTime", errors);
        SettingRules.Percent(o.MaxEjectionPercent, $"{path}:MaxEjectionPercent", errors);
        SettingRules.Percent(o.PanicThresholdPercent, $"{path}:PanicThresholdPercent", errors);
        SettingRules.Percent(o.EnforcingConsecutive5xx, $"{path}:EnforcingConsecutive5xx", errors);
        SettingRules.Percent(o.EnforcingConsecutiveGatewayErrors ?? 0, $"{path}:EnforcingConsecutiveGatewayErrors", errors);
        SettingRules.Percent(o.EnforcingSuccessRate, $"{path}:EnforcingSuccessRate", errors);
        SettingRules.Percent(o.EnforcingFailurePercentage, $"{path}:EnforcingFailurePercentage", errors);
        SettingRules.Percent(o.FailurePercentageThreshold, $"{path}:FailurePercentageThreshold", errors);
        SettingRules.NonNegative(o.SuccessRateMinimumHosts, $"{path}:SuccessRateMinimumHosts", errors);
        SettingRules.NonNegative(o.SuccessRateRequestVolume, $"{path}:SuccessRateRequestVolume", errors);
        SettingRules.NonNegative(o.FailurePercentageMinimumHosts, $"{path}:FailurePercentageMinimumHosts", errors);
        SettingRules.NonNegative(o.FailurePercentageRequestVolume, $"{path}:FailurePercentageRequestVolume", errors);
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
}
