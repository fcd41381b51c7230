using System.Text;
using Microsoft.Extensions.Configuration;

namespace Mesh.Http.Tests.Infrastructure;

/// <summary>Configuration as an application gets it, so the real configuration reader is exercised.</summary>
internal static class TestConfiguration
{
    public static ConfigurationRoot FromJson(string json) =>
        (ConfigurationRoot)new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

    public static ConfigurationRoot FromPairs(IEnumerable<KeyValuePair<string, string?>> pairs) =>
        (ConfigurationRoot)new ConfigurationBuilder().AddInMemoryCollection(pairs).Build();

    /// <summary>A configuration whose content the test replaces at will, reloading it like a changed appsettings.json.</summary>
    public static ConfigurationRoot Reloadable(string json, out ReloadableConfigurationProvider provider)
    {
        var source = new ReloadableConfigurationSource(json);
        provider = source.Provider;
        return (ConfigurationRoot)new ConfigurationBuilder().Add(source).Build();
    }
}

internal sealed class ReloadableConfigurationSource(string json) : IConfigurationSource
{
    public ReloadableConfigurationProvider Provider { get; } = new(json);

    public IConfigurationProvider Build(IConfigurationBuilder builder) => Provider;
}

/// <summary>
/// Holds configuration parsed from JSON and replaces it on demand, raising the reload token at once
/// (deterministic and immediate, unlike a watched file).
/// </summary>
internal sealed class ReloadableConfigurationProvider : ConfigurationProvider
{
    public ReloadableConfigurationProvider(string json) => Data = Parse(json);

    /// <summary>Replaces the whole content and signals a reload, as a file provider does after the file changed.</summary>
    public void Replace(string json)
    {
        Data = Parse(json);
        OnReload();
    }

    private static Dictionary<string, string?> Parse(string json)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        using var parsed = TestConfiguration.FromJson(json);
        foreach (var (key, value) in parsed.AsEnumerable())
        {
            if (value is not null)
            {
                data[key] = value;
            }
        }

        return data;
    }
}
