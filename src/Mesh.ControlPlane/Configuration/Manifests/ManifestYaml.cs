using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Mesh.ControlPlane.Configuration.Manifests;

/// <summary>One YAML document of a file, converted to JSON.</summary>
/// <param name="Number">1-based position in the file (empty documents count too, so numbers match what an editor shows between <c>---</c>).</param>
/// <param name="Line">The line the document's content starts on.</param>
/// <param name="Root">The document as JSON; <see langword="null"/> for an empty document.</param>
/// <param name="FieldLines">The line of every field up to two levels deep (<c>kind</c>, <c>metadata.name</c>), for messages.</param>
internal sealed record ManifestYamlDocument(int Number, long Line, JsonNode? Root, IReadOnlyDictionary<string, long> FieldLines);

/// <summary>A YAML syntax error: where it is and what the parser said.</summary>
internal sealed record ManifestYamlError(int Document, long Line, long Column, string Message);

/// <summary>The result of reading a file: its documents, or the first syntax error.</summary>
internal sealed record ManifestYamlResult(IReadOnlyList<ManifestYamlDocument> Documents, ManifestYamlError? Error);

/// <summary>
/// Converts multi-document YAML into JSON with the YAML 1.2 core schema, so scalar types survive: plain
/// <c>80</c> is a number and quoted <c>"80"</c> a string, plain <c>true</c> a boolean and <c>"true"</c> a string,
/// plain <c>~</c>/<c>null</c>/empty is null. Explicit tags (<c>!!str</c>, <c>!!int</c>, ...) win over the value's
/// shape. Anchors, aliases and merge keys (<c>&lt;&lt;</c>) are expanded; duplicate keys are errors (as in
/// <c>kubectl</c>), because the JSON would otherwise silently keep one of them.
/// </summary>
internal static partial class ManifestYaml
{
    private const int MaxFieldLineDepth = 2;

    public static ManifestYamlResult Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var documents = new List<ManifestYamlDocument>();
        var number = 0;
        Parser? parser = null;
        try
        {
            parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            while (!parser.TryConsume<StreamEnd>(out _))
            {
                var start = parser.Consume<DocumentStart>();
                number++;
                var builder = new Builder(parser);
                var contentLine = parser.Current?.Start.Line ?? start.Start.Line;
                var root = builder.ReadNode(string.Empty, 0);
                parser.Consume<DocumentEnd>();
                documents.Add(new ManifestYamlDocument(number, contentLine, root, builder.FieldLines));
            }
        }
        catch (YamlException ex)
        {
            // The parser reports the document it was in only implicitly: if it failed before finishing the
            // document it had started, that is the one; a failure at the very start of the stream is document 1.
            var document = Math.Max(number, 1);

            // A scanner error spans from the start of what it was reading to where it failed; the failure is the place to show.
            var at = ex.End.Line > ex.Start.Line ? ex.End : ex.Start;
            var (line, column) = (at.Line, at.Column);
            if (at.Index == 0 && parser?.Current is { } last && last.End.Index > 0)
            {
                // Some scanner errors (a tab in the indentation) come without a position: report the first line after the last
                // good event, or the line with the tab.
                (line, column) = (last.End.Line, last.End.Column);
                if (ex.Message.Contains("tab", StringComparison.OrdinalIgnoreCase) && FindTabIndentedLine(text, last.End.Line) is { } tabLine)
                {
                    (line, column) = (tabLine, 1);
                }
            }

            return new ManifestYamlResult(documents, new ManifestYamlError(document, line, column, FirstLine(ex.Message)));
        }
        catch (InvalidOperationException ex)
        {
            // The parser reports an event of another kind than the grammar needs (an unclosed flow sequence, ...) this way, not as a YamlException.
            var at = parser?.Current?.Start ?? Mark.Empty;
            return new ManifestYamlResult(documents, new ManifestYamlError(Math.Max(number, 1), at.Line, at.Column, FirstLine(ex.Message)));
        }

        return new ManifestYamlResult(documents, null);
    }

    /// <summary>The first line (1-based) at or after <paramref name="fromLine"/> whose indentation holds a tab.</summary>
    private static long? FindTabIndentedLine(string text, long fromLine)
    {
        var lines = text.Split('\n');
        for (var i = (int)Math.Max(fromLine - 1, 0); i < lines.Length; i++)
        {
            var indentation = lines[i].AsSpan(0, lines[i].Length - lines[i].AsSpan().TrimStart(" \t").Length);
            if (indentation.Contains('\t'))
            {
                return i + 1;
            }
        }

        return null;
    }

    private static string FirstLine(string message)
    {
        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; the position is reported separately.
        var text = message;
        var marker = text.IndexOf("): ", StringComparison.Ordinal);
        if (text.StartsWith("(Line:", StringComparison.Ordinal) && marker >= 0)
        {
            text = text[(marker + 3)..];
        }

        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        return (newline >= 0 ? text[..newline] : text).Trim();
    }

    private sealed class Builder(IParser parser)
    {
        private readonly Dictionary<string, JsonNode?> _anchors = new(StringComparer.Ordinal);

        public Dictionary<string, long> FieldLines { get; } = new(StringComparer.Ordinal);

        public JsonNode? ReadNode(string path, int depth)
        {
            if (parser.Current is { } current && depth <= MaxFieldLineDepth && path.Length > 0)
            {
                FieldLines.TryAdd(path, current.Start.Line);
            }

            if (parser.TryConsume<AnchorAlias>(out var alias))
            {
                if (!_anchors.TryGetValue(alias.Value.Value, out var target))
                {
                    throw new YamlException(alias.Start, alias.End, $"alias *{alias.Value.Value} refers to no anchor defined before it");
                }

                return target?.DeepClone();
            }

            if (parser.TryConsume<Scalar>(out var scalar))
            {
                var value = ToJson(scalar);
                Remember(scalar, value);
                return value;
            }

            if (parser.TryConsume<SequenceStart>(out var sequenceStart))
            {
                var array = new JsonArray();
                var index = 0;
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    array.Add(ReadNode($"{path}[{index.ToString(CultureInfo.InvariantCulture)}]", depth + 1));
                    index++;
                }

                Remember(sequenceStart, array);
                return array;
            }

            if (parser.TryConsume<MappingStart>(out var mappingStart))
            {
                var mapping = ReadMapping(path, depth);
                Remember(mappingStart, mapping);
                return mapping;
            }

            var unexpected = parser.Current;
            throw new YamlException(unexpected?.Start ?? Mark.Empty, unexpected?.End ?? Mark.Empty, $"unexpected YAML event {unexpected?.GetType().Name}");
        }

        private JsonObject ReadMapping(string path, int depth)
        {
            var mapping = new JsonObject();
            List<JsonObject>? merges = null;
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                if (!parser.TryConsume<Scalar>(out var key))
                {
                    var at = parser.Current;
                    throw new YamlException(at?.Start ?? Mark.Empty, at?.End ?? Mark.Empty, "mapping keys must be plain strings (JSON has no other keys)");
                }

                if (key.Style == ScalarStyle.Plain && key.Value == "<<" && key.Tag.IsEmpty)
                {
                    merges ??= [];
                    var merged = ReadNode(path, depth + 1);
                    if (merged is JsonObject one)
                    {
                        merges.Add(one);
                    }
                    else if (merged is JsonArray many && many.All(static m => m is JsonObject))
                    {
                        merges.AddRange(many.Select(static m => (JsonObject)m!));
                    }
                    else
                    {
                        throw new YamlException(key.Start, key.End, "a merge key (<<) needs a mapping or a list of mappings");
                    }

                    continue;
                }

                var childPath = path.Length == 0 ? key.Value : $"{path}.{key.Value}";
                if (mapping.ContainsKey(key.Value))
                {
                    throw new YamlException(key.Start, key.End, $"duplicate key '{key.Value}'");
                }

                if (depth < MaxFieldLineDepth)
                {
                    // The key's line, not the value's: a block mapping's value starts on the line after its key.
                    FieldLines.TryAdd(childPath, key.Start.Line);
                }

                mapping[key.Value] = ReadNode(childPath, depth + 1);
            }

            // Explicit keys win over merged ones whatever their order; earlier merge sources win over later ones.
            foreach (var source in merges ?? [])
            {
                foreach (var (name, value) in source)
                {
                    if (!mapping.ContainsKey(name))
                    {
                        mapping[name] = value?.DeepClone();
                    }
                }
            }

            return mapping;
        }

        private void Remember(NodeEvent node, JsonNode? value)
        {
            if (!node.Anchor.IsEmpty)
            {
                _anchors[node.Anchor.Value] = value;
            }
        }
    }

    private static JsonValue? ToJson(Scalar scalar)
    {
        var value = scalar.Value;
        if (!scalar.Tag.IsEmpty)
        {
            var tag = scalar.Tag.Value;
            var shortTag = tag.StartsWith("tag:yaml.org,2002:", StringComparison.Ordinal) ? tag["tag:yaml.org,2002:".Length..] : tag.TrimStart('!');
            switch (shortTag)
            {
                case "str":
                case "":
                    return JsonValue.Create(value);
                case "null":
                    return null;
                case "bool":
                    return TryBool(value, out var flag) ? JsonValue.Create(flag) : throw Invalid(scalar, "a boolean (true or false)");
                case "int":
                    return TryInteger(value) ?? throw Invalid(scalar, "an integer");
                case "float":
                    return TryInteger(value) ?? TryFloat(value) ?? throw Invalid(scalar, "a finite number");
                default:
                    break; // Unknown application tags: resolve by shape, as if untagged.
            }
        }

        if (scalar.Style != ScalarStyle.Plain)
        {
            return JsonValue.Create(value);
        }

        if (value.Length == 0 || value is "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (TryBool(value, out var boolean))
        {
            return JsonValue.Create(boolean);
        }

        // .inf and .nan have no JSON form; they stay strings, as any other text does.
        return TryInteger(value) ?? TryFloat(value) ?? JsonValue.Create(value);
    }

    private static YamlException Invalid(Scalar scalar, string expected) =>
        new(scalar.Start, scalar.End, $"'{scalar.Value}' is tagged {scalar.Tag.Value} but is not {expected}");

    private static bool TryBool(string value, out bool result)
    {
        switch (value)
        {
            case "true" or "True" or "TRUE":
                result = true;
                return true;
            case "false" or "False" or "FALSE":
                result = false;
                return true;
            default:
                result = false;
                return false;
        }
    }

    private static JsonValue? TryInteger(string value)
    {
        if (DecimalInteger().IsMatch(value))
        {
            if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
            {
                return JsonValue.Create(number);
            }

            return decimal.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var big) ? JsonValue.Create(big) : null;
        }

        if (OctalInteger().IsMatch(value))
        {
            try
            {
                return JsonValue.Create(Convert.ToInt64(value[2..], 8));
            }
            catch (OverflowException)
            {
                return null;
            }
        }

        if (HexInteger().IsMatch(value))
        {
            return long.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex) && hex >= 0 ? JsonValue.Create(hex) : null;
        }

        return null;
    }

    private static JsonValue? TryFloat(string value) =>
        Float().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
            ? JsonValue.Create(number)
            : null;

    [GeneratedRegex("^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex DecimalInteger();

    [GeneratedRegex("^0o[0-7]+$", RegexOptions.CultureInvariant)]
    private static partial Regex OctalInteger();

    [GeneratedRegex("^0x[0-9a-fA-F]+$", RegexOptions.CultureInvariant)]
    private static partial Regex HexInteger();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Float();
}
