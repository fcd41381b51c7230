using Mesh.Xds.Resources;

namespace Mesh.Xds.Client;

/// <summary>
/// The watch surface of an xDS client, which is all that the configuration source needs (and what tests fake).
/// </summary>
internal interface IXdsWatchSource
{
    /// <summary>
    /// Subscribes <paramref name="watcher"/> to the resource <paramref name="name"/> of <paramref name="type"/>; a cached
    /// value is delivered at once, never inline. Dispose the result to unsubscribe. Callbacks of all watches of one
    /// source are serialized.
    /// </summary>
    IDisposable Watch(XdsResourceType type, string name, IXdsResourceWatcher watcher);
}
