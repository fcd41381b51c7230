using System.Net;
using Mesh.Telemetry;

namespace Mesh.Http;

/// <summary>
/// A response body of unknown length, passed through unchanged while its bytes are counted for Istio's
/// <c>istio_response_bytes</c>: recorded once, when the body has been read to its end or the response is disposed
/// (then the bytes read so far, as Envoy reports a reset stream).
/// </summary>
internal sealed class IstioCountingContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly IstioMetrics.PendingResponse _pending;
    private long _bytes;

    public IstioCountingContent(HttpContent inner, IstioMetrics.PendingResponse pending)
    {
        _inner = inner;
        _pending = pending;
        foreach (var header in inner.Headers.NonValidated)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        await SerializeToStreamAsync(stream, context, CancellationToken.None).ConfigureAwait(false);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var source = await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            await new CountingStream(source, this).CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override async Task<Stream> CreateContentReadStreamAsync() =>
        new CountingStream(await _inner.ReadAsStreamAsync().ConfigureAwait(false), this);

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
        new CountingStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), this);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
        new CountingStream(_inner.ReadAsStream(cancellationToken), this);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _pending.Complete(Interlocked.Read(ref _bytes));
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Add(int count) => Interlocked.Add(ref _bytes, count);

    private void End() => _pending.Complete(Interlocked.Read(ref _bytes));

    /// <summary>Reads through to the body, counting; the end of the body records the size.</summary>
    private sealed class CountingStream(Stream inner, IstioCountingContent owner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count), count);

        public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer), buffer.Length);

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Counted(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false), count);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false), buffer.Length);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                owner.End();
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private int Counted(int read, int requested)
        {
            if (read > 0)
            {
                owner.Add(read);
            }
            else if (requested > 0)
            {
                owner.End();
            }

            return read;
        }
    }
}
