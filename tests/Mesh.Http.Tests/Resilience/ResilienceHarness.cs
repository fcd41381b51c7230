using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mesh.Configuration;
using Mesh.Http.Tests.Infrastructure;
using Mesh.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Http.Tests.Resilience;

/// <summary>Mesh clients for the resilience tests: one service <c>backend</c> over the given endpoints, optionally one catch-all route with policies.</summary>
internal static class ResilienceMesh
{
    public const string RouteName = "resilient";

    /// <summary>
    /// A mesh whose service <c>backend</c> has <paramref name="endpoints"/> and, when <paramref name="route"/> is given,
    /// one catch-all route named <see cref="RouteName"/> that it configures (routes carry the timeouts, retries, hedging and faults).
    /// </summary>
    public static MeshClient Create(
        IEnumerable<string> endpoints,
        Action<RouteOptions>? route = null,
        Action<ServiceOptions>? service = null,
        Action<MeshHttpOptions>? http = null,
        Action<IServiceCollection>? services = null) =>
        MeshClient.Create(
            o =>
            {
                var backend = new ServiceOptions();
                foreach (var address in endpoints)
                {
                    backend.Endpoints.Add(new EndpointOptions { Address = address });
                }

                if (route is not null)
                {
                    var options = new RouteOptions { Name = RouteName, Destinations = { new DestinationOptions() } };
                    route(options);
                    backend.Routes.Add(options);
                }

                service?.Invoke(backend);
                o.Services["backend"] = backend;
            },
            http,
            services);

    public static MeshClient Create(IEnumerable<FaultyBackend> endpoints, Action<RouteOptions>? route = null, Action<ServiceOptions>? service = null, Action<MeshHttpOptions>? http = null, Action<IServiceCollection>? services = null) =>
        Create(endpoints.Select(e => e.Address), route, service, http, services);

    public static Meter Meter(this MeshClient mesh) => mesh.Services.GetRequiredService<MeshTelemetry>().Meter;

    public static IMeterFactory MeterFactory(this MeshClient mesh) => mesh.Services.GetRequiredService<IMeterFactory>();
}

/// <summary>What one request through the mesh ended with, as the caller saw it.</summary>
internal sealed record RequestResult(int Status, string? Backend, string? LocalReply, Exception? Error, TimeSpan Elapsed)
{
    public bool Succeeded => Error is null && Status is >= 200 and < 300;

    /// <summary>The <see cref="MeshException"/> inside the <see cref="HttpRequestException"/>, if the mesh refused the request.</summary>
    public MeshException? MeshFailure => (Error as HttpRequestException)?.InnerException as MeshException;
}

/// <summary>Sends a fixed number of requests from concurrent loops and keeps every result.</summary>
internal static class Load
{
    public static async Task<RequestResult[]> RunAsync(HttpClient client, int requests, int concurrency, Func<HttpRequestMessage>? create = null)
    {
        var results = new RequestResult[requests];
        var next = -1;
        var loops = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            loops[i] = Task.Run(async () =>
            {
                int index;
                while ((index = Interlocked.Increment(ref next)) < requests)
                {
                    results[index] = await SendAsync(client, create?.Invoke() ?? new HttpRequestMessage(HttpMethod.Get, "/work"));
                }
            });
        }

        await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(60));
        return results;
    }

    /// <summary>Sends one request (and disposes it); exceptions become results, so loops keep going.</summary>
    public static async Task<RequestResult> SendAsync(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                using var response = await client.SendAsync(request).WaitAsync(Timeouts.Default);
                return new RequestResult(
                    (int)response.StatusCode,
                    response.Headers.TryGetValues(FaultyBackend.IdHeader, out var id) ? id.Single() : null,
                    response.Headers.TryGetValues(MeshHttpHandler.LocalReplyHeader, out var reply) ? reply.Single() : null,
                    null,
                    Stopwatch.GetElapsedTime(start));
            }
            catch (Exception ex)
            {
                return new RequestResult(0, null, null, ex, Stopwatch.GetElapsedTime(start));
            }
        }
    }

    public static double SuccessRate(IReadOnlyCollection<RequestResult> results) => (double)results.Count(r => r.Succeeded) / results.Count;

    /// <summary>The nearest-rank percentile of the requests' latencies, in milliseconds.</summary>
    public static double PercentileMilliseconds(IEnumerable<RequestResult> results, double percentile)
    {
        var sorted = results.Select(r => r.Elapsed.TotalMilliseconds).Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Every backend's attempt count now, in order.</summary>
    public static int[] Attempts(IReadOnlyList<FaultyBackend> backends) => [.. backends.Select(b => b.Attempts)];
}

/// <summary>
/// Runs a callback synchronously whenever one mesh instrument records, on the thread that recorded it:
/// the way to catch the exact moment of an ejection without polling.
/// </summary>
internal sealed class InstrumentHook : IDisposable
{
    private readonly MeterListener _listener = new();

    public InstrumentHook(Meter meter, string instrument, Action<long> onMeasurement)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (ReferenceEquals(i.Meter, meter) && i.Name == instrument)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => onMeasurement(value));
        _listener.Start();
    }

    public void Dispose() => _listener.Dispose();
}
