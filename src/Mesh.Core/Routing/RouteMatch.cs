using System.Collections.Immutable;

namespace Mesh.Routing;

/// <summary>One set of conditions that must all hold (path, method, headers, query parameters).</summary>
internal sealed class RouteMatch
{
    public RouteMatch(StringMatcher? path, string? method, ImmutableArray<(string Name, StringMatcher Matcher)> headers, ImmutableArray<(string Name, StringMatcher Matcher)> queryParameters)
    {
        PathMatcher = path;
        Method = method;
        Headers = headers;
        QueryParameters = queryParameters;
    }

    public StringMatcher? PathMatcher { get; }

    public string? Method { get; }

    public ImmutableArray<(string Name, StringMatcher Matcher)> Headers { get; }

    public ImmutableArray<(string Name, StringMatcher Matcher)> QueryParameters { get; }

    public bool Matches<TRequest>(ref TRequest request)
        where TRequest : IMeshRequest, allows ref struct
    {
        if (Method is not null && !string.Equals(Method, request.Method, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (PathMatcher is not null && !PathMatcher.Matches(request.Path))
        {
            return false;
        }

        foreach (var (name, matcher) in Headers)
        {
            var present = request.TryGetHeader(name, out var value);
            if (!matcher.Matches(present, value))
            {
                return false;
            }
        }

        foreach (var (name, matcher) in QueryParameters)
        {
            var present = request.TryGetQueryParameter(name, out var value);
            if (!matcher.Matches(present, value))
            {
                return false;
            }
        }

        return true;
    }
}
