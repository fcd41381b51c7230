using System.Net;
using Mesh.Identity;
using Mesh.TlsLoad.Serving;

namespace Mesh.TlsLoad.Clients;

/// <summary>One request of the resumption check: what the client presented and what the mtls listener saw.</summary>
internal sealed record PeerObservation(int Request, string PresentedSerial, string ServerSawSerial, string Resumed, string ServerValidatedPeer);

/// <summary>
/// What a resumed mTLS session means for rotation: a client with resumption allowed opens a new connection per request
/// to the mtls listener, presenting its first certificate for three requests, then (rotated) a second certificate with
/// the same SPIFFE ID for three more. The server answers with the serial number of the client certificate it has for the
/// connection, whether OpenSSL resumed the session, and the SPIFFE ID the mesh validator accepted.
/// </summary>
internal static class ResumptionCheck
{
    public static async Task<List<PeerObservation>> RunAsync(ServerPorts ports, Certificates certificates, CancellationToken cancellationToken)
    {
        var identities = new[] { certificates.ClientIdentity(), certificates.RotatedClientIdentity() };
        WorkloadIdentity current = identities[0];
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = VariantFactory.ConnectLoopbackAsync,
            UseProxy = false,
            SslOptions =
            {
                AllowTlsResume = true,
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                    certificate is System.Security.Cryptography.X509Certificates.X509Certificate2 leaf
                    && SpiffeValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, current.TrustBundle, DateTimeOffset.UtcNow).IsValid,
                LocalCertificateSelectionCallback = (_, _, _, _, _) => Volatile.Read(ref current).Certificate,
            },
        };
        using var client = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.ConnectionClose = true;
        var target = new Uri($"https://{VariantFactory.ServerName}:{ports.Mtls}{ServeCommand.PeerPath}");
        var observations = new List<PeerObservation>();
        for (var i = 1; i <= 6; i++)
        {
            if (i == 4)
            {
                Volatile.Write(ref current, identities[1]);
            }

            var body = await client.GetStringAsync(target, cancellationToken);
            var parts = body.Split('|');
            observations.Add(new PeerObservation(i, current.Certificate.SerialNumber, parts[0], parts.Length > 1 ? parts[1] : "?", parts.Length > 2 ? parts[2] : "?"));
        }

        return observations;
    }
}
