using Microsoft.Extensions.Options;

namespace Mesh.Configuration;

/// <summary>A place configuration comes from; it starts feeding a <see cref="MeshState"/> when the state is first used.</summary>
internal interface IMeshConfigSource
{
    void Start(MeshState state);
}

/// <summary>
/// The embedded default: <see cref="MeshOptions"/> from <c>IConfiguration</c> or code, through
/// <see cref="IOptionsMonitor{TOptions}"/>. Invalid configuration at startup throws (the app should not
/// start half-configured); an invalid reload is logged and the last good snapshot keeps serving.
/// </summary>
internal sealed class StaticConfigSource(IOptionsMonitor<MeshOptions> monitor, string description) : IMeshConfigSource, IDisposable
{
    private IDisposable? _subscription;

    public void Start(MeshState state)
    {
        var initial = state.Apply(monitor.CurrentValue, description);
        if (initial.Snapshot is null)
        {
            throw new MeshConfigurationException(description, initial.Errors);
        }

        _subscription = monitor.OnChange((options, _) => state.Apply(options, description));
    }

    public void Dispose() => _subscription?.Dispose();
}
