using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Mesh.Http.Security;
using Mesh.Identity;
using Mesh.Model;
using Mesh.Resilience;
using Mesh.Telemetry;

namespace Mesh.Http;

/// <summary>
/// The mesh in an <c>HttpClient</c> pipeline: resolves the request's host to a mesh service, picks a
/// route and a destination cluster, then hands the request to the resilience pipeline, which picks an
/// endpoint for every attempt, sends it there and reports the outcome. Hosts the mesh does not know
/// pass through (or fail, if configured).
/// </summary>
internal sealed class MeshHttpHandler : DelegatingHandler, IAttemptTransport<HttpRequestMessage, HttpResponseMessage>
{
    private static readonly HttpRequestOptionsKey<EndpointModel> AnsweringEndpoint = new("Mesh.Endpoint");

    /// <summary>Set when the caller's message carried trace context headers of its own, which every attempt keeps.</summary>
    private static readonly HttpRequestOptionsKey<bool> CallerPropagation = new("Mesh.CallerPropagation");

    /// <summary>Set for a TLS cluster that shares endpoints with clusters of other TLS settings (<see cref="ClientTlsSni"/>).</summary>
    private static readonly HttpRequestOptionsKey<string> OwnSniSuffix = new("Mesh.TlsSniSuffix");

    private readonly MeshState _state;
    private readonly MeshTelemetry _telemetry;
    private readonly MeshHttpOptions _options;
    private readonly TimeProvider _time;
    private readonly ResilientExecutor<HttpRequestMessage, HttpResponseMessage> _executor;
    private readonly IstioMetrics? _istio;
    private readonly IWorkloadIdentityProvider? _identity;

    /// <summary>Set once a request went to a cluster with TLS: until then no attempt looks for TLS settings on its message.</summary>
    private volatile bool _tlsInUse;

    /// <summary>Whether the primary handler was configured for mesh TLS: 0 not yet checked, 1 yes, 2 no.</summary>
    private int _tlsReady;

    public MeshHttpHandler(MeshState state, MeshTelemetry telemetry, MeshHttpOptions options, TimeProvider time, Random? random = null, IstioMetrics? istio = null, IWorkloadIdentityProvider? identity = null)
    {
        _istio = istio;
        _identity = identity;
        _state = state;
        _telemetry = telemetry;
        _options = options;
        _time = time;
        _executor = new ResilientExecutor<HttpRequestMessage, HttpResponseMessage>(this, time, random ?? Random.Shared, telemetry);
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
                : Task.FromException<HttpResponseMessage>(Failure(new MeshException(uri.Host, MeshFailureReason.UnknownService, $"'{uri.Host}' is not a mesh service (snapshot v{snapshot.Version} from {snapshot.Source} knows {string.Join(", ", snapshot.Services.Select(s => s.Name))}); add it to the mesh configuration or set UnknownHost to PassThrough.")));
        }

        var view = new HttpRequestView(request);
        var route = service.SelectRoute(ref view);
        if (route is null)
        {
            return LocalFailure(request, new MeshException(service.Name, MeshFailureReason.NoRoute, $"No route of service '{service.Name}' matches {request.Method} {uri.AbsolutePath}; add a route without Match as the last route to catch the rest."));
        }

        var cluster = route.PickCluster();
        if (cluster.Tls is not null)
        {
            if (CheckTls(service, cluster) is { } tlsFailure)
            {
                return LocalFailure(request, tlsFailure);
            }

            // Attempts (and the connections they open) find the cluster's TLS settings on the message.
            request.Options.Set(ClientTlsHandlerSetup.TlsCluster, cluster);
            if (cluster.Tls.Sni is null && ClientTlsSni.GetSuffix(snapshot, cluster) is { } sniSuffix)
            {
                request.Options.Set(OwnSniSuffix, sniSuffix);
            }

            _tlsInUse = true;
        }

        var pick = cluster.CreatePickContext(ref view);
        if (_options.PreserveHost && request.Headers.Host is null)
        {
            // Host is already parsed for the lookup above; Authority would build a new string.
            request.Headers.Host = uri.IsDefaultPort ? uri.Host : uri.Authority;
        }

        return SendThroughMeshAsync(request, service, route, cluster, pick, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendThroughMeshAsync(HttpRequestMessage request, ServiceModel service, RouteModel route, ClusterModel cluster, LoadBalancing.PickContext pick, CancellationToken cancellationToken)
    {
        using var activity = MeshTelemetry.ActivitySource.StartActivity("mesh.request", ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.DisplayName = $"{request.Method.Method} {service.Name}";
            activity.SetTag(MeshTelemetry.Tags.Service, service.Name);
            activity.SetTag(MeshTelemetry.Tags.Route, route.Name);
            activity.SetTag(MeshTelemetry.Tags.Cluster, cluster.Name);
        }

        var start = _time.GetTimestamp();
        var logicalUri = request.RequestUri!;
        if (_istio is { SendsPeerMetadata: true } istio && !request.Headers.NonValidated.Contains(IstioPeerMetadata.Header))
        {
            // Istio's metadata exchange: the server (a mesh server or a sidecar) learns which workload calls.
            request.Headers.TryAddWithoutValidation(IstioPeerMetadata.IdHeader, istio.PeerMetadataId);
            request.Headers.TryAddWithoutValidation(IstioPeerMetadata.Header, istio.PeerMetadata);
        }

        var statusCode = 0;
        string? errorType = null;
        HttpResponseMessage? response = null;
        EndpointModel? answered = null;
        try
        {
            if (ResilientExecutor<HttpRequestMessage, HttpResponseMessage>.IsSingleAttempt(service, route, cluster)
                && _executor.TryBeginAttempt(cluster, in pick, out var endpoint, out var attemptStart))
            {
                // The common case in one async method: no pipeline, no per-request objects of the mesh's own.
                AttemptOutcome outcome = default;
                try
                {
                    answered = endpoint;
                    response = await SendAttemptAsync(request, request, endpoint, 0, cluster.Tls is null ? null : cluster, cancellationToken).ConfigureAwait(false);
                    outcome = AttemptOutcome.FromStatus((int)response.StatusCode);
                }
                catch (Exception ex)
                {
                    outcome = _executor.Classify(ex, cancellationToken);
                    throw;
                }
                finally
                {
                    _executor.EndAttempt(cluster, endpoint, attemptStart, outcome);
                }
            }
            else
            {
                response = await _executor.ExecuteAsync(service, route, cluster, request, pick, IsReplayable(request.Content), IsIdempotent(request.Method), cancellationToken).ConfigureAwait(false);
            }

            statusCode = (int)response.StatusCode;
            return response;
        }
        catch (MeshException ex) when (_options.LocalFailures == LocalFailureMode.StatusCode)
        {
            response = LocalReply(request, ex);
            statusCode = (int)response.StatusCode;
            errorType = ReasonName(ex.Reason);
            return response;
        }
        catch (Exception ex)
        {
            errorType = ex is MeshException mesh ? ReasonName(mesh.Reason) : ex is OperationCanceledException ? "cancelled" : ex.GetType().FullName;
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw ex is MeshException meshException ? Failure(meshException) : ex;
        }
        finally
        {
            // The caller's message leaves the mesh with its logical address: a retry handler outside the mesh, or code
            // reading response.RequestMessage, sees it, not the endpoint the mesh picked (headers the mesh added stay).
            request.RequestUri = logicalUri;
            var elapsed = _time.GetElapsedTime(start);
            if (_istio is not null)
            {
                RecordIstio(_istio, request, response, answered, statusCode, errorType, elapsed);
            }

            Record(request, service, route, cluster, statusCode, errorType, elapsed, activity);
        }
    }

    ValueTask<HttpResponseMessage> IAttemptTransport<HttpRequestMessage, HttpResponseMessage>.SendAsync(HttpRequestMessage request, EndpointModel endpoint, int attempt, CancellationToken cancellationToken)
    {
        if (attempt == 0 && HasPropagationHeaders(request))
        {
            // Noted before the first send, whose trace context HttpClient writes into the caller's message.
            request.Options.Set(CallerPropagation, true);
        }

        // Istio's metrics label the request with the endpoint of its latest attempt (with hedging, the latest started);
        // SendAttemptAsync notes it already when the mesh's own metrics do, and the single-attempt path passes it directly.
        if (_istio is not null && !_options.RecordEndpointInMetrics)
        {
            request.Options.Set(AnsweringEndpoint, endpoint);
        }

        // A mesh without TLS clusters never reads the message's options here.
        var tls = _tlsInUse && request.Options.TryGetValue(ClientTlsHandlerSetup.TlsCluster, out var cluster) ? cluster : null;
        return new(SendAttemptAsync(request, attempt == 0 ? request : Clone(request), endpoint, attempt, tls, cancellationToken));
    }

    /// <summary>
    /// Sends one attempt to an endpoint. Attempts after the first get their own <paramref name="message"/>: a hedge
    /// runs beside the first, and a sent message's URI must not change under it.
    /// </summary>
    private Task<HttpResponseMessage> SendAttemptAsync(HttpRequestMessage request, HttpRequestMessage message, EndpointModel endpoint, int attempt, ClusterModel? tlsCluster, CancellationToken cancellationToken)
    {
        if (_options.RecordEndpointInMetrics)
        {
            request.Options.Set(AnsweringEndpoint, endpoint);
        }

        if (tlsCluster is null)
        {
            message.RequestUri = new Uri(string.Concat(endpoint.Key, request.RequestUri!.PathAndQuery), UriKind.Absolute);
        }
        else
        {
            // Always https to a TLS cluster, whatever scheme the endpoint was given with: never plaintext.
            message.RequestUri = new Uri(HttpsAddress(endpoint.Key, request.RequestUri!.PathAndQuery), UriKind.Absolute);

            // SocketsHttpHandler takes the SNI (and its connection pool key) from the Host header.
            if (tlsCluster.Tls!.Sni is { } sni)
            {
                message.Headers.Host = sni;
            }
            else if (message.Options.TryGetValue(OwnSniSuffix, out var suffix))
            {
                message.Headers.Host = ClientTlsSni.Create(endpoint.Port, suffix);
            }
        }

        var activity = MeshTelemetry.ActivitySource.StartActivity("mesh.attempt", ActivityKind.Internal);

        // Without a listener there is no span, and no reason for another async state machine.
        var send = activity is null ? base.SendAsync(message, cancellationToken) : SendTracedAsync(message, endpoint, attempt, activity, cancellationToken);
        return tlsCluster is null ? send : ExplainTlsFailureAsync(send, message, endpoint, tlsCluster);
    }

    /// <summary><c>https://host:port</c> plus the path, from an endpoint key of either scheme, as one string.</summary>
    internal static string HttpsAddress(string endpointKey, string pathAndQuery) =>
        endpointKey.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
            ? string.Concat("https://", endpointKey.AsSpan("http://".Length), pathAndQuery)
            : string.Concat(endpointKey, pathAndQuery);

    /// <summary>A rejected handshake fails with the reason the mesh rejected it for, still as a secure-connection error.</summary>
    private static async Task<HttpResponseMessage> ExplainTlsFailureAsync(Task<HttpResponseMessage> send, HttpRequestMessage message, EndpointModel endpoint, ClusterModel cluster)
    {
        try
        {
            return await send.ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            var detail = ex.InnerException?.Message ?? ex.Message;
            var text = message.Options.TryGetValue(ClientTlsHandlerSetup.OpenedConnection, out var connection)
                ? connection.Describe(detail)
                : $"TLS to endpoint {endpoint.Host}:{endpoint.Port} of cluster '{cluster.Name}' ({cluster.Tls}) failed: {detail}";
            throw new HttpRequestException(HttpRequestError.SecureConnectionError, text, ex);
        }
    }

    /// <summary>Why a request to a TLS cluster cannot be sent securely now, or <see langword="null"/>.</summary>
    private MeshException? CheckTls(ServiceModel service, ClusterModel cluster)
    {
        if (_identity is null)
        {
            return new MeshException(service.Name, MeshFailureReason.NoUsableEndpoint, $"Cluster '{cluster.Name}' of service '{service.Name}' requires {cluster.Tls}, but no workload identity provider is registered; call services.AddWorkloadIdentity(...) or services.AddFileWatcherIdentity(...) at startup. The request is not sent in plaintext.");
        }

        var ready = Volatile.Read(ref _tlsReady);
        if (ready == 0)
        {
            ready = ClientTlsHandlerSetup.IsConfigured(InnerHandler) ? 1 : 2;
            Volatile.Write(ref _tlsReady, ready);
        }

        if (ready != 1)
        {
            return new MeshException(service.Name, MeshFailureReason.NoUsableEndpoint, $"Cluster '{cluster.Name}' of service '{service.Name}' requires {cluster.Tls}, but the client's primary handler is not the SocketsHttpHandler the mesh configures; do not replace the primary handler of a mesh client after AddMesh(), or configure it with UseSocketsHttpHandler(). The request is not sent in plaintext.");
        }

        if (_identity.Current is null)
        {
            return new MeshException(service.Name, MeshFailureReason.NoUsableEndpoint, $"Cluster '{cluster.Name}' of service '{service.Name}' requires {cluster.Tls}, but the workload has no identity yet ({_identity.LastError ?? "the provider has not obtained one yet, and reports no error"}). The request is not sent in plaintext.");
        }

        return null;
    }

    private async Task<HttpResponseMessage> SendTracedAsync(HttpRequestMessage message, EndpointModel endpoint, int attempt, Activity activity, CancellationToken cancellationToken)
    {
        using var _ = activity;
        if (activity.IsAllDataRequested)
        {
            activity.SetTag(MeshTelemetry.Tags.ServerAddress, endpoint.Host);
            activity.SetTag(MeshTelemetry.Tags.ServerPort, endpoint.Port);
            activity.SetTag("mesh.attempt", attempt);
        }

        try
        {
            var response = await base.SendAsync(message, cancellationToken).ConfigureAwait(false);
            if (activity.IsAllDataRequested)
            {
                activity.SetTag(MeshTelemetry.Tags.StatusCode, MeshTelemetry.StatusCode((int)response.StatusCode));
            }

            return response;
        }
        catch (Exception ex)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }
    }

    AttemptOutcome IAttemptTransport<HttpRequestMessage, HttpResponseMessage>.Classify(HttpResponseMessage response) => AttemptOutcome.FromStatus((int)response.StatusCode);

    AttemptFailure IAttemptTransport<HttpRequestMessage, HttpResponseMessage>.Classify(Exception exception) => ClassifyException(exception);

    HttpResponseMessage IAttemptTransport<HttpRequestMessage, HttpResponseMessage>.CreateLocalReply(HttpRequestMessage request, FaultPolicy fault) =>
        new((HttpStatusCode)fault.AbortStatus)
        {
            RequestMessage = request,
            Content = new StringContent("fault injected by the mesh"),
            Headers = { { LocalReplyHeader, "fault" } },
        };

    /// <summary>The header on responses the mesh made itself (faults, and local failures in <see cref="LocalFailureMode.StatusCode"/> mode).</summary>
    internal const string LocalReplyHeader = "x-mesh-local-reply";

    internal static AttemptFailure ClassifyException(Exception exception)
    {
        if (exception is HttpRequestException http)
        {
            switch (http.HttpRequestError)
            {
                case HttpRequestError.NameResolutionError:
                case HttpRequestError.ConnectionError when !HasSocketError(http, SocketError.ConnectionReset):
                case HttpRequestError.SecureConnectionError:
                    return AttemptFailure.ConnectFailure;
                case HttpRequestError.ResponseEnded:
                case HttpRequestError.HttpProtocolError:
                case HttpRequestError.InvalidResponse:
                case HttpRequestError.ConnectionError:
                    return AttemptFailure.Reset;
            }
        }

        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is IOException or SocketException)
            {
                return AttemptFailure.Reset;
            }
        }

        return AttemptFailure.Other;
    }

    private static bool HasSocketError(Exception exception, SocketError error)
    {
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket && socket.SocketErrorCode == error)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether the body can be sent again: none, or a buffered kind the platform re-serializes on every send.</summary>
    internal static bool IsReplayable(HttpContent? content) => content switch
    {
        null => true,
        ByteArrayContent or ReadOnlyMemoryContent or JsonContent => true,
        MultipartContent multipart => multipart.All(IsReplayable),
        _ => false,
    };

    /// <summary>Idempotent methods (RFC 9110 9.2.2) may be hedged.</summary>
    internal static bool IsIdempotent(HttpMethod method) =>
        method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Options || method == HttpMethod.Trace || method == HttpMethod.Put || method == HttpMethod.Delete;

    private static HttpRequestMessage Clone(HttpRequestMessage source)
    {
        var clone = new HttpRequestMessage(source.Method, source.RequestUri)
        {
            Version = source.Version,
            VersionPolicy = source.VersionPolicy,
            Content = source.Content,
        };
        // The first attempt's trace context, which HttpClient wrote into the caller's message, is not copied: HttpClient
        // leaves a header it finds in place, so every later attempt would carry the first one's span id instead of its own.
        var keepTraceContext = source.Options.TryGetValue(CallerPropagation, out var callerSet) && callerSet;
        var traceFields = DistributedContextPropagator.Current.Fields;
        foreach (var header in source.Headers.NonValidated)
        {
            if (keepTraceContext || !traceFields.Contains(header.Key, StringComparer.OrdinalIgnoreCase))
            {
                clone.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        var options = (IDictionary<string, object?>)clone.Options;
        foreach (var option in source.Options)
        {
            // The connection another attempt opened is not this attempt's.
            if (option.Key == ClientTlsHandlerSetup.OpenedConnection.Key)
            {
                continue;
            }

            options[option.Key] = option.Value;
        }

        return clone;
    }

    private static bool HasPropagationHeaders(HttpRequestMessage request)
    {
        foreach (var field in DistributedContextPropagator.Current.Fields)
        {
            if (request.Headers.NonValidated.Contains(field))
            {
                return true;
            }
        }

        return false;
    }

    private Task<HttpResponseMessage> LocalFailure(HttpRequestMessage request, MeshException failure) =>
        _options.LocalFailures == LocalFailureMode.StatusCode ? Task.FromResult(LocalReply(request, failure)) : Task.FromException<HttpResponseMessage>(Failure(failure));

    private static HttpResponseMessage LocalReply(HttpRequestMessage request, MeshException failure) => new(failure.Reason switch
    {
        MeshFailureReason.Timeout => HttpStatusCode.GatewayTimeout,
        MeshFailureReason.RateLimited => HttpStatusCode.TooManyRequests,
        MeshFailureReason.NoRoute => HttpStatusCode.NotFound,
        _ => HttpStatusCode.ServiceUnavailable,
    })
    {
        RequestMessage = request,
        Content = new StringContent(failure.Message),
        Headers = { { LocalReplyHeader, ReasonName(failure.Reason) } },
    };

    private static string ReasonName(MeshFailureReason reason) => reason switch
    {
        MeshFailureReason.UnknownService => "unknown_service",
        MeshFailureReason.NoRoute => "no_route",
        MeshFailureReason.NoUsableEndpoint => "no_usable_endpoint",
        MeshFailureReason.Timeout => "timeout",
        MeshFailureReason.Overflow => "overflow",
        MeshFailureReason.CircuitOpen => "circuit_open",
        _ => "rate_limited",
    };

    private void Record(HttpRequestMessage request, ServiceModel service, RouteModel route, ClusterModel cluster, int statusCode, string? errorType, TimeSpan elapsed, Activity? activity)
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
            { MeshTelemetry.Tags.Method, MethodTag(request.Method) },
        };
        if (statusCode != 0)
        {
            tags.Add(MeshTelemetry.Tags.StatusCode, MeshTelemetry.StatusCode(statusCode));
        }

        if (errorType is not null)
        {
            tags.Add(MeshTelemetry.Tags.ErrorType, errorType);
        }

        if (_options.RecordEndpointInMetrics && request.Options.TryGetValue(AnsweringEndpoint, out var endpoint))
        {
            tags.Add(MeshTelemetry.Tags.ServerAddress, endpoint.Host);
            tags.Add(MeshTelemetry.Tags.ServerPort, endpoint.Port);
        }

        duration.Record(elapsed.TotalSeconds, tags);
        requests.Add(1, tags);
    }

    /// <summary>
    /// Istio's request metrics for one logical request: the answering endpoint's workload and identity, and the body
    /// sizes. A response body of unknown length is counted as the caller reads it and recorded when it ends.
    /// </summary>
    private static void RecordIstio(IstioMetrics istio, HttpRequestMessage request, HttpResponseMessage? response, EndpointModel? answered, int statusCode, string? errorType, TimeSpan elapsed)
    {
        var endpoint = response is null || response.Headers.Contains(LocalReplyHeader) ? null
            : answered ?? (request.Options.TryGetValue(AnsweringEndpoint, out var last) ? last : null);
        var requestBytes = request.Content is null ? 0 : request.Content.Headers.ContentLength ?? -1;
        long responseBytes = response is null || HasNoBody(request.Method, statusCode) ? 0 : response.Content.Headers.ContentLength ?? -1;
        // As a client sidecar: the server's metadata exchange names the destination workload, and is not passed on.
        EndpointWorkload? answeredWorkload = null;
        if (response is not null && response.Headers.NonValidated.TryGetValues(IstioPeerMetadata.Header, out var exchanged))
        {
            answeredWorkload = istio.AnsweredWorkload(exchanged.ToString());
            response.Headers.Remove(IstioPeerMetadata.Header);
            response.Headers.Remove(IstioPeerMetadata.IdHeader);
        }

        var pending = istio.Record(request.RequestUri!.IdnHost, "http", endpoint, statusCode, null, IstioFlags(errorType), elapsed, new IstioSizes(requestBytes, responseBytes), responsePending: response is not null, answered: answeredWorkload);
        if (pending is not null)
        {
            response!.Content = new IstioCountingContent(response.Content, pending);
        }
    }

    // HEAD answers and 1xx, 204 and 304 responses carry no body, whatever Content-Length says (RFC 9110).
    private static bool HasNoBody(HttpMethod method, int statusCode) =>
        method == HttpMethod.Head || statusCode is < 200 or 204 or 304;

    // Only the failures whose Envoy flag means exactly the same thing; anything else is reported as "-".
    private static string IstioFlags(string? errorType) => errorType switch
    {
        null => "-",
        "overflow" => "UO",
        "no_route" => "NR",
        _ => "-",
    };

    private static HttpRequestException Failure(MeshException inner) => new(inner.Message, inner);

    /// <summary>The method as OpenTelemetry's HTTP conventions tag it: known methods as they are, any other as <c>_OTHER</c>.</summary>
    internal static string MethodTag(HttpMethod method) => method.Method switch
    {
        "GET" or "POST" or "PUT" or "DELETE" or "HEAD" or "OPTIONS" or "PATCH" or "TRACE" or "CONNECT" or "QUERY" => method.Method,
        _ => "_OTHER",
    };
}
