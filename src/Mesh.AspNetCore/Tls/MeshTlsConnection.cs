using System.Buffers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Mesh.Authorization;
using Mesh.Identity;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tls;

/// <summary>
/// The Kestrel side of mesh mTLS for one listener: sorts new connections into TLS and plaintext by their first
/// byte according to the current PeerAuthentication mode, and builds each TLS handshake's options from the
/// current workload identity, so a rotated certificate or trust bundle applies to the next connection.
/// </summary>
internal sealed partial class MeshTlsConnection
{
    /// <summary>The first byte of every TLS connection: the record type of a handshake message.</summary>
    private const byte TlsHandshakeRecord = 0x16;

    private static readonly List<SslApplicationProtocol> Http1AndHttp2 = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];
    private static readonly List<SslApplicationProtocol> Http2Only = [SslApplicationProtocol.Http2];
    private static readonly List<SslApplicationProtocol> Http1Only = [SslApplicationProtocol.Http11];

    private readonly IWorkloadIdentityProvider _identity;
    private readonly IServerPolicySource _policy;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    private readonly Func<HttpProtocols> _protocols;

    public MeshTlsConnection(
        IWorkloadIdentityProvider identity,
        IServerPolicySource policy,
        TimeProvider time,
        ILogger<MeshTlsConnection> logger,
        TimeSpan handshakeTimeout,
        Func<HttpProtocols> protocols)
    {
        _protocols = protocols;
        _identity = identity;
        _policy = policy;
        _time = time;
        _logger = logger;
        HandshakeTimeout = handshakeTimeout;
    }

    public TimeSpan HandshakeTimeout { get; }

    /// <summary>The connection middleware in front of Kestrel's HTTPS middleware.</summary>
    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate tls, ConnectionDelegate plaintext)
    {
        var mode = _policy.Current.PeerAuthentication;
        if (mode == PeerAuthenticationMode.Disable)
        {
            await plaintext(connection).ConfigureAwait(false);
            return;
        }

        int first;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            timeout.CancelAfter(HandshakeTimeout);
            try
            {
                var input = connection.Transport.Input;
                var result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                first = FirstByte(result.Buffer);

                // Only look: the TLS or HTTP layer reads the same bytes again.
                input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
            }
            catch (OperationCanceledException)
            {
                Log.NoFirstByte(_logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString(), HandshakeTimeout);
                return;
            }
        }

        if (first < 0)
        {
            return;
        }

        if (first == TlsHandshakeRecord)
        {
            await tls(connection).ConfigureAwait(false);
        }
        else if (mode == PeerAuthenticationMode.Strict)
        {
            Log.PlaintextRejected(_logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString());
        }
        else
        {
            await plaintext(connection).ConfigureAwait(false);
        }
    }

    /// <summary>Kestrel's per-handshake callback: the current certificate and a validator for the current bundle.</summary>
    public ValueTask<SslServerAuthenticationOptions> OnHandshakeAsync(TlsHandshakeCallbackContext context)
    {
        var identity = _identity.Current;
        if (identity is null)
        {
            Log.NoIdentity(_logger, context.Connection.ConnectionId, _identity.LastError ?? "not obtained yet");
            throw new AuthenticationException("The workload has no identity yet, so it cannot serve TLS.");
        }

        var strict = _policy.Current.PeerAuthentication == PeerAuthenticationMode.Strict;
        var peer = new MeshPeerFeature();
        context.Connection.Features.Set(peer);
        var validator = new PeerValidator(this, identity, strict, peer, context.Connection.ConnectionId);
        return ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = identity.CertificateContext,
            ApplicationProtocols = _protocols() switch
            {
                HttpProtocols.Http2 => Http2Only,
                HttpProtocols.Http1 => Http1Only,
                _ => Http1AndHttp2,
            },

            // Asks for a certificate in every mode; only STRICT rejects a client that sends none.
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = validator.Validate,
        });
    }

    private static int FirstByte(ReadOnlySequence<byte> buffer) => buffer.IsEmpty ? -1 : buffer.FirstSpan.IsEmpty ? buffer.Slice(0, 1).ToArray()[0] : buffer.FirstSpan[0];

    /// <summary>Checks one connection's client certificate as an X509-SVID against the bundle of its handshake.</summary>
    private sealed class PeerValidator(MeshTlsConnection owner, WorkloadIdentity identity, bool strict, MeshPeerFeature peer, string connectionId)
    {
        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            try
            {
                if (certificate is null)
                {
                    if (strict)
                    {
                        Log.NoClientCertificate(owner._logger, connectionId);
                        return false;
                    }

                    return true;
                }

                // The platform's chain errors are expected (the mesh roots are not in the system store); the SVID rules decide.
                var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                // Besides what the client sent, the server's own intermediates: workloads of a trust domain share its
                // CA, and .NET clients that pick their certificate per handshake send the leaf alone.
                var intermediates = new X509Certificate2Collection(identity.Intermediates);
                if (chain is not null)
                {
                    intermediates.AddRange(chain.ChainPolicy.ExtraStore);
                }

                var result = SpiffeValidator.Validate(leaf, intermediates, identity.TrustBundle, owner._time.GetUtcNow());
                if (!result.IsValid)
                {
                    Log.ClientCertificateRejected(owner._logger, connectionId, result.Error!);
                    return false;
                }

                peer.PeerId = result.SpiffeId;
                return true;
            }
            catch (Exception ex)
            {
                Log.ValidationFailed(owner._logger, connectionId, ex);
                return false;
            }
        }
    }
}
