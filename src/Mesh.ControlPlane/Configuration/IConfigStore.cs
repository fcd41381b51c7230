namespace Mesh.ControlPlane.Configuration;

/// <summary>
/// Where sources put what they read, each under its own source id (a source never overwrites another's
/// objects). The store raises <see cref="Changed"/> after every change; the translator reads
/// <see cref="Snapshot"/> (debounced) and turns it into xDS.
/// </summary>
public interface IConfigStore
{
    /// <summary>Replaces every object of a source at once (a relist, or a manifest file re-read).</summary>
    void Replace(string sourceId, IEnumerable<ConfigObject> objects);

    /// <summary>Adds or updates one object of a source (a watch ADDED / MODIFIED event).</summary>
    void Upsert(string sourceId, ConfigObject configObject);

    /// <summary>Removes one object of a source (a watch DELETED event); unknown keys are ignored.</summary>
    void Delete(string sourceId, ConfigKey key);

    /// <summary>Records that a source has listed everything once (readiness: <c>/readyz</c>).</summary>
    void MarkSynced(string sourceId);

    /// <summary>Every object of every source at this instant (the later source wins on a duplicate key).</summary>
    IReadOnlyList<ConfigObject> Snapshot();

    /// <summary>Whether every registered source has synced at least once.</summary>
    bool IsSynced { get; }

    /// <summary>Registers a source before it starts, so readiness waits for it.</summary>
    void Register(string sourceId);

    /// <summary>Raised after any change, on the thread that made it; handlers must be quick (e.g. signal a debouncer).</summary>
    event Action? Changed;
}
