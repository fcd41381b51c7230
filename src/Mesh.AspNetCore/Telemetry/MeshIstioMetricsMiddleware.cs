using System.Diagnostics;
using System.IO.Pipelines;
using Mesh.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// Istio's standard metrics for the requests this workload serves (<c>reporter="destination"</c>, as Envoy's server
/// sidecar reports them): the request and response bodies are counted as they pass (Content-Length is not
/// trusted to be the body), the gRPC status is read from the trailers, the caller is the mTLS peer and what it says
/// of itself in Istio's metadata exchange header.
/// </summary>
internal sealed class MeshIstioMetricsMiddleware(RequestDelegate next, IstioMetrics istio)
{
    private const string GrpcContentType = "application/grpc";

    public Task InvokeAsync(HttpContext context) =>
        istio.IsEnabled ? MeasureAsync(context) : next(context);

    private async Task MeasureAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var request = context.Request;

        // Istio's metadata exchange, as a server sidecar does it: the caller's metadata is taken off the request, and
        // the answer carries this workload's.
        string? peerMetadata = null;
        if (request.Headers.TryGetValue(IstioPeerMetadata.Header, out var exchanged))
        {
            peerMetadata = exchanged.ToString();
            request.Headers.Remove(IstioPeerMetadata.Header);
            request.Headers.Remove(IstioPeerMetadata.IdHeader);
            context.Response.Headers[IstioPeerMetadata.IdHeader] = istio.PeerMetadataId;
            context.Response.Headers[IstioPeerMetadata.Header] = istio.PeerMetadata;
        }

        var requestBody = new CountingStream(request.Body);
        request.Body = requestBody;
        var responseFeature = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var responseBody = new CountingResponseBody(responseFeature);
        context.Features.Set<IHttpResponseBodyFeature>(responseBody);
        var failed = false;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            context.Features.Set(responseFeature);
            request.Body = requestBody.Inner;
            var grpc = request.ContentType is { } type && type.StartsWith(GrpcContentType, StringComparison.OrdinalIgnoreCase);

            // An exception before the response started becomes a 500 after this middleware; a caller gone before it is 0, as in Envoy.
            var status = context.Response.HasStarted ? context.Response.StatusCode
                : context.RequestAborted.IsCancellationRequested ? 0
                : failed ? StatusCodes.Status500InternalServerError
                : context.Response.StatusCode;
            istio.RecordInbound(
                request.Host.Host,
                grpc ? "grpc" : "http",
                context.GetPeerIdentity(),
                peerMetadata,
                status,
                grpc ? GrpcStatus(context) : null,
                Stopwatch.GetElapsedTime(start),
                new IstioSizes(requestBody.Count, responseBody.Count));
        }
    }

    // A trailers-only answer carries grpc-status in the headers; any other in the trailers.
    private static string GrpcStatus(HttpContext context) =>
        context.Response.Headers.TryGetValue("grpc-status", out var inHeaders) ? inHeaders.ToString()
        : context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers.TryGetValue("grpc-status", out var inTrailers) == true ? inTrailers.ToString()
        : string.Empty;

    /// <summary>The response body feature, with both its stream and its pipe counted.</summary>
    private sealed class CountingResponseBody(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
    {
        private CountingStream? _stream;
        private CountingPipeWriter? _writer;
        private long _sent;

        public long Count => Interlocked.Read(ref _sent) + (_stream?.Count ?? 0);

        public Stream Stream => _stream ??= new CountingStream(inner.Stream);

        public PipeWriter Writer => _writer ??= new CountingPipeWriter(inner.Writer, this);

        public void DisableBuffering() => inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

        public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            await inner.SendFileAsync(path, offset, count, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _sent, count ?? new FileInfo(path).Length - offset);
        }

        public Task CompleteAsync() => inner.CompleteAsync();

        private void Add(long bytes) => Interlocked.Add(ref _sent, bytes);

        private sealed class CountingPipeWriter(PipeWriter writer, CountingResponseBody owner) : PipeWriter
        {
            public override bool CanGetUnflushedBytes => writer.CanGetUnflushedBytes;

            public override long UnflushedBytes => writer.UnflushedBytes;

            public override void Advance(int bytes)
            {
                owner.Add(bytes);
                writer.Advance(bytes);
            }

            public override Memory<byte> GetMemory(int sizeHint = 0) => writer.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => writer.GetSpan(sizeHint);

            public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => writer.FlushAsync(cancellationToken);

            public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
            {
                owner.Add(source.Length);
                return writer.WriteAsync(source, cancellationToken);
            }

            public override void CancelPendingFlush() => writer.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => writer.Complete(exception);

            public override ValueTask CompleteAsync(Exception? exception = null) => writer.CompleteAsync(exception);
        }
    }

    /// <summary>A stream passed through, counting what is read from or written to it.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _count;

        public Stream Inner => inner;

        public long Count => Interlocked.Read(ref _count);

        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => false;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Counted(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Counted(count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Counted(buffer.Length);
        }

        public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            await inner.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false);
            Counted(count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Counted(buffer.Length);
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private int Counted(int bytes)
        {
            Interlocked.Add(ref _count, bytes);
            return bytes;
        }
    }
}
