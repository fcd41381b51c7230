using System.Diagnostics;
using Mesh.Model;
using Mesh.Telemetry;

namespace Mesh.Http;

/// <summary>
/// The mesh in an <c>HttpClient</c> pipeline: resolves the request's host to a mesh service, picks a
/// route, a destination cluster and an endpoint, sends the request there, and reports the outcome to
/// the endpoint's state and to telemetry. Hosts the mesh does not know pass through (or fail, if configured).
/// </summary>
internal sealed class MeshHttpHandler : DelegatingHandler
{
    private readonly MeshState _state;
    private readonly MeshTelemetry _telemetry;
    private readonly MeshHttpOptions _options;
    private readonly TimeProvider _time;

    public MeshHttpHandler(MeshState state, MeshTelemetry telemetry, MeshHttpOptions options, TimeProvider time)
    {
        _state = state;
        _telemetry = telemetry;
        _options = options;
        _time = time;
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var uri = request.RequestUri;
        if (uri is null || !uri.IsAbsoluteUri)
        {
            return base.SendAsync(request, cancellationToken);
        }

        var snapshot = _state.Current;
        if (!snapshot.TryGetService(uri.Host, out var service))
        {
            return _options.UnknownHost == UnknownHostBehavior.PassThrough
                ? base.SendAsync(request, cancellationToken)
                : throw Failure(new MeshException(uri.Host, MeshFailureReason.UnknownService, $"'{uri.Host}' is not a mesh service (snapshot v{snapshot.Version} from {snapshot.Source} knows {string.Join(", ", snapshot.Services.Select(s => s.Name))}); add it to the mesh configuration or set UnknownHost to PassThrough."));
        }

        var view = new HttpRequestView(request);
        var route = service.SelectRoute(ref view)
            ?? throw Failure(new MeshException(service.Name, MeshFailureReason.NoRoute, $"No route of service '{service.Name}' matches {request.Method} {uri.AbsolutePath}; add a route without Match as the last route to catch the rest."));
        var cluster = route.PickCluster();
        var endpoint = cluster.Pick(ref view)
            ?? throw Failure(new MeshException(service.Name, MeshFailureReason.NoUsableEndpoint, $"Service '{service.Name}' (route '{route.Name}') cannot send: {cluster.DescribeUnavailability()}."));

        return SendToEndpointAsync(request, uri, service, route, cluster, endpoint, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendToEndpointAsync(
        HttpRequestMessage request,
        Uri logicalUri,
        ServiceModel service,
        RouteModel route,
        ClusterModel cluster,
        EndpointModel endpoint,
        CancellationToken cancellationToken)
    {
        request.RequestUri = new Uri(string.Concat(endpoint.Key, logicalUri.PathAndQuery), UriKind.Absolute);
        if (_options.PreserveHost && request.Headers.Host is null)
        {
            request.Headers.Host = logicalUri.Authority;
        }

        using var activity = MeshTelemetry.ActivitySource.StartActivity("mesh.request", ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.DisplayName = $"{request.Method.Method} {service.Name}";
            activity.SetTag(MeshTelemetry.Tags.Service, service.Name);
            activity.SetTag(MeshTelemetry.Tags.Route, route.Name);
            activity.SetTag(MeshTelemetry.Tags.Cluster, cluster.Name);
            activity.SetTag(MeshTelemetry.Tags.ServerAddress, endpoint.Host);
            activity.SetTag(MeshTelemetry.Tags.ServerPort, endpoint.Port);
        }

        var state = endpoint.State;
        var start = _time.GetTimestamp();
        state.OnRequestStarted();
        var statusCode = 0;
        string? errorType = null;
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            statusCode = (int)response.StatusCode;
            return response;
        }
        catch (Exception ex)
        {
            errorType = ex is OperationCanceledException ? "cancelled" : ex.GetType().FullName;
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }
        finally
        {
            var elapsed = _time.GetElapsedTime(start);
            state.OnRequestCompleted(elapsed);
            Record(request, service, route, cluster, endpoint, statusCode, errorType, elapsed, activity);
        }
    }

    private void Record(HttpRequestMessage request, ServiceModel service, RouteModel route, ClusterModel cluster, EndpointModel endpoint, int statusCode, string? errorType, TimeSpan elapsed, Activity? activity)
    {
        if (statusCode != 0)
        {
            activity?.SetTag(MeshTelemetry.Tags.StatusCode, MeshTelemetry.StatusCode(statusCode));
        }

        var duration = _telemetry.RequestDuration;
        var requests = _telemetry.Requests;
        if (!duration.Enabled && !requests.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { MeshTelemetry.Tags.Service, service.Name },
            { MeshTelemetry.Tags.Route, route.Name },
            { MeshTelemetry.Tags.Cluster, cluster.Name },
            { MeshTelemetry.Tags.Method, request.Method.Method },
        };
        if (statusCode != 0)
        {
            tags.Add(MeshTelemetry.Tags.StatusCode, MeshTelemetry.StatusCode(statusCode));
        }

        if (errorType is not null)
        {
            tags.Add(MeshTelemetry.Tags.ErrorType, errorType);
        }

        if (_options.RecordEndpointInMetrics)
        {
            tags.Add(MeshTelemetry.Tags.ServerAddress, endpoint.Host);
            tags.Add(MeshTelemetry.Tags.ServerPort, endpoint.Port);
        }

        duration.Record(elapsed.TotalSeconds, tags);
        requests.Add(1, tags);
    }

    private static HttpRequestException Failure(MeshException inner) => new(inner.Message, inner);
}
