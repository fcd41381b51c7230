using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Mesh.Configuration;

/// <summary>
/// Reads the <c>Mesh</c> configuration section into <see cref="MeshOptions"/>, collecting every unknown
/// setting and every value of the wrong type with its path instead of stopping at the first one
/// (the configuration binder throws on the first and ignores misspelled keys).
/// </summary>
internal static class MeshConfigurationReader
{
    private static readonly ConcurrentDictionary<Type, Dictionary<string, PropertyInfo>> Properties = new();

    public static void Read(IConfiguration section, MeshOptions options, string path)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(options);
        ReadObject(section, options, path, options.ReadErrors);
    }

    private static void ReadObject(IConfiguration section, object target, string path, List<string> errors)
    {
        var properties = Properties.GetOrAdd(target.GetType(), static type => type
            .GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase));

        foreach (var child in section.GetChildren())
        {
            var childPath = $"{path}:{child.Key}";
            if (!properties.TryGetValue(child.Key, out var property))
            {
                errors.Add($"{childPath}: unknown setting; valid settings here are {string.Join(", ", properties.Keys.Order(StringComparer.Ordinal))}");
                continue;
            }

            ReadProperty(child, target, property, childPath, errors);
        }
    }

    private static void ReadProperty(IConfigurationSection section, object target, PropertyInfo property, string path, List<string> errors)
    {
        var type = property.PropertyType;
        if (IsScalar(type))
        {
            if (HasChildren(section))
            {
                errors.Add($"{path}: must be a single value, not an object or a list");
                return;
            }

            if (TryConvert(section.Value, type, path, errors, out var value))
            {
                property.SetValue(target, value);
            }

            return;
        }

        var current = property.GetValue(target);
        if (current is null)
        {
            if (!property.CanWrite)
            {
                return;
            }

            current = Activator.CreateInstance(type)!;
            property.SetValue(target, current);
        }

        ReadComposite(section, current, type, path, errors);
    }

    private static void ReadComposite(IConfigurationSection section, object target, Type type, string path, List<string> errors)
    {
        if (!HasChildren(section) && !string.IsNullOrEmpty(section.Value))
        {
            errors.Add($"{path} = '{section.Value}': must be {(IsList(type) ? "a list" : "an object")}, not a single value");
            return;
        }

        if (IsDictionary(type, out var valueType))
        {
            var dictionary = (IDictionary)target;
            foreach (var child in section.GetChildren())
            {
                var childPath = $"{path}:{child.Key}";
                if (valueType == typeof(string))
                {
                    if (HasChildren(child))
                    {
                        errors.Add($"{childPath}: must be a single value, not an object or a list");
                        continue;
                    }

                    dictionary[child.Key] = child.Value ?? string.Empty;
                    continue;
                }

                var item = dictionary.Contains(child.Key) ? dictionary[child.Key]! : Activator.CreateInstance(valueType)!;
                ReadComposite(child, item, valueType, childPath, errors);
                dictionary[child.Key] = item;
            }

            return;
        }

        if (IsList(type))
        {
            var itemType = type.GetGenericArguments()[0];
            var list = (IList)target;
            var children = section.GetChildren().ToList();
            foreach (var child in children)
            {
                if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    errors.Add($"{path}:{child.Key}: {path} must be a list (a JSON array)");
                    return;
                }
            }

            foreach (var child in children.OrderBy(c => int.Parse(c.Key, CultureInfo.InvariantCulture)))
            {
                var childPath = $"{path}[{child.Key}]";
                if (IsScalar(itemType))
                {
                    if (TryConvert(child.Value, itemType, childPath, errors, out var value))
                    {
                        list.Add(value);
                    }

                    continue;
                }

                var item = Activator.CreateInstance(itemType)!;
                ReadComposite(child, item, itemType, childPath, errors);
                list.Add(item);
            }

            return;
        }

        ReadObject(section, target, path, errors);
    }

    private static bool TryConvert(string? raw, Type type, string path, List<string> errors, out object? value)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        value = null;
        if (string.IsNullOrEmpty(raw))
        {
            if (target == typeof(string) || target != type)
            {
                return true;
            }

            errors.Add($"{path}: a value is required");
            return false;
        }

        if (target == typeof(string))
        {
            value = raw;
            return true;
        }

        if (target == typeof(int))
        {
            if (int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
            {
                value = i;
                return true;
            }

            errors.Add($"{path} = '{raw}': must be a whole number");
            return false;
        }

        if (target == typeof(double))
        {
            if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
            {
                value = d;
                return true;
            }

            errors.Add($"{path} = '{raw}': must be a number");
            return false;
        }

        if (target == typeof(bool))
        {
            if (bool.TryParse(raw, out var b))
            {
                value = b;
                return true;
            }

            errors.Add($"{path} = '{raw}': must be true or false");
            return false;
        }

        if (target == typeof(TimeSpan))
        {
            if (TimeSpan.TryParse(raw, CultureInfo.InvariantCulture, out var t))
            {
                value = t;
                return true;
            }

            errors.Add($"{path} = '{raw}': must be a duration such as 00:00:02 (hh:mm:ss) or 00:00:00.250");
            return false;
        }

        if (target.IsEnum)
        {
            if (Enum.TryParse(target, raw, ignoreCase: true, out var e) && Enum.IsDefined(target, e!) && !int.TryParse(raw, out _))
            {
                value = e;
                return true;
            }

            errors.Add($"{path} = '{raw}': must be one of {string.Join(", ", Enum.GetNames(target))}");
            return false;
        }

        throw new NotSupportedException($"Configuration type {target} is not supported.");
    }

    private static bool HasChildren(IConfigurationSection section) => section.GetChildren().Any();

    private static bool IsScalar(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t == typeof(string) || t.IsPrimitive || t.IsEnum || t == typeof(TimeSpan) || t == typeof(double);
    }

    private static bool IsList(Type type) => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>);

    private static bool IsDictionary(Type type, out Type valueType)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            valueType = type.GetGenericArguments()[1];
            return true;
        }

        valueType = typeof(object);
        return false;
    }
}
