using Microsoft.Extensions.Configuration;

namespace Mesh.AspNetCore.Tests;

/// <summary>An in-memory configuration source whose whole content a test replaces, raising a reload as a changed file would.</summary>
internal sealed class ReloadableConfiguration : ConfigurationProvider, IConfigurationSource
{
    public ReloadableConfiguration(IEnumerable<KeyValuePair<string, string?>> data)
    {
        Data = new Dictionary<string, string?>(data, StringComparer.OrdinalIgnoreCase);
    }

    public IConfigurationProvider Build(IConfigurationBuilder builder) => this;

    /// <summary>Replaces every key and signals the reload; listeners run synchronously on this thread.</summary>
    public void Replace(IEnumerable<KeyValuePair<string, string?>> data)
    {
        Data = new Dictionary<string, string?>(data, StringComparer.OrdinalIgnoreCase);
        OnReload();
    }
}
