using Mesh.Routing;

namespace Mesh.Core.Tests.Routing;

public class StringMatcherTests
{
    [TestCase("canary", "canary", false, true)]
    [TestCase("canary", "Canary", false, false)]
    [TestCase("canary", "Canary", true, true)]
    [TestCase("canary", "canary-2", false, false)]
    [TestCase("", "", false, true)]
    public void Exact_Value_MatchesWholeValue(string expected, string value, bool ignoreCase, bool matches)
    {
        // Arrange
        var matcher = StringMatcher.Exact(expected, ignoreCase);

        // Act
        var result = matcher.Matches(present: true, value);

        // Assert
        Assert.That(result, Is.EqualTo(matches));
    }

    [TestCase("Bearer ", "Bearer abc", false, true)]
    [TestCase("Bearer ", "bearer abc", false, false)]
    [TestCase("Bearer ", "bearer abc", true, true)]
    [TestCase("Bearer ", "Bearer", false, false)]
    public void Prefix_Value_MatchesStart(string prefix, string value, bool ignoreCase, bool matches)
    {
        // Arrange
        var matcher = StringMatcher.Prefix(prefix, ignoreCase);

        // Act
        var result = matcher.Matches(present: true, value);

        // Assert
        Assert.That(result, Is.EqualTo(matches));
    }

    [TestCase(".example.com", "api.example.com", false, true)]
    [TestCase(".example.com", "api.EXAMPLE.com", false, false)]
    [TestCase(".example.com", "api.EXAMPLE.com", true, true)]
    [TestCase(".example.com", "example.com", false, false)]
    public void Suffix_Value_MatchesEnd(string suffix, string value, bool ignoreCase, bool matches)
    {
        // Arrange
        var matcher = StringMatcher.Suffix(suffix, ignoreCase);

        // Act
        var result = matcher.Matches(present: true, value);

        // Assert
        Assert.That(result, Is.EqualTo(matches));
    }

    [TestCase("/api/.*", "/api/x", false, true)]
    [TestCase("/api/.*", "/api/", false, true)]
    [TestCase("/api/.*", "/v1/api/x", false, false)]
    [TestCase("api", "/api/x", false, false)]
    [TestCase("/a|/b", "/b", false, true)]
    [TestCase("/a|/b", "/ab", false, false)]
    [TestCase("[0-9]+", "123", false, true)]
    [TestCase("[0-9]+", "123a", false, false)]
    [TestCase("v[0-9]", "V2", false, false)]
    [TestCase("v[0-9]", "V2", true, true)]
    public void FromRegex_Value_MustMatchWholeValue(string pattern, string value, bool ignoreCase, bool matches)
    {
        // Arrange
        var matcher = StringMatcher.FromRegex(pattern, ignoreCase);

        // Act
        var result = matcher.Matches(present: true, value);

        // Assert
        Assert.That(result, Is.EqualTo(matches));
    }

    [TestCase(true, true, false)]
    [TestCase(false, false, true)]
    public void PresentAndAbsent_Presence_MatchOnPresenceOnly(bool present, bool presentMatches, bool absentMatches)
    {
        // Arrange
        var presentMatcher = StringMatcher.Present();
        var absentMatcher = StringMatcher.Absent();

        // Act
        var presentResult = presentMatcher.Matches(present, present ? "" : default);
        var absentResult = absentMatcher.Matches(present, present ? "" : default);

        // Assert
        Assert.That(presentResult, Is.EqualTo(presentMatches));
        Assert.That(absentResult, Is.EqualTo(absentMatches));
    }

    [Test]
    public void Matches_ValueMissing_OnlyAbsentMatches()
    {
        // Arrange: a missing header is not an empty one; Exact("") must not match it.
        StringMatcher[] valueMatchers = [StringMatcher.Exact(""), StringMatcher.Prefix(""), StringMatcher.Suffix(""), StringMatcher.FromRegex(".*")];

        // Act
        var results = valueMatchers.Select(m => m.Matches(present: false, default)).ToArray();

        // Assert
        Assert.That(results, Has.All.False);
        Assert.That(StringMatcher.Absent().Matches(present: false, default), Is.True);
    }

    [Test]
    public void FromRegex_Backreference_ThrowsNotSupported()
    {
        // Act + Assert: the non-backtracking engine rejects backreferences (the builder reports this as an error).
        Assert.That(() => StringMatcher.FromRegex(@"(a)\1"), Throws.TypeOf<NotSupportedException>());
    }
}
