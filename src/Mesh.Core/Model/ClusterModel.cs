using System.Collections.Immutable;
using Mesh.Identity;
using Mesh.LoadBalancing;
using Mesh.Resilience;
using Mesh.Routing;

namespace Mesh.Model;

/// <summary>
/// A set of interchangeable endpoints and the policy that picks among them (a service's endpoints, or
/// one of its subsets). The endpoint list is immutable; the picker is rebuilt (and swapped atomically)
/// when outlier detection ejects or returns an endpoint, so picks never see a half-updated list.
/// </summary>
public sealed class ClusterModel
{
    private readonly Func<ImmutableArray<EndpointModel>, EndpointPicker> _createPicker;
    private readonly Lock _refreshLock = new();
    private EndpointPicker _picker = EmptyPicker.Instance;
    private ImmutableArray<EndpointModel> _candidates = [];
    private int _candidatesVersion;

    internal ClusterModel(
        string name,
        ImmutableArray<EndpointModel> endpoints,
        string policyName,
        Func<ImmutableArray<EndpointModel>, EndpointPicker> createPicker,
        RequestHashPolicy? hashPolicy,
        ClusterState state,
        OutlierDetector? detector)
    {
        Name = name;
        Endpoints = endpoints;
        PolicyName = policyName;
        _createPicker = createPicker;
        HashPolicy = hashPolicy;
        State = state;
        Detector = detector;
        var usable = 0;
        foreach (var endpoint in endpoints)
        {
            usable += endpoint.IsUsable ? 1 : 0;
        }

        UsableCount = usable;
        RefreshPicker();
    }

    /// <summary>The cluster name, e.g. <c>backend</c> or <c>backend/v1</c>.</summary>
    public string Name { get; }

    /// <summary>All endpoints, usable or not.</summary>
    public ImmutableArray<EndpointModel> Endpoints { get; }

    /// <summary>The endpoint at <paramref name="host"/>:<paramref name="port"/>, or <see langword="null"/>; a linear search, for rare events such as a new connection.</summary>
    public EndpointModel? FindEndpoint(string host, int port)
    {
        foreach (var endpoint in Endpoints)
        {
            if (endpoint.Port == port && string.Equals(endpoint.Host, host, StringComparison.OrdinalIgnoreCase))
            {
                return endpoint;
            }
        }

        return null;
    }

    /// <summary>How many endpoints take traffic by their source health (ejections aside).</summary>
    public int UsableCount { get; }

    /// <summary>How connections to the endpoints are secured, or <see langword="null"/> for plaintext.</summary>
    public ClientTlsPolicy? Tls { get; init; }

    /// <summary>The load-balancing policy's name.</summary>
    public string PolicyName { get; }

    /// <summary>Whether too many endpoints are ejected, so ejections are ignored (Envoy's panic mode).</summary>
    public bool IsInPanic { get; private set; }

    internal EndpointPicker Picker => Volatile.Read(ref _picker);

    /// <summary>The endpoints the current picker picks among (usable, not ejected unless in panic).</summary>
    internal ImmutableArray<EndpointModel> Candidates => _candidates;

    /// <summary>Changes whenever <see cref="Candidates"/> are rebuilt, so a transport's own pickers know when theirs are stale.</summary>
    internal int CandidatesVersion => Volatile.Read(ref _candidatesVersion);

    /// <summary>Builds a picker of the cluster's policy over other candidates (a transport's reachable subset).</summary>
    internal EndpointPicker CreatePicker(ImmutableArray<EndpointModel> candidates)
    {
        try
        {
            return _createPicker(candidates);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or OverflowException)
        {
            return EmptyPicker.Instance;
        }
    }

    internal RequestHashPolicy? HashPolicy { get; }

    /// <summary>Connection-pool admission, retry accounting and breakers; kept across snapshots.</summary>
    internal ClusterState State { get; }

    /// <summary>The service's outlier detector, shared by the service cluster and its subsets.</summary>
    internal OutlierDetector? Detector { get; }

    /// <summary>Picks an endpoint for a request, or returns <see langword="null"/> when none is usable.</summary>
    public EndpointModel? Pick<TRequest>(ref TRequest request)
        where TRequest : IMeshRequest, allows ref struct
    {
        var context = CreatePickContext(ref request);
        return Picker.Pick(in context);
    }

    /// <summary>Picks an endpoint with a prepared context.</summary>
    internal EndpointModel? Pick(in PickContext context) => Picker.Pick(in context);

    /// <summary>The request's pick input (its hash, for consistent-hash policies).</summary>
    internal PickContext CreatePickContext<TRequest>(ref TRequest request)
        where TRequest : IMeshRequest, allows ref struct =>
        HashPolicy is null ? default : new PickContext(HashPolicy.ComputeHash(ref request));

    /// <summary>
    /// Rebuilds the picker over the endpoints that take traffic now: usable by source health and not
    /// ejected, unless fewer than the panic threshold remain, when ejections are ignored. Source health
    /// (unhealthy, draining) is always honoured, as in gRPC.
    /// </summary>
    internal void RefreshPicker()
    {
        lock (_refreshLock)
        {
            var usable = Endpoints.Where(e => e.IsUsable).ToImmutableArray();
            var candidates = usable;
            var panic = false;
            if (Detector is { } detector)
            {
                var healthy = usable.Where(e => !e.State.IsEjected).ToImmutableArray();
                var threshold = detector.Settings.PanicThresholdPercent;
                panic = usable.Length > 0 && 100L * healthy.Length < (long)threshold * usable.Length;
                candidates = panic ? usable : healthy;
            }

            IsInPanic = panic;

            // A failing custom policy must not take the mesh down; the cluster then reports no usable endpoint.
            var picker = CreatePicker(candidates);
            _candidates = candidates;
            Volatile.Write(ref _picker, picker);
            Interlocked.Increment(ref _candidatesVersion);
        }
    }

    /// <summary>Explains why no endpoint can be picked, for error messages.</summary>
    internal string DescribeUnavailability()
    {
        if (Endpoints.IsEmpty)
        {
            return $"cluster '{Name}' has no endpoints";
        }

        // Ordered as EndpointHealth (unknown, healthy, unhealthy, draining), ejected ones last.
        var counts = new SortedDictionary<int, (string Name, int Count)>();
        foreach (var endpoint in Endpoints)
        {
            var ejected = endpoint.IsUsable && endpoint.State.IsEjected;
            var key = ejected ? int.MaxValue : (int)endpoint.Health;
            var name = ejected ? "ejected" : endpoint.Health.ToString().ToLowerInvariant();
            counts[key] = (name, counts.GetValueOrDefault(key).Count + 1);
        }

        return $"cluster '{Name}' has {Endpoints.Length} endpoint(s), none usable ({string.Join(", ", counts.Values.Select(c => $"{c.Count} {c.Name}"))})";
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({UsableCount}/{Endpoints.Length} usable, {PolicyName})";
}
