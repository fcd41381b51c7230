namespace Mesh.Xds.Client;

/// <summary>
/// Receives the updates of one watched resource. The client calls its watchers one at a time, never
/// concurrently, in the order updates arrive (grpc-go's serializer), so a watcher needs no locking.
/// </summary>
internal interface IXdsResourceWatcher
{
    /// <summary>The resource has a new valid value (the decoded resource of its <see cref="Resources.XdsResourceType"/>).</summary>
    void OnChanged(object resource);

    /// <summary>The server says the resource does not exist, or did not send it within the does-not-exist timeout.</summary>
    void OnResourceDoesNotExist();

    /// <summary>
    /// An update of the resource was rejected (NACKed), or the stream failed; any value received before stays
    /// valid and should keep being used.
    /// </summary>
    void OnError(string error);
}
