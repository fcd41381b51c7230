using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Identity;

/// <summary>The bound on every await in the identity tests: far longer than any test needs, so hitting it means a hang.</summary>
internal static class IdentityBound
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
}

/// <summary>A random source that always returns the same sample, so jitter is exact.</summary>
internal sealed class FixedRandom(double sample) : Random
{
    public override double NextDouble() => sample;

    protected override double Sample() => sample;
}

/// <summary>A clock at a whole second near the real time (the test roots are valid around now; certificates have whole seconds).</summary>
internal static class IdentityTestClock
{
    public static FakeTimeProvider Create()
    {
        var now = DateTimeOffset.UtcNow;
        return new FakeTimeProvider(new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, TimeSpan.Zero));
    }
}

/// <summary>
/// An in-process CA for the tests: signs each request with the test root synchronously (so a renewal runs to its
/// end inside <see cref="FakeTimeProvider.Advance"/>), the SPIFFE ID decided here, not by the request. It can
/// fail a number of requests or answer with a given chain instead.
/// </summary>
internal sealed class TestCertificateSigner(TestPki pki, TimeProvider time) : ICertificateSigner
{
    private readonly Lock _gate = new();
    private readonly List<(string Csr, TimeSpan Ttl, DateTimeOffset At)> _requests = [];

    public string Description => "CA test";

    public string IssuedId { get; set; } = pki.IdOf("shop", "frontend");

    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How many of the next requests fail.</summary>
    public int FailNext { get; set; }

    /// <summary>When set, the answer to the next request instead of a signed chain.</summary>
    public IReadOnlyList<string>? NextChain { get; set; }

    public int RequestCount
    {
        get
        {
            lock (_gate)
            {
                return _requests.Count;
            }
        }
    }

    public IReadOnlyList<(string Csr, TimeSpan Ttl, DateTimeOffset At)> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    public Task<IReadOnlyList<string>> SignAsync(string csrPem, TimeSpan requestedTtl, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _requests.Add((csrPem, requestedTtl, time.GetUtcNow()));
        }

        if (FailNext > 0)
        {
            FailNext--;
            return Task.FromException<IReadOnlyList<string>>(new CertificateSigningException("CA test: CreateCertificate failed with status Unavailable: connection refused"));
        }

        if (NextChain is { } chain)
        {
            NextChain = null;
            return Task.FromResult(chain);
        }

        return Task.FromResult<IReadOnlyList<string>>([Sign(pki, csrPem, IssuedId, time.GetUtcNow(), Lifetime), pki.RootPem]);
    }

    /// <summary>Signs a PKCS#10 request as a CA does: the public key from the request, everything else decided here.</summary>
    public static string Sign(TestPki pki, string csrPem, string spiffeId, DateTimeOffset notBefore, TimeSpan lifetime)
    {
        var request = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(names.Build(critical: true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(pki.Root, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var leaf = request.Create(pki.Root, notBefore, notBefore + lifetime, serial);
        return leaf.ExportCertificatePem();
    }
}
