using Grpc.Net.Client;

namespace Mesh.Xds.Client;

/// <summary>Tuning of an <see cref="XdsClient"/>; the defaults are gRPC's. Tests shorten the times and supply the channel.</summary>
internal sealed class XdsClientOptions
{
    /// <summary>How long a requested resource may stay unanswered on a connected stream before it is reported as not existing (15 s, per the xDS protocol).</summary>
    public TimeSpan ResourceDoesNotExistTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The resource timer with the <c>resource_timer_indicates_transient_failure</c> server feature (30 s, gRFC A88).</summary>
    public TimeSpan TransientResourceTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The first delay before retrying a failed ADS stream (1 s).</summary>
    public TimeSpan BackoffInitial { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The growth of the delay per failed attempt (1.6).</summary>
    public double BackoffMultiplier { get; init; } = 1.6;

    /// <summary>The random spread of each delay, as a fraction (0.2: ± 20 %).</summary>
    public double BackoffJitter { get; init; } = 0.2;

    /// <summary>The longest delay before the jitter (120 s).</summary>
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>The randomness of the backoff jitter; <see cref="Random.Shared"/> when null. Seed it for exact tests.</summary>
    public Random? Random { get; init; }

    /// <summary>Creates the channel to the xDS server; <see cref="XdsChannelFactory.Create"/> when null.</summary>
    public Func<XdsServerConfig, GrpcChannel>? ChannelFactory { get; init; }
}
