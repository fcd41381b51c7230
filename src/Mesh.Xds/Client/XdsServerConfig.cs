namespace Mesh.Xds.Client;

/// <summary>How the client secures its channel to an xDS server (the bootstrap's <c>channel_creds</c>).</summary>
internal enum XdsChannelCredentials
{
    /// <summary><c>insecure</c>: plaintext HTTP/2 (h2c).</summary>
    Insecure,

    /// <summary><c>tls</c>: TLS, the server certificate validated against the system trust store or <see cref="XdsServerConfig.RootCertificatesPem"/>.</summary>
    Tls,
}

/// <summary>One entry of the bootstrap's <c>xds_servers</c>, validated.</summary>
internal sealed class XdsServerConfig
{
    /// <summary>
    /// Deprecated by gRFC A88 and ignored: resource deletions are ignored by default now; <see cref="FailOnDataErrors"/>
    /// is the opt-out.
    /// </summary>
    public const string IgnoreResourceDeletionFeature = "ignore_resource_deletion";

    /// <summary>gRFC A88: drop a cached resource (and fail) on a data error, i.e. a NACK, a deletion or a server-reported error.</summary>
    public const string FailOnDataErrorsFeature = "fail_on_data_errors";

    /// <summary>gRFC A88: the does-not-exist timer is 30 s and its expiry is a transient error, not a deletion.</summary>
    public const string ResourceTimerIsTransientFeature = "resource_timer_indicates_transient_failure";

    public XdsServerConfig(string serverUri, Uri address, XdsChannelCredentials credentials, IReadOnlyList<string> serverFeatures)
    {
        ServerUri = serverUri;
        Address = address;
        Credentials = credentials;
        ServerFeatures = serverFeatures;
    }

    /// <summary>The <c>server_uri</c> as written, e.g. <c>dns:///xds.example.com:443</c>; names the server in logs and status.</summary>
    public string ServerUri { get; }

    /// <summary>The address for the gRPC channel: <c>http://host:port</c> (insecure) or <c>https://host:port</c> (TLS).</summary>
    public Uri Address { get; }

    public XdsChannelCredentials Credentials { get; }

    /// <summary>The roots of <c>channel_creds[].config.ca_certificate_file</c> (gRFC A65), as PEM; <see langword="null"/> for the system trust store.</summary>
    public string? RootCertificatesPem { get; init; }

    /// <summary>The <c>server_features</c>, as written.</summary>
    public IReadOnlyList<string> ServerFeatures { get; }

    /// <inheritdoc cref="FailOnDataErrorsFeature"/>
    public bool FailOnDataErrors => HasFeature(FailOnDataErrorsFeature);

    /// <inheritdoc cref="ResourceTimerIsTransientFeature"/>
    public bool ResourceTimerIsTransient => HasFeature(ResourceTimerIsTransientFeature);

    public bool HasFeature(string feature)
    {
        foreach (var f in ServerFeatures)
        {
            if (string.Equals(f, feature, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc />
    public override string ToString() => ServerUri;
}
