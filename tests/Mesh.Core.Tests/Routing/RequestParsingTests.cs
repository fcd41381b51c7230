using Mesh.Routing;

namespace Mesh.Core.Tests.Routing;

public class RequestParsingTests
{
    [TestCase("?a=1&b=2", "a", "1")]
    [TestCase("?a=1&b=2", "b", "2")]
    [TestCase("a=1&b=2", "b", "2")]
    [TestCase("?a=1&a=2", "a", "1")]
    [TestCase("?ab=1&a=2", "a", "2")]
    [TestCase("?b=1&ba=2", "ba", "2")]
    [TestCase("?flag", "flag", "")]
    [TestCase("?flag&x=1", "flag", "")]
    [TestCase("?empty=", "empty", "")]
    [TestCase("?a=1=2", "a", "1=2")]
    [TestCase("?a=x%20y", "a", "x%20y")]
    [TestCase("?&&a=1&", "a", "1")]
    [TestCase("?=1&a=2", "a", "2")]
    public void TryGetQueryParameter_Present_ReturnsFirstRawValue(string query, string name, string expected)
    {
        // Act
        var found = RequestParsing.TryGetQueryParameter(query, name, out var value);

        // Assert
        Assert.That(found, Is.True);
        Assert.That(value.ToString(), Is.EqualTo(expected));
    }

    [TestCase("", "a")]
    [TestCase("?", "a")]
    [TestCase("?ab=1", "a")]
    [TestCase("?b=a", "a")]
    [TestCase("?A=1", "a")]
    [TestCase("?xa=1&ax=2", "a")]
    [TestCase("a", "")]
    public void TryGetQueryParameter_Missing_ReturnsFalse(string query, string name)
    {
        // Act
        var found = RequestParsing.TryGetQueryParameter(query, name, out var value);

        // Assert
        Assert.That(found, Is.False);
        Assert.That(value.IsEmpty, Is.True);
    }

    [TestCase("a=1; b=2", "a", "1")]
    [TestCase("a=1; b=2", "b", "2")]
    [TestCase("a=1;b=2", "b", "2")]
    [TestCase("  a=1 ;  b=2  ", "b", "2")]
    [TestCase("session=\"abc def\"", "session", "abc def")]
    [TestCase("a=1; a=2", "a", "1")]
    [TestCase("ab=1; a=2", "a", "2")]
    [TestCase("flag; a=1", "a", "1")]
    [TestCase("a=", "a", "")]
    [TestCase("a=x=y", "a", "x=y")]
    [TestCase("=1; a=2", "a", "2")]
    [TestCase(";;a=1;", "a", "1")]
    public void TryGetCookie_Present_ReturnsValue(string header, string name, string expected)
    {
        // Act
        var found = RequestParsing.TryGetCookie(header, name, out var value);

        // Assert
        Assert.That(found, Is.True);
        Assert.That(value.ToString(), Is.EqualTo(expected));
    }

    [TestCase("", "a")]
    [TestCase("ab=1", "a")]
    [TestCase("b=a", "a")]
    [TestCase("A=1", "a")]
    [TestCase("flag", "flag")]
    [TestCase("=1", "")]
    public void TryGetCookie_Missing_ReturnsFalse(string header, string name)
    {
        // Act
        var found = RequestParsing.TryGetCookie(header, name, out var value);

        // Assert
        Assert.That(found, Is.False);
        Assert.That(value.IsEmpty, Is.True);
    }

    [Test]
    public void TryGetQueryParameter_LongQuery_AllocatesNothing()
    {
        // Arrange
        var query = "?" + string.Join('&', Enumerable.Range(0, 50).Select(i => $"p{i}=v{i}"));
        RequestParsing.TryGetQueryParameter(query, "p49", out _);

        // Act
        var before = GC.GetAllocatedBytesForCurrentThread();
        var found = RequestParsing.TryGetQueryParameter(query, "p49", out var value)
            && RequestParsing.TryGetCookie("a=1; b=2; c=3", "c", out _);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Assert
        Assert.That(found, Is.True);
        Assert.That(value.ToString(), Is.EqualTo("v49"));
        Assert.That(allocated, Is.Zero);
    }
}
