namespace Mesh.ControlPlane.Configuration;

/// <summary>The in-memory <see cref="IConfigStore"/>: objects per source behind one lock.</summary>
public sealed class ConfigStore : IConfigStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<ConfigKey, ConfigObject>> _sources = new(StringComparer.Ordinal);
    private readonly HashSet<string> _synced = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public event Action? Changed;

    /// <inheritdoc />
    public bool IsSynced
    {
        get
        {
            lock (_lock)
            {
                return _sources.Keys.All(_synced.Contains);
            }
        }
    }

    /// <inheritdoc />
    public void Register(string sourceId)
    {
        lock (_lock)
        {
            _sources.TryAdd(sourceId, []);
        }
    }

    /// <inheritdoc />
    public void Replace(string sourceId, IEnumerable<ConfigObject> objects)
    {
        ArgumentNullException.ThrowIfNull(objects);
        var next = new Dictionary<ConfigKey, ConfigObject>();
        foreach (var item in objects)
        {
            next[item.Key] = item;
        }

        lock (_lock)
        {
            _sources[sourceId] = next;
        }

        Changed?.Invoke();
    }

    /// <inheritdoc />
    public void Upsert(string sourceId, ConfigObject configObject)
    {
        ArgumentNullException.ThrowIfNull(configObject);
        lock (_lock)
        {
            if (!_sources.TryGetValue(sourceId, out var objects))
            {
                _sources[sourceId] = objects = [];
            }

            objects[configObject.Key] = configObject;
        }

        Changed?.Invoke();
    }

    /// <inheritdoc />
    public void Delete(string sourceId, ConfigKey key)
    {
        bool removed;
        lock (_lock)
        {
            removed = _sources.TryGetValue(sourceId, out var objects) && objects.Remove(key);
        }

        if (removed)
        {
            Changed?.Invoke();
        }
    }

    /// <inheritdoc />
    public void MarkSynced(string sourceId)
    {
        bool first;
        lock (_lock)
        {
            _sources.TryAdd(sourceId, []);
            first = _synced.Add(sourceId);
        }

        if (first)
        {
            Changed?.Invoke();
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<ConfigObject> Snapshot()
    {
        lock (_lock)
        {
            var merged = new Dictionary<ConfigKey, ConfigObject>();
            foreach (var objects in _sources.Values)
            {
                foreach (var (key, value) in objects)
                {
                    merged[key] = value;
                }
            }

            return [.. merged.Values.OrderBy(o => o.Kind, StringComparer.Ordinal).ThenBy(o => o.Namespace, StringComparer.Ordinal).ThenBy(o => o.Name, StringComparer.Ordinal)];
        }
    }
}
