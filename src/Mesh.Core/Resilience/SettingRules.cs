using System.Globalization;

namespace Mesh.Resilience;

/// <summary>The validation rules and value formatting that the resilience settings share, so every message reads the same.</summary>
internal static class SettingRules
{
    public static void NonNegative(int value, string path, List<string> errors)
    {
        if (value < 0)
        {
            errors.Add($"{path} = {value.ToString(CultureInfo.InvariantCulture)}: must be >= 0");
        }
    }

    public static void Percent(int value, string path, List<string> errors)
    {
        if (value is < 0 or > 100)
        {
            errors.Add($"{path} = {value.ToString(CultureInfo.InvariantCulture)}: must be a percentage from 0 to 100");
        }
    }

    public static void Positive(TimeSpan value, string path, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{path} = {Format(value)}: must be a positive duration, e.g. 00:00:10");
        }
    }

    /// <summary>A duration as configuration writes it (<c>hh:mm:ss.fffffff</c>).</summary>
    public static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
