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
        // Subscribe first, so a change that lands while the first snapshot is built is not lost.
        _subscription = monitor.OnChange((options, _) => state.Apply(options, description));
        var initial = state.Apply(monitor.CurrentValue, description);
        if (initial.Snapshot is null)
        {
            _subscription?.Dispose();
            throw new MeshConfigurationException(description, initial.Errors);
        }
    }

    public void Dispose() => _subscription?.Dispose();
}
