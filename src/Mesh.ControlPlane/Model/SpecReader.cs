using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;

namespace Mesh.ControlPlane.Model;

/// <summary>
/// Reads JSON fields of one object and collects messages that name the object and the field path:
/// <c>ORIGIN: KIND NS/NAME: PATH = VALUE: RULE</c>.
/// </summary>
internal sealed class SpecReader(string prefix)
{
    public List<string> Errors { get; } = [];

    public List<string> Warnings { get; } = [];

    public void Error(string path, JsonElement? value, string rule) => Errors.Add(Format(path, value, rule));

    public void Warn(string path, string rule) => Warnings.Add(Format(path, null, rule));

    private string Format(string path, JsonElement? value, string rule) => value is { } v
        ? $"{prefix}{path} = {Show(v)}: {rule}"
        : $"{prefix}{path}: {rule}";

    private static string Show(JsonElement value)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString() ?? string.Empty : value.GetRawText();
        return text.Length > 80 ? string.Concat(text.AsSpan(0, 77), "...") : text;
    }

    /// <summary>
    /// Reports every property of <paramref name="obj"/> that is not in <paramref name="known"/>: an error when it is in
    /// <paramref name="rejected"/> (ignoring it would change where or how traffic flows), else a warning.
    /// </summary>
    public void CheckFields(JsonElement obj, string path, string[] known, string[]? rejected = null)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var property in obj.EnumerateObject())
        {
            if (System.Array.IndexOf(known, property.Name) >= 0)
            {
                continue;
            }

            var fieldPath = Join(path, property.Name);
            if (rejected is not null && System.Array.IndexOf(rejected, property.Name) >= 0)
            {
                Error(fieldPath, null, "not supported, and ignoring it would change how traffic is routed: remove it, or express the intent with supported fields");
            }
            else
            {
                Warn(fieldPath, "not supported; ignored");
            }
        }
    }

    public static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    public static string Index(string path, int i) => $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]";

    public static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        if (obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null)
        {
            return true;
        }

        value = default;
        return false;
    }

    public JsonElement? Object(JsonElement obj, string name, string path)
    {
        if (!TryGet(obj, name, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            Error(Join(path, name), value, "must be an object");
            return null;
        }

        return value;
    }

    public string? String(JsonElement obj, string name, string path, bool required = false)
    {
        if (!TryGet(obj, name, out var value))
        {
            if (required)
            {
                Error(Join(path, name), null, "is required");
            }

            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            Error(Join(path, name), value, "must be a string");
            return null;
        }

        var text = value.GetString();
        if (required && string.IsNullOrEmpty(text))
        {
            Error(Join(path, name), value, "must not be empty");
        }

        return text;
    }

    public long? Integer(JsonElement obj, string name, string path, long min, long max)
    {
        if (!TryGet(obj, name, out var value))
        {
            return null;
        }

        // Protobuf JSON allows 64-bit and wrapper integers as strings.
        long number;
        if (value.ValueKind == JsonValueKind.Number ? !value.TryGetInt64(out number)
            : value.ValueKind != JsonValueKind.String || !long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out number))
        {
            Error(Join(path, name), value, "must be an integer");
            return null;
        }

        if (number < min || number > max)
        {
            Error(Join(path, name), value, $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
            return null;
        }

        return number;
    }

    public int? Int(JsonElement obj, string name, string path, int min = 0, int max = int.MaxValue) => (int?)Integer(obj, name, path, min, max);

    public double? Number(JsonElement obj, string name, string path, double min, double max)
    {
        if (!TryGet(obj, name, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number))
        {
            Error(Join(path, name), value, "must be a number");
            return null;
        }

        if (number < min || number > max)
        {
            Error(Join(path, name), value, $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
            return null;
        }

        return number;
    }

    public bool? Bool(JsonElement obj, string name, string path)
    {
        if (!TryGet(obj, name, out var value))
        {
            return null;
        }

        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            Error(Join(path, name), value, "must be true or false");
            return null;
        }

        return value.GetBoolean();
    }

    public TimeSpan? Duration(JsonElement obj, string name, string path, bool positive = false)
    {
        if (!TryGet(obj, name, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || !IstioDuration.TryParse(value.GetString(), out var duration))
        {
            Error(Join(path, name), value, "must be a duration such as \"2s\", \"100ms\" or \"1m\"");
            return null;
        }

        if (positive && duration <= TimeSpan.Zero)
        {
            Error(Join(path, name), value, "must be greater than zero");
            return null;
        }

        return duration;
    }

    public IEnumerable<(JsonElement Item, string Path)> Items(JsonElement obj, string name, string path)
    {
        if (!TryGet(obj, name, out var value))
        {
            yield break;
        }

        var arrayPath = Join(path, name);
        if (value.ValueKind != JsonValueKind.Array)
        {
            Error(arrayPath, value, "must be a list");
            yield break;
        }

        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            yield return (item, Index(arrayPath, i++));
        }
    }

    public ImmutableDictionary<string, string> StringMap(JsonElement obj, string name, string path)
    {
        if (!TryGet(obj, name, out var value))
        {
            return ImmutableDictionary<string, string>.Empty;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            Error(Join(path, name), value, "must be a map of strings");
            return ImmutableDictionary<string, string>.Empty;
        }

        var builder = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                Error(Join(Join(path, name), property.Name), property.Value, "must be a string");
                continue;
            }

            builder[property.Name] = property.Value.GetString()!;
        }

        return builder.ToImmutable();
    }
}
