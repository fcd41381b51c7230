using System.Text.RegularExpressions;

namespace Mesh.Routing;

/// <summary>The kinds of string condition, as Envoy's <c>StringMatcher</c> plus presence.</summary>
internal enum StringMatchKind
{
    Exact,
    Prefix,
    Suffix,
    Regex,
    Present,
    Absent,
}

/// <summary>An immutable string condition. Regexes use .NET's non-backtracking engine (linear time, as RE2 in Envoy) and must match the whole value.</summary>
internal sealed class StringMatcher
{
    private readonly string _value;
    private readonly Regex? _regex;
    private readonly StringComparison _comparison;

    private StringMatcher(StringMatchKind kind, string value, bool ignoreCase, Regex? regex)
    {
        Kind = kind;
        _value = value;
        _regex = regex;
        _comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
    }

    public StringMatchKind Kind { get; }

    public static StringMatcher Exact(string value, bool ignoreCase = false) => new(StringMatchKind.Exact, value, ignoreCase, null);

    public static StringMatcher Prefix(string value, bool ignoreCase = false) => new(StringMatchKind.Prefix, value, ignoreCase, null);

    public static StringMatcher Suffix(string value, bool ignoreCase = false) => new(StringMatchKind.Suffix, value, ignoreCase, null);

    public static StringMatcher Present() => new(StringMatchKind.Present, string.Empty, false, null);

    public static StringMatcher Absent() => new(StringMatchKind.Absent, string.Empty, false, null);

    /// <summary>Compiles a full-match regex; throws <see cref="ArgumentException"/> when the pattern is invalid.</summary>
    public static StringMatcher FromRegex(string pattern, bool ignoreCase = false)
    {
        var options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None);
        return new(StringMatchKind.Regex, pattern, ignoreCase, new Regex($"^(?:{pattern})$", options));
    }

    /// <summary>Evaluates the condition on a value that may be missing.</summary>
    public bool Matches(bool present, ReadOnlySpan<char> value) => Kind switch
    {
        StringMatchKind.Present => present,
        StringMatchKind.Absent => !present,
        _ => present && Matches(value),
    };

    /// <summary>Evaluates the condition on a present value.</summary>
    public bool Matches(ReadOnlySpan<char> value) => Kind switch
    {
        StringMatchKind.Exact => value.Equals(_value, _comparison),
        StringMatchKind.Prefix => value.StartsWith(_value, _comparison),
        StringMatchKind.Suffix => value.EndsWith(_value, _comparison),
        StringMatchKind.Regex => _regex!.IsMatch(value),
        StringMatchKind.Present => true,
        _ => false,
    };

    public override string ToString() => Kind is StringMatchKind.Present or StringMatchKind.Absent ? Kind.ToString().ToLowerInvariant() : $"{Kind.ToString().ToLowerInvariant()} '{_value}'";
}
