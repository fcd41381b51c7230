using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Mesh.Configuration;
using Mesh.LoadBalancing;
using Mesh.Model;
using Mesh.Xds.Client;
using Mesh.Xds.Resources;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Xds.Tests.Infrastructure;

/// <summary>
/// An in-memory xDS client for the dependency manager: resources are set, removed or failed by the test; callbacks
/// are queued and delivered one at a time (never inside <see cref="Watch"/>), as the real client's serializer does,
/// when the test calls <see cref="Flush"/> (the mutating methods flush too).
/// </summary>
internal sealed class ResourceWatchSourceFake : IXdsWatchSource
{
    private readonly Dictionary<(string TypeUrl, string Name), List<Registration>> _watchers = [];
    private readonly Dictionary<(string TypeUrl, string Name), object> _values = [];
    private readonly HashSet<(string TypeUrl, string Name)> _missing = [];
    private readonly Queue<Action> _callbacks = new();

    /// <summary>How many times <see cref="Watch"/> was called, per type URL and name.</summary>
    public Dictionary<(string TypeUrl, string Name), int> WatchCalls { get; } = [];

    public IDisposable Watch(XdsResourceType type, string name, IXdsResourceWatcher watcher)
    {
        var key = (type.TypeUrl, name);
        WatchCalls[key] = WatchCalls.GetValueOrDefault(key) + 1;
        if (!_watchers.TryGetValue(key, out var list))
        {
            list = [];
            _watchers[key] = list;
        }

        var registration = new Registration(this, key, watcher);
        list.Add(registration);
        if (_values.TryGetValue(key, out var value))
        {
            _callbacks.Enqueue(() => registration.Deliver(w => w.OnChanged(value)));
        }
        else if (_missing.Contains(key))
        {
            _callbacks.Enqueue(() => registration.Deliver(static w => w.OnResourceDoesNotExist()));
        }

        return registration;
    }

    /// <summary>The names of <paramref name="type"/> with at least one watcher, sorted.</summary>
    public IReadOnlyList<string> Watched(XdsResourceType type) =>
        [.. _watchers.Where(w => w.Key.TypeUrl == type.TypeUrl && w.Value.Count > 0).Select(w => w.Key.Name).Order(StringComparer.Ordinal)];

    /// <summary>Decodes <paramref name="message"/> with <paramref name="type"/> and delivers it (or the decode error) to its watchers.</summary>
    public void Set(XdsResourceType type, IMessage message)
    {
        var result = type.Decode(Any.Pack(message));
        Assert.That(result.Name, Is.Not.Null, "the test resource should have a name");
        var key = (type.TypeUrl, result.Name!);
        if (result.Error is { } error)
        {
            Broadcast(key, w => w.OnError(error));
        }
        else
        {
            _values[key] = result.Resource!;
            _missing.Remove(key);
            Broadcast(key, w => w.OnChanged(result.Resource!));
        }

        Flush();
    }

    /// <summary>Sets several resources in order, then flushes once.</summary>
    public void SetAll(XdsResourceType type, params IMessage[] messages)
    {
        foreach (var message in messages)
        {
            Set(type, message);
        }
    }

    /// <summary>The resource does not exist (deleted, or the does-not-exist timer fired).</summary>
    public void Remove(XdsResourceType type, string name)
    {
        var key = (type.TypeUrl, name);
        _values.Remove(key);
        _missing.Add(key);
        Broadcast(key, static w => w.OnResourceDoesNotExist());
        Flush();
    }

    /// <summary>An error for the resource (a NACKed update, or the stream failed).</summary>
    public void Fail(XdsResourceType type, string name, string error)
    {
        Broadcast((type.TypeUrl, name), w => w.OnError(error));
        Flush();
    }

    /// <summary>Delivers every queued callback, including those queued by the deliveries themselves.</summary>
    public void Flush()
    {
        while (_callbacks.TryDequeue(out var callback))
        {
            callback();
        }
    }

    private void Broadcast((string, string) key, Action<IXdsResourceWatcher> callback)
    {
        if (_watchers.TryGetValue(key, out var list))
        {
            foreach (var registration in list.ToList())
            {
                _callbacks.Enqueue(() => registration.Deliver(callback));
            }
        }
    }

    private sealed class Registration(ResourceWatchSourceFake owner, (string, string) key, IXdsResourceWatcher watcher) : IDisposable
    {
        private bool _disposed;

        public void Deliver(Action<IXdsResourceWatcher> callback)
        {
            if (!_disposed)
            {
                callback(watcher);
            }
        }

        public void Dispose()
        {
            _disposed = true;
            owner._watchers[key].Remove(this);
        }
    }
}

/// <summary>Mesh states and snapshots built by Mesh.Core (the real builder, every built-in policy).</summary>
internal static class ResourceMesh
{
    /// <summary>Builds a snapshot from translated options; the result's runtime (outlier detection timers) is stopped.</summary>
    public static MeshBuildResult Build(MeshOptions options)
    {
        LoadBalancingPolicy[] policies = [new RoundRobinPolicy(), new RandomPolicy(), new WeightedRoundRobinPolicy(), new WeightedRandomPolicy(), new LeastRequestPolicy(), new RingHashPolicy(), new MaglevPolicy()];
        var result = new MeshSnapshotBuilder(policies, new Random(42)).Build(options, "test", 1, new Dictionary<string, EndpointState>());
        result.Runtime.DisposeExcept(MeshRuntime.Empty);
        return result;
    }

    /// <summary>Builds a snapshot that must be valid; the failure lists the builder's errors.</summary>
    public static MeshSnapshot BuildValid(MeshOptions options)
    {
        var result = Build(options);
        Assert.That(result.Errors, Is.Empty, "the translated options should build a valid snapshot");
        return result.Snapshot!;
    }

    /// <summary>A state fed by <paramref name="source"/>, created as AddMesh() creates it (the source starts now).</summary>
    public static (ServiceProvider Provider, MeshState State) Create(IMeshConfigSource source)
    {
        var services = new ServiceCollection();
        services.AddMesh();
        services.AddSingleton(new MeshRandom(new Random(7)));
        services.AddSingleton(source);
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<MeshState>());
    }
}
