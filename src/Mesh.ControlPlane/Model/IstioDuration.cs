using System.Globalization;

namespace Mesh.ControlPlane.Model;

/// <summary>Istio's duration strings (protobuf JSON durations plus Go-style units): <c>2s</c>, <c>100ms</c>, <c>1m</c>, <c>1h</c>, <c>1.5s</c>.</summary>
internal static class IstioDuration
{
    /// <summary>Parses <paramref name="text"/>; false for anything else, including negative durations.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        var total = 0.0;
        while (!span.IsEmpty)
        {
            var digits = 0;
            while (digits < span.Length && (char.IsAsciiDigit(span[digits]) || span[digits] == '.'))
            {
                digits++;
            }

            if (digits == 0 || !double.TryParse(span[..digits], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            span = span[digits..];
            var unit = 0;
            while (unit < span.Length && char.IsAsciiLetter(span[unit]))
            {
                unit++;
            }

            double? scale = span[..unit] switch
            {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                "us" or "µs" => 1e-6,
                "ns" => 1e-9,
                _ => null,
            };
            if (scale is null)
            {
                return false;
            }

            total += number * scale.Value;
            span = span[unit..];
        }

        if (total > TimeSpan.MaxValue.TotalSeconds)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)Math.Round(total * TimeSpan.TicksPerSecond));
        return true;
    }
}
