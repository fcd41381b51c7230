using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using Mesh.Configuration;
using Mesh.Identity;
using Mesh.LoadBalancing;
using Mesh.Resilience;
using Mesh.Routing;
using Mesh.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Model;

/// <summary>The outcome of turning <see cref="MeshOptions"/> into a <see cref="MeshSnapshot"/>: a snapshot and its runtime state, or every error found.</summary>
internal sealed record MeshBuildResult(MeshSnapshot? Snapshot, IReadOnlyList<string> Errors, MeshRuntime Runtime)
{
    public IReadOnlyDictionary<string, EndpointState> EndpointStates => Runtime.Endpoints;
}

/// <summary>
/// The runtime state beside a snapshot, kept across snapshots where it still applies: endpoint states by
/// address, cluster states by name (while their settings are unchanged), rate limiters by owner (likewise),
/// and the outlier detectors of the snapshot (new with each snapshot; ejections live in endpoint states).
/// </summary>
internal sealed class MeshRuntime
{
    public static MeshRuntime Empty { get; } = new();

    public Dictionary<string, EndpointState> Endpoints { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The endpoint models built, by configured address: an unchanged endpoint reuses its model in the next build.</summary>
    public Dictionary<string, EndpointModel> Models { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, ClusterState> Clusters { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, RateLimiterState> RateLimiters { get; } = new(StringComparer.Ordinal);

    public List<OutlierDetector> Detectors { get; } = [];

    /// <summary>Endpoints of services without outlier detection, whose ejections end when this runtime's snapshot is accepted.</summary>
    public List<EndpointModel> Unejected { get; } = [];

    /// <summary>Stops what this runtime owns and <paramref name="next"/> does not keep.</summary>
    public void DisposeExcept(MeshRuntime next)
    {
        foreach (var detector in Detectors)
        {
            if (!next.Detectors.Contains(detector))
            {
                detector.Dispose();
            }
        }

        foreach (var (key, limiter) in RateLimiters)
        {
            if (!next.RateLimiters.TryGetValue(key, out var kept) || !ReferenceEquals(kept, limiter))
            {
                limiter.Dispose();
            }
        }
    }
}

/// <summary>
/// Validates <see cref="MeshOptions"/> and builds the immutable model in one pass, collecting every
/// error with its path, value and what would be valid. Runs off the request path; the result is
/// published whole or not at all.
/// </summary>
internal sealed class MeshSnapshotBuilder
{
    private const string Root = "Mesh:Services";
    private static readonly Lazy<MeshTelemetry> DetachedTelemetry = new(() => new MeshTelemetry(new DetachedMeterFactory()));
    private readonly FrozenDictionary<string, LoadBalancingPolicy> _policies;
    private readonly Random _random;
    private readonly TimeProvider _time;
    private readonly MeshTelemetry _telemetry;
    private readonly ILoggerFactory _loggers;

    public MeshSnapshotBuilder(IEnumerable<LoadBalancingPolicy> policies, Random random)
        : this(policies, random, TimeProvider.System, DetachedTelemetry.Value, NullLoggerFactory.Instance)
    {
    }

    public MeshSnapshotBuilder(IEnumerable<LoadBalancingPolicy> policies, Random random, TimeProvider time, MeshTelemetry telemetry, ILoggerFactory loggers)
    {
        _policies = policies.GroupBy(p => p.Name, StringComparer.OrdinalIgnoreCase)
            .ToFrozenDictionary(g => g.Key, g => g.Last(), StringComparer.OrdinalIgnoreCase);
        _random = random;
        _time = time;
        _telemetry = telemetry;
        _loggers = loggers;
    }

    public IEnumerable<string> PolicyNames => _policies.Keys.Order(StringComparer.Ordinal);

    /// <summary>Builds a snapshot; endpoints whose address is in <paramref name="previousStates"/> keep their runtime state.</summary>
    public MeshBuildResult Build(MeshOptions options, string source, long version, IReadOnlyDictionary<string, EndpointState> previousStates)
    {
        var previous = new MeshRuntime();
        foreach (var (key, state) in previousStates)
        {
            previous.Endpoints[key] = state;
        }

        return Build(options, source, version, previous);
    }

    /// <summary>Builds a snapshot, reusing what still applies of <paramref name="previous"/>.</summary>
    public MeshBuildResult Build(MeshOptions options, string source, long version, MeshRuntime previous)
    {
        var runtime = new MeshRuntime();
        var result = Build(options, source, version, previous, runtime);
        if (result.Snapshot is null)
        {
            // Nothing of a rejected build may keep running: stop what it started.
            runtime.DisposeExcept(previous);
        }
        else
        {
            // Only an accepted build may change endpoint state: without outlier detection nothing stays ejected.
            foreach (var endpoint in runtime.Unejected)
            {
                Volatile.Write(ref endpoint.State.Outlier.Ejected, false);
            }
        }

        return result;
    }

    private MeshBuildResult Build(MeshOptions options, string source, long version, MeshRuntime previous, MeshRuntime runtime)
    {
        var errors = new List<string>(options.ReadErrors);
        var clusters = new Dictionary<string, ClusterModel>(StringComparer.Ordinal);
        var hostOwners = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var ownClusters = new Dictionary<string, (ClusterModel Cluster, Dictionary<string, ClusterModel> Subsets)>(StringComparer.OrdinalIgnoreCase);
        var namedClusters = BuildNamedClusters(options, previous, runtime, errors);
        foreach (var (name, cluster) in namedClusters)
        {
            clusters[name] = cluster;
        }

        foreach (var (name, service) in options.Services)
        {
            var path = $"{Root}:{name}";
            if (service is null)
            {
                errors.Add($"{path}: the service has no settings; give it Endpoints or Routes");
                continue;
            }

            ClaimHost(name, name, path, hostOwners, errors);
            for (var i = 0; i < service.Hosts.Count; i++)
            {
                ClaimHost(service.Hosts[i], name, $"{path}:Hosts[{i}]", hostOwners, errors);
            }

            var endpoints = BuildEndpoints(service, path, previous, runtime, errors);
            var (policy, hashPolicy, hashSettings) = ResolvePolicy(service.LoadBalancer, $"{path}:LoadBalancer", errors);
            var resilience = ClusterResilienceSettings.Create(service, path, errors);
            var detector = CreateDetector(name, service, endpoints, path, runtime, errors);
            var tls = ClientTlsPolicy.Create(service.Tls, $"{path}:Tls", errors);
            var family = new List<ClusterModel>();
            var cluster = CreateCluster(name, endpoints, policy, hashPolicy, hashSettings, resilience, tls, detector, previous, runtime);
            if (namedClusters.ContainsKey(name))
            {
                errors.Add($"{path}: the service's cluster is named '{name}', which Mesh:Clusters also defines; rename the named cluster");
            }

            family.Add(cluster);
            clusters[cluster.Name] = cluster;
            var subsets = new Dictionary<string, ClusterModel>(StringComparer.Ordinal);
            foreach (var (subsetName, selector) in service.Subsets)
            {
                var subsetPath = $"{path}:Subsets:{subsetName}";
                if (selector is null || selector.Count == 0)
                {
                    errors.Add($"{subsetPath}: a subset must select at least one label, e.g. \"{subsetName}\": {{ \"version\": \"{subsetName}\" }}");
                    continue;
                }

                var members = endpoints.Where(e => selector.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToImmutableArray();
                var subset = CreateCluster($"{name}/{subsetName}", members, policy, hashPolicy, hashSettings, resilience, tls, detector, previous, runtime);
                family.Add(subset);
                subsets[subsetName] = subset;
                clusters[subset.Name] = subset;
            }

            if (detector is not null)
            {
                // Ejections are per endpoint; every cluster of the service rebuilds its picker when they change.
                detector.EjectionsChanged += () => family.ForEach(static c => c.RefreshPicker());
            }

            ownClusters[name] = (cluster, subsets);
        }

        var servicesByHost = new Dictionary<string, ServiceModel>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, service) in options.Services)
        {
            if (service is null || !ownClusters.TryGetValue(name, out var own))
            {
                continue;
            }

            var path = $"{Root}:{name}";
            var routes = BuildRoutes(name, service, path, own.Cluster, ownClusters, namedClusters, hostOwners, options, previous, runtime, errors);
            var hosts = ImmutableArray.Create(name).AddRange(service.Hosts.Where(h => !string.IsNullOrWhiteSpace(h) && !string.Equals(h, name, StringComparison.OrdinalIgnoreCase)).Distinct(StringComparer.OrdinalIgnoreCase));
            var serviceLimit = CreateRateLimiter(name, RateLimitSettings.Create(service.RateLimit, $"{path}:RateLimit", errors), previous, runtime);
            var model = new ServiceModel(name, hosts, routes, serviceLimit);
            foreach (var host in hosts)
            {
                servicesByHost[host] = model;
            }
        }

        if (errors.Count > 0)
        {
            return new MeshBuildResult(null, errors, runtime);
        }

        return new MeshBuildResult(new MeshSnapshot(version, source, servicesByHost, clusters), errors, runtime);
    }

    private Dictionary<string, ClusterModel> BuildNamedClusters(MeshOptions options, MeshRuntime previous, MeshRuntime runtime, List<string> errors)
    {
        var result = new Dictionary<string, ClusterModel>(StringComparer.Ordinal);
        foreach (var (name, cluster) in options.Clusters)
        {
            var path = $"Mesh:Clusters:{name}";
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add($"{path}: a cluster needs a name that is not blank");
                continue;
            }

            if (cluster is null)
            {
                errors.Add($"{path}: the cluster has no settings; give it Endpoints");
                continue;
            }

            // A named cluster is validated and built exactly as a service's own cluster.
            var settings = new ServiceOptions
            {
                LoadBalancer = cluster.LoadBalancer,
                ConnectionPool = cluster.ConnectionPool,
                OutlierDetection = cluster.OutlierDetection,
                CircuitBreaker = cluster.CircuitBreaker,
                SlowCallBreaker = cluster.SlowCallBreaker,
                Tls = cluster.Tls,
            };
            settings.Endpoints.AddRange(cluster.Endpoints);
            var endpoints = BuildEndpoints(settings, path, previous, runtime, errors);
            var (policy, hashPolicy, hashSettings) = ResolvePolicy(cluster.LoadBalancer, $"{path}:LoadBalancer", errors);
            var resilience = ClusterResilienceSettings.Create(settings, path, errors);
            var detector = CreateDetector(name, settings, endpoints, path, runtime, errors);
            var tls = ClientTlsPolicy.Create(cluster.Tls, $"{path}:Tls", errors);
            var model = CreateCluster(name, endpoints, policy, hashPolicy, hashSettings, resilience, tls, detector, previous, runtime);
            if (detector is not null)
            {
                detector.EjectionsChanged += model.RefreshPicker;
            }

            result[name] = model;
        }

        return result;
    }

    private static void ClaimHost(string host, string service, string path, Dictionary<string, string> owners, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(host) || Uri.CheckHostName(host) == UriHostNameType.Unknown)
        {
            errors.Add($"{path} = '{host}': must be a host name such as 'backend' or 'backend.shop.svc.cluster.local' (no scheme, port or path)");
            return;
        }

        if (owners.TryGetValue(host, out var owner) && !string.Equals(owner, service, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{path} = '{host}': the host already belongs to service '{owner}'; a host can name only one service");
            return;
        }

        owners[host] = service;
    }

    private static ImmutableArray<EndpointModel> BuildEndpoints(ServiceOptions service, string path, MeshRuntime previousRuntime, MeshRuntime runtime, List<string> errors)
    {
        var previous = previousRuntime.Endpoints;
        var states = runtime.Endpoints;
        var endpoints = ImmutableArray.CreateBuilder<EndpointModel>(service.Endpoints.Count);
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        long totalWeight = 0;
        for (var i = 0; i < service.Endpoints.Count; i++)
        {
            var endpoint = service.Endpoints[i];
            if (endpoint is null)
            {
                errors.Add($"{path}:Endpoints[{i.ToString(CultureInfo.InvariantCulture)}]: an endpoint needs at least an Address");
                continue;
            }

            // An endpoint as it was last time (an xDS update that changed one of a thousand) keeps its model: no URI to
            // parse, no labels to freeze. Its settings were valid then, so they are valid now.
            if (endpoint.Address is { } configured
                && previousRuntime.Models.TryGetValue(configured, out var unchanged)
                && IsSame(unchanged, endpoint)
                && previous.TryGetValue(unchanged.Key, out var keptState)
                && ReferenceEquals(keptState, unchanged.State))
            {
                if (seen.TryGetValue(unchanged.Key, out var firstIndex))
                {
                    errors.Add($"{path}:Endpoints[{i.ToString(CultureInfo.InvariantCulture)}]:Address = '{configured}': duplicates Endpoints[{firstIndex.ToString(CultureInfo.InvariantCulture)}]; list each endpoint once and use Weight for a larger share");
                    continue;
                }

                seen[unchanged.Key] = i;
                totalWeight += unchanged.Weight;
                states[unchanged.Key] = keptState;
                runtime.Models[configured] = unchanged;
                endpoints.Add(unchanged);
                continue;
            }

            var endpointPath = $"{path}:Endpoints[{i.ToString(CultureInfo.InvariantCulture)}]";

            var valid = true;
            if (!TryParseAddress(endpoint.Address, out var address))
            {
                errors.Add(endpoint.Address is null
                    ? $"{endpointPath}:Address: is required, e.g. \"http://127.0.0.1:5001\""
                    : $"{endpointPath}:Address = '{endpoint.Address}': must be an absolute http or https URI with a host, an optional port and no path, e.g. \"http://127.0.0.1:5001\"");
                valid = false;
            }

            if (endpoint.Weight < 1)
            {
                errors.Add($"{endpointPath}:Weight = {endpoint.Weight.ToString(CultureInfo.InvariantCulture)}: must be >= 1");
                valid = false;
            }

            if (!Enum.IsDefined(endpoint.Health))
            {
                errors.Add($"{endpointPath}:Health = {endpoint.Health}: must be one of {string.Join(", ", Enum.GetNames<EndpointHealth>())}");
                valid = false;
            }

            if (!valid)
            {
                continue;
            }

            var key = address!.GetLeftPart(UriPartial.Authority);
            if (seen.TryGetValue(key, out var first))
            {
                errors.Add($"{endpointPath}:Address = '{endpoint.Address}': duplicates Endpoints[{first.ToString(CultureInfo.InvariantCulture)}]; list each endpoint once and use Weight for a larger share");
                continue;
            }

            seen[key] = i;
            totalWeight += endpoint.Weight;
            if (!states.TryGetValue(key, out var state))
            {
                state = previous.TryGetValue(key, out var kept) ? kept : new EndpointState();
                states[key] = state;
            }

            var model = new EndpointModel(address, endpoint.Labels.ToFrozenDictionary(StringComparer.Ordinal), endpoint.Weight, endpoint.Locality, endpoint.Health, state, endpoint.Workload);
            runtime.Models[endpoint.Address!] = model;
            endpoints.Add(model);
        }

        if (totalWeight > uint.MaxValue)
        {
            errors.Add($"{path}:Endpoints: the weights add up to {totalWeight.ToString(CultureInfo.InvariantCulture)}; the sum must be <= {uint.MaxValue.ToString(CultureInfo.InvariantCulture)}");
        }

        return endpoints.ToImmutable();
    }

    /// <summary>Whether a model built earlier has exactly the endpoint's settings.</summary>
    private static bool IsSame(EndpointModel model, EndpointOptions endpoint)
    {
        if (model.Weight != endpoint.Weight || model.Health != endpoint.Health || !string.Equals(model.Locality, endpoint.Locality, StringComparison.Ordinal)
            || model.Labels.Count != endpoint.Labels.Count || model.Workload != endpoint.Workload)
        {
            return false;
        }

        foreach (var (name, value) in endpoint.Labels)
        {
            if (!model.Labels.TryGetValue(name, out var existing) || !string.Equals(existing, value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryParseAddress(string? value, out Uri? address)
    {
        address = null;
        if (string.IsNullOrWhiteSpace(value) || !Uri.TryCreate(value, UriKind.Absolute, out var uri))
        {
            return false;
        }

        if ((uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.AbsolutePath != "/" || uri.Query.Length > 0
            || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0 || uri.Host.Length == 0)
        {
            return false;
        }

        address = uri;
        return true;
    }

    private (LoadBalancingPolicy Policy, RequestHashPolicy? Hash, (int MinRing, int MaxRing, int Table) Settings) ResolvePolicy(LoadBalancerOptions? options, string path, List<string> errors)
    {
        var defaults = (LoadBalancingDefaults.MinimumRingSize, LoadBalancingDefaults.MaximumRingSize, LoadBalancingDefaults.MaglevTableSize);
        var fallback = _policies[LoadBalancingDefaults.DefaultPolicy];
        if (options is null)
        {
            return (fallback, null, defaults);
        }

        var policy = fallback;
        if (!string.IsNullOrEmpty(options.Policy) && !_policies.TryGetValue(options.Policy, out policy))
        {
            errors.Add($"{path}:Policy = '{options.Policy}': unknown load-balancing policy; valid policies are {string.Join(", ", PolicyNames)}");
            policy = fallback;
        }

        var hash = options.ConsistentHash;
        if (hash is null)
        {
            if (policy.RequiresRequestHash)
            {
                errors.Add($"{path}:Policy = '{policy.Name}': needs ConsistentHash with one of HttpHeaderName, HttpCookieName or HttpQueryParameterName");
            }

            return (policy, null, defaults);
        }

        var hashPath = $"{path}:ConsistentHash";
        var sources = new List<RequestHashPolicy>();
        if (!string.IsNullOrWhiteSpace(hash.HttpHeaderName))
        {
            sources.Add(new RequestHashPolicy(RequestHashSource.Header, hash.HttpHeaderName));
        }

        if (!string.IsNullOrWhiteSpace(hash.HttpCookieName))
        {
            sources.Add(new RequestHashPolicy(RequestHashSource.Cookie, hash.HttpCookieName));
        }

        if (!string.IsNullOrWhiteSpace(hash.HttpQueryParameterName))
        {
            sources.Add(new RequestHashPolicy(RequestHashSource.QueryParameter, hash.HttpQueryParameterName));
        }

        if (sources.Count != 1)
        {
            errors.Add($"{hashPath}: set exactly one of HttpHeaderName, HttpCookieName or HttpQueryParameterName (found {sources.Count.ToString(CultureInfo.InvariantCulture)})");
        }

        if (!policy.RequiresRequestHash)
        {
            errors.Add($"{hashPath}: is used only by hashing policies, but Policy is '{policy.Name}'; set Policy to {LoadBalancingDefaults.RingHash} or {LoadBalancingDefaults.Maglev}, or remove ConsistentHash");
        }

        var sizeErrors = errors.Count;
        if (hash.MinimumRingSize < 1 || hash.MinimumRingSize > LoadBalancingDefaults.MaximumRingSize)
        {
            errors.Add($"{hashPath}:MinimumRingSize = {hash.MinimumRingSize.ToString(CultureInfo.InvariantCulture)}: must be between 1 and {LoadBalancingDefaults.MaximumRingSize.ToString(CultureInfo.InvariantCulture)}");
        }

        if (hash.MaximumRingSize < hash.MinimumRingSize || hash.MaximumRingSize > LoadBalancingDefaults.MaximumRingSize)
        {
            errors.Add($"{hashPath}:MaximumRingSize = {hash.MaximumRingSize.ToString(CultureInfo.InvariantCulture)}: must be between MinimumRingSize ({hash.MinimumRingSize.ToString(CultureInfo.InvariantCulture)}) and {LoadBalancingDefaults.MaximumRingSize.ToString(CultureInfo.InvariantCulture)}");
        }

        if (hash.TableSize > 5_000_011 || !MaglevPolicy.IsPrime(hash.TableSize))
        {
            errors.Add($"{hashPath}:TableSize = {hash.TableSize.ToString(CultureInfo.InvariantCulture)}: must be a prime no larger than 5000011, e.g. 65537 (the default) or 131071");
        }

        // Invalid sizes are reported above and the snapshot is discarded, but its pickers are still built: build them
        // with the defaults, since a non-prime Maglev table never fills (the build hangs), a table of 0 or 1 divides
        // by zero, and an unchecked ring size can ask for billions of entries.
        return (policy, sources.Count == 1 ? sources[0] : null, errors.Count == sizeErrors ? (hash.MinimumRingSize, hash.MaximumRingSize, hash.TableSize) : defaults);
    }

    private ClusterModel CreateCluster(
        string name,
        ImmutableArray<EndpointModel> endpoints,
        LoadBalancingPolicy policy,
        RequestHashPolicy? hash,
        (int MinRing, int MaxRing, int Table) settings,
        ClusterResilienceSettings resilience,
        ClientTlsPolicy? tls,
        OutlierDetector? detector,
        MeshRuntime previous,
        MeshRuntime runtime)
    {
        if (!previous.Clusters.TryGetValue(name, out var state) || state.Settings != resilience)
        {
            state = new ClusterState(name, resilience, _time, _telemetry, _loggers.CreateLogger<ClusterState>());
        }

        runtime.Clusters[name] = state;
        var random = _random;
        var (minRing, maxRing, table) = (settings.MinRing, Math.Max(settings.MinRing, settings.MaxRing), settings.Table);
        return new ClusterModel(
            name,
            endpoints,
            policy.Name,
            candidates => policy.CreatePicker(new LoadBalancingContext(name, candidates, random, minRing, maxRing, table)),
            hash,
            state,
            detector)
        {
            Tls = tls,
        };
    }

    private OutlierDetector? CreateDetector(string service, ServiceOptions options, ImmutableArray<EndpointModel> endpoints, string path, MeshRuntime runtime, List<string> errors)
    {
        var settings = OutlierDetectionSettings.Create(options.OutlierDetection, $"{path}:OutlierDetection", errors);
        if (settings is null)
        {
            // Without outlier detection nothing may stay ejected from an earlier configuration (once the build is accepted).
            runtime.Unejected.AddRange(endpoints);
            return null;
        }

        var detector = new OutlierDetector(service, settings, endpoints, _time, _random, _telemetry, _loggers.CreateLogger<OutlierDetector>());
        runtime.Detectors.Add(detector);
        return detector;
    }

    private RateLimiterState? CreateRateLimiter(string key, RateLimitSettings? settings, MeshRuntime previous, MeshRuntime runtime)
    {
        if (settings is null)
        {
            return null;
        }

        if (!previous.RateLimiters.TryGetValue(key, out var limiter) || limiter.Settings != settings)
        {
            limiter = new RateLimiterState(settings, _time);
        }

        runtime.RateLimiters[key] = limiter;
        return limiter;
    }

    private ImmutableArray<RouteModel> BuildRoutes(
        string name,
        ServiceOptions service,
        string path,
        ClusterModel own,
        Dictionary<string, (ClusterModel Cluster, Dictionary<string, ClusterModel> Subsets)> clusters,
        Dictionary<string, ClusterModel> namedClusters,
        Dictionary<string, string> hostOwners,
        MeshOptions options,
        MeshRuntime previous,
        MeshRuntime runtime,
        List<string> errors)
    {
        if (service.Routes.Count == 0)
        {
            if (own.Endpoints.IsEmpty)
            {
                errors.Add($"{path}: has no Endpoints and no Routes; add Endpoints, or Routes whose Destinations name another Host");
            }

            return [new RouteModel("default", [], [(own, 1)], _random)];
        }

        var routes = ImmutableArray.CreateBuilder<RouteModel>(service.Routes.Count);
        string? catchAll = null;
        for (var r = 0; r < service.Routes.Count; r++)
        {
            var route = service.Routes[r];
            var routePath = $"{path}:Routes[{r}]";
            if (route is null)
            {
                errors.Add($"{routePath}: a route needs Destinations");
                continue;
            }

            if (catchAll is not null)
            {
                errors.Add($"{routePath}: can never match because {catchAll} has no Match and takes every request; put the catch-all route last");
            }

            var matches = ImmutableArray.CreateBuilder<RouteMatch>(route.Match.Count);
            for (var m = 0; m < route.Match.Count; m++)
            {
                if (BuildMatch(route.Match[m], $"{routePath}:Match[{m}]", errors) is { } match)
                {
                    matches.Add(match);
                }
            }

            if (route.Match.Count == 0)
            {
                catchAll = $"Routes[{r}]";
            }

            var destinations = BuildDestinations(name, route, routePath, clusters, namedClusters, hostOwners, options, errors);
            var routeName = route.Name ?? $"routes[{r}]";
            var policy = RoutePolicy.Create(route, routePath, errors);
            var limiter = CreateRateLimiter($"{name}/{routeName}", policy.RateLimit, previous, runtime);
            routes.Add(new RouteModel(routeName, matches.ToImmutable(), destinations, _random, policy, limiter));
        }

        return routes.ToImmutable();
    }

    private static ImmutableArray<(ClusterModel, int)> BuildDestinations(
        string service,
        RouteOptions route,
        string routePath,
        Dictionary<string, (ClusterModel Cluster, Dictionary<string, ClusterModel> Subsets)> clusters,
        Dictionary<string, ClusterModel> namedClusters,
        Dictionary<string, string> hostOwners,
        MeshOptions options,
        List<string> errors)
    {
        if (route.Destinations.Count == 0)
        {
            errors.Add($"{routePath}:Destinations: at least one destination is required, e.g. [ {{ \"Subset\": \"v1\" }} ]");
            return [];
        }

        var weighted = route.Destinations.Count(d => d?.Weight is not null);
        if (weighted != 0 && weighted != route.Destinations.Count)
        {
            errors.Add($"{routePath}:Destinations: {weighted.ToString(CultureInfo.InvariantCulture)} of {route.Destinations.Count.ToString(CultureInfo.InvariantCulture)} destinations have a Weight; give every destination a Weight, or none for an equal split");
        }

        var result = ImmutableArray.CreateBuilder<(ClusterModel, int)>(route.Destinations.Count);
        long total = 0;
        for (var d = 0; d < route.Destinations.Count; d++)
        {
            var destination = route.Destinations[d];
            var destinationPath = $"{routePath}:Destinations[{d}]";
            if (destination is null)
            {
                errors.Add($"{destinationPath}: a destination needs a Subset, a Host or a Cluster");
                continue;
            }

            var weight = destination.Weight ?? 1;
            if (weight < 0)
            {
                errors.Add($"{destinationPath}:Weight = {weight.ToString(CultureInfo.InvariantCulture)}: must be >= 0");
                continue;
            }

            if (destination.Cluster is not null)
            {
                if (destination.Host is not null || destination.Subset is not null)
                {
                    errors.Add($"{destinationPath}:Cluster = '{destination.Cluster}': names a cluster, so Host and Subset must be omitted");
                }
                else if (!namedClusters.TryGetValue(destination.Cluster, out var named))
                {
                    var hint = namedClusters.Keys.Order(StringComparer.Ordinal).ToList();
                    errors.Add($"{destinationPath}:Cluster = '{destination.Cluster}': no such cluster; {(hint.Count == 0 ? "Mesh:Clusters defines none" : "known clusters are " + string.Join(", ", hint))}");
                }
                else
                {
                    // An empty named cluster is valid (an xDS cluster can be scaled to zero): its requests fail as having no usable endpoint.
                    total += weight;
                    result.Add((named, weight));
                }

                continue;
            }

            total += weight;
            var host = string.IsNullOrEmpty(destination.Host) ? service : destination.Host;

            // A destination may name a service by any of its hosts.
            host = hostOwners.GetValueOrDefault(host, host);
            if (!clusters.TryGetValue(host, out var target))
            {
                var hint = options.Services.Keys.Order(StringComparer.Ordinal).ToList();
                errors.Add($"{destinationPath}:Host = '{destination.Host}': no such service; known services are {(hint.Count == 0 ? "(none)" : string.Join(", ", hint))}");
                continue;
            }

            var cluster = target.Cluster;
            if (!string.IsNullOrEmpty(destination.Subset))
            {
                if (!target.Subsets.TryGetValue(destination.Subset, out var subset))
                {
                    var known = target.Subsets.Keys.Order(StringComparer.Ordinal).ToList();
                    errors.Add($"{destinationPath}:Subset = '{destination.Subset}': service '{host}' has no such subset; {(known.Count == 0 ? "it defines no Subsets" : "its subsets are " + string.Join(", ", known))}");
                    continue;
                }

                cluster = subset;
            }

            if (cluster.Endpoints.IsEmpty && weight > 0)
            {
                errors.Add(string.IsNullOrEmpty(destination.Subset)
                    ? $"{destinationPath}: service '{host}' has no Endpoints to send to"
                    : $"{destinationPath}:Subset = '{destination.Subset}': selects none of the endpoints of service '{host}'; check the subset's labels against the endpoints' Labels");
                continue;
            }

            result.Add((cluster, weight));
        }

        if (total == 0 && route.Destinations.Count > 0)
        {
            errors.Add($"{routePath}:Destinations: the weights add up to 0; at least one destination needs a Weight > 0");
        }

        if (total > uint.MaxValue)
        {
            errors.Add($"{routePath}:Destinations: the weights add up to {total.ToString(CultureInfo.InvariantCulture)}; the sum must be <= {uint.MaxValue.ToString(CultureInfo.InvariantCulture)}");
        }

        return result.ToImmutable();
    }

    private static RouteMatch? BuildMatch(RouteMatchOptions? match, string path, List<string> errors)
    {
        if (match is null)
        {
            errors.Add($"{path}: an empty match; remove it, or remove Match altogether to match every request");
            return null;
        }

        var count = errors.Count;
        StringMatcher? pathMatcher = null;
        var pathKinds = (match.Path is null ? 0 : 1) + (match.PathPrefix is null ? 0 : 1) + (match.PathRegex is null ? 0 : 1);
        if (pathKinds > 1)
        {
            errors.Add($"{path}: set only one of Path, PathPrefix and PathRegex");
        }
        else if (match.Path is not null)
        {
            pathMatcher = RequireSlash(match.Path, $"{path}:Path", errors) ? StringMatcher.Exact(match.Path) : null;
        }
        else if (match.PathPrefix is not null)
        {
            pathMatcher = RequireSlash(match.PathPrefix, $"{path}:PathPrefix", errors) ? StringMatcher.Prefix(match.PathPrefix) : null;
        }
        else if (match.PathRegex is not null)
        {
            pathMatcher = CompileRegex(match.PathRegex, false, $"{path}:PathRegex", errors);
        }

        string? method = null;
        if (match.Method is not null)
        {
            if (match.Method.Length == 0 || !match.Method.All(c => char.IsAsciiLetter(c) || c == '-' || c == '_'))
            {
                errors.Add($"{path}:Method = '{match.Method}': must be an HTTP method such as GET, POST, PUT or DELETE");
            }
            else
            {
                method = match.Method.ToUpperInvariant();
            }
        }

        var headers = BuildConditions(match.Headers, $"{path}:Headers", errors);
        var query = BuildConditions(match.QueryParams, $"{path}:QueryParams", errors);
        return errors.Count == count ? new RouteMatch(pathMatcher, method, headers, query) : null;
    }

    private static bool RequireSlash(string value, string path, List<string> errors)
    {
        if (value.StartsWith('/'))
        {
            return true;
        }

        errors.Add($"{path} = '{value}': must start with '/', e.g. '/{value}'");
        return false;
    }

    private static ImmutableArray<(string, StringMatcher)> BuildConditions(Dictionary<string, StringMatchOptions> conditions, string path, List<string> errors)
    {
        var result = ImmutableArray.CreateBuilder<(string, StringMatcher)>(conditions.Count);
        foreach (var (name, condition) in conditions)
        {
            if (BuildStringMatcher(condition, $"{path}:{name}", errors) is { } matcher)
            {
                result.Add((name, matcher));
            }
        }

        return result.ToImmutable();
    }

    internal static StringMatcher? BuildStringMatcher(StringMatchOptions? options, string path, List<string> errors)
    {
        const string Kinds = "Exact, Prefix, Suffix, Regex, Present: true or Absent: true";
        if (options is null)
        {
            errors.Add($"{path}: set exactly one of {Kinds}");
            return null;
        }

        var set = (options.Exact is null ? 0 : 1) + (options.Prefix is null ? 0 : 1) + (options.Suffix is null ? 0 : 1)
            + (options.Regex is null ? 0 : 1) + (options.Present is null ? 0 : 1) + (options.Absent is null ? 0 : 1);
        if (set != 1)
        {
            errors.Add($"{path}: set exactly one of {Kinds} (found {set.ToString(CultureInfo.InvariantCulture)})");
            return null;
        }

        if (options.Present is false || options.Absent is false)
        {
            errors.Add($"{path}: Present and Absent can only be true; use Absent: true instead of Present: false, and the reverse");
            return null;
        }

        if (options.Exact is not null)
        {
            return StringMatcher.Exact(options.Exact, options.IgnoreCase);
        }

        if (options.Prefix is not null)
        {
            return StringMatcher.Prefix(options.Prefix, options.IgnoreCase);
        }

        if (options.Suffix is not null)
        {
            return StringMatcher.Suffix(options.Suffix, options.IgnoreCase);
        }

        if (options.Regex is not null)
        {
            return CompileRegex(options.Regex, options.IgnoreCase, $"{path}:Regex", errors);
        }

        return options.Present is true ? StringMatcher.Present() : StringMatcher.Absent();
    }

    private static StringMatcher? CompileRegex(string pattern, bool ignoreCase, string path, List<string> errors)
    {
        try
        {
            return StringMatcher.FromRegex(pattern, ignoreCase);
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{path} = '{pattern}': not a valid regular expression ({ex.Message}); backreferences and lookarounds are not supported");
            return null;
        }
        catch (NotSupportedException ex)
        {
            errors.Add($"{path} = '{pattern}': not supported by the non-backtracking engine ({ex.Message}); backreferences and lookarounds are not supported");
            return null;
        }
    }
}

/// <summary>A meter factory for builders used outside dependency injection (tests, tools): its meters have no listeners unless one subscribes.</summary>
internal sealed class DetachedMeterFactory : System.Diagnostics.Metrics.IMeterFactory
{
    public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options) => new(options);

    public void Dispose()
    {
    }
}
