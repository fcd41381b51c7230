namespace Mesh.Xds.Server;

/// <summary>Short names of type URLs for messages and logs.</summary>
internal static class XdsTypeNames
{
    /// <summary><c>type.googleapis.com/envoy.config.cluster.v3.Cluster</c> → <c>Cluster</c>.</summary>
    public static string ShortName(string typeUrl)
    {
        var dot = typeUrl.LastIndexOf('.');
        var slash = typeUrl.LastIndexOf('/');
        var start = Math.Max(dot, slash) + 1;
        return start < typeUrl.Length ? typeUrl[start..] : typeUrl;
    }

    /// <summary>
    /// Whether a state-of-the-world response of the type carries every subscribed resource, so that a resource missing
    /// from it is deleted (listeners and clusters), rather than only the resources that changed.
    /// </summary>
    public static bool IsFullStateInSotW(string typeUrl) =>
        typeUrl is XdsResourceSnapshot.ListenerTypeUrl or XdsResourceSnapshot.ClusterTypeUrl;
}
