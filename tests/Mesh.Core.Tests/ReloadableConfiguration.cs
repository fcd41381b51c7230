using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Core.Tests;

/// <summary>An in-memory configuration source whose whole content a test replaces, raising a reload as a changed file would.</summary>
internal sealed class ReloadableConfiguration : ConfigurationProvider, IConfigurationSource
{
    public ReloadableConfiguration(IEnumerable<KeyValuePair<string, string?>> data)
    {
        Data = new Dictionary<string, string?>(data, StringComparer.OrdinalIgnoreCase);
        Root = new ConfigurationBuilder().Add(this).Build();
    }

    public IConfigurationRoot Root { get; }

    public IConfigurationProvider Build(IConfigurationBuilder builder) => this;

    /// <summary>Replaces every key and signals the reload; listeners run synchronously on this thread.</summary>
    public void Replace(IEnumerable<KeyValuePair<string, string?>> data)
    {
        Data = new Dictionary<string, string?>(data, StringComparer.OrdinalIgnoreCase);
        OnReload();
    }

    /// <summary>The <c>Mesh</c> section of one service <c>backend</c> with endpoints on 127.0.0.1 at the given ports.</summary>
    public static List<KeyValuePair<string, string?>> Backend(params int[] ports)
    {
        var data = new List<KeyValuePair<string, string?>>();
        for (var i = 0; i < ports.Length; i++)
        {
            data.Add(new($"Mesh:Services:backend:Endpoints:{i}:Address", $"http://127.0.0.1:{ports[i]}"));
        }

        return data;
    }

    /// <summary>A service collection with logging (collected by a fake logger) and the mesh on this configuration.</summary>
    public ServiceCollection Services(Action<IMeshBuilder>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddFakeLogging().SetMinimumLevel(LogLevel.Debug));
        var mesh = services.AddMesh(Root);
        configure?.Invoke(mesh);
        return services;
    }
}
