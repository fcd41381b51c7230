using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Authorization;
using Mesh.ControlPlane.Tests.Infrastructure;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.ControlPlane.Tests.Security.Interop;

/// <summary>
/// Certificate rotation under continuous load, through the real control plane: the CA issues certificates of a few
/// seconds (4 s asked for; the CA starts each a minute early for clock skew, so renewal at half the lifetime is already
/// due and happens at the renewal floor, about every second), and the client (HttpClient with <c>AddMesh()</c> over a
/// DestinationRule ISTIO_MUTUAL cluster) and the server (Kestrel, <c>UseMeshTls()</c>, STRICT) both keep rotating while
/// two request loops run over connections that live at most one second, so new handshakes keep happening.
/// </summary>
[NonParallelizable]
[CancelAfter(60_000)]
public sealed class CertificateRotationUnderLoadTests
{
    private static readonly TimeSpan CertificateTtl = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan LoadDuration = TimeSpan.FromSeconds(10);
    private static readonly Uri Url = new($"http://{SecureMesh.Target}/whoami");

    [Test]
    public async Task RequestLoops_ShortLivedCertificatesRotatingOnBothSides_NoFailedRequestAndNewCertificatesOnNewHandshakes()
    {
        // Arrange
        var total = Stopwatch.StartNew();
        await using var mesh = await SecureMesh.StartAsync(new Dictionary<string, string> { ["rule.yaml"] = SecureMesh.DestinationRule("ISTIO_MUTUAL", SecureMesh.BackendId) });
        await using var backend = await MeshTlsBackend.StartAsync(mesh, PeerAuthenticationMode.Strict, HttpProtocols.Http1AndHttp2, CertificateTtl);
        mesh.AddBackend(backend.Port);
        var serverSerials = new ConcurrentDictionary<string, int>();
        var clientRotations = new ConcurrentQueue<(TimeSpan At, string Serial)>();
        var serverRotations = new ConcurrentQueue<(TimeSpan At, string Serial)>();
        backend.Identity.Changed += identity => serverRotations.Enqueue((total.Elapsed, identity.Certificate.SerialNumber));
        await using var client = await MeshXdsWorkload.StartAsync(mesh, SecureMesh.FrontendToken, services => services
            .AddHttpClient("backend", c => c.Timeout = TimeSpan.FromSeconds(5))
            .AddMesh()
            .UseSocketsHttpHandler((handler, _) =>
            {
                // After the mesh configured the handler: short-lived connections, and a look at each server certificate the mesh accepted.
                handler.PooledConnectionLifetime = TimeSpan.FromSeconds(1);
                var meshValidation = handler.SslOptions.RemoteCertificateValidationCallback!;
                handler.SslOptions.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
                {
                    var accepted = meshValidation(sender, certificate, chain, errors);
                    if (accepted && certificate is not null)
                    {
                        serverSerials.AddOrUpdate(certificate.GetSerialNumberString(), 1, static (_, n) => n + 1);
                    }

                    return accepted;
                };
            }), CertificateTtl);
        client.Identity.Changed += identity => clientRotations.Enqueue((total.Elapsed, identity.Certificate.SerialNumber));
        var http = client.Services.GetRequiredService<IHttpClientFactory>().CreateClient("backend");

        // Act: two request loops for the load duration.
        var ok = 0;
        var failures = new ConcurrentQueue<string>();
        var loadStarted = total.Elapsed;
        using var stop = new CancellationTokenSource(LoadDuration);
        async Task LoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.GetAsync(Url).WaitAsync(TimeSpan.FromSeconds(10));
                    var body = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(10));
                    if (response.IsSuccessStatusCode && body == SecureMesh.FrontendId + "|tls")
                    {
                        Interlocked.Increment(ref ok);
                    }
                    else
                    {
                        failures.Enqueue($"{(int)response.StatusCode}: {body}");
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or TimeoutException)
                {
                    failures.Enqueue(Describe(e));
                }
            }
        }

        await Task.WhenAll(LoopAsync(), LoopAsync()).WaitAsync(LoadDuration + TimeSpan.FromSeconds(15));
        var loadEnded = total.Elapsed;

        // Assert
        var clientSerials = backend.ClientSerials;
        await TestContext.Out.WriteLineAsync(
            $"{ok} requests ok, {failures.Count} failed in {(loadEnded - loadStarted).TotalSeconds:F1} s; " +
            $"server saw {clientSerials.Count} client certificates ({string.Join(", ", clientSerials.Select(p => $"{p.Key[..8]}…: {p.Value}"))}); " +
            $"client saw {serverSerials.Count} server certificates ({string.Join(", ", serverSerials.Select(p => $"{p.Key[..8]}…: {p.Value}"))}); " +
            $"rotations during the load: client {clientRotations.Count(r => r.At >= loadStarted && r.At <= loadEnded)}, server {serverRotations.Count(r => r.At >= loadStarted && r.At <= loadEnded)}; " +
            $"client rotated at {string.Join(", ", clientRotations.Select(r => r.At.TotalSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))} s; " +
            $"server rotated at {string.Join(", ", serverRotations.Select(r => r.At.TotalSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))} s; test took {total.Elapsed.TotalSeconds:F1} s");
        foreach (var failure in failures.Take(10))
        {
            await TestContext.Out.WriteLineAsync("failure: " + failure);
        }

        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Empty, "no request may fail while certificates rotate");
            Assert.That(ok, Is.GreaterThan(50), "the loops kept the server busy");
            Assert.That(clientSerials, Has.Count.GreaterThanOrEqualTo(3), "the server saw new client certificates on new handshakes");
            Assert.That(serverSerials, Has.Count.GreaterThanOrEqualTo(3), "the client saw new server certificates on new handshakes");
        });
    }

    private static string Describe(Exception exception)
    {
        var text = new System.Text.StringBuilder();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            text.Append(e.GetType().Name).Append(": ").Append(e.Message).Append(" | ");
        }

        return text.ToString();
    }
}
