using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Mesh.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Identity;

[TestFixture]
public sealed class RotatingIdentityProviderTests
{
    private static readonly TestPki Pki = TestPki.Create("cluster.local");
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    private sealed class Fixture : IAsyncDisposable
    {
        public Fixture(Random? random = null, bool configureRoots = true, string? trustDomain = null)
        {
            Time = IdentityTestClock.Create();
            Signer = new TestCertificateSigner(Pki, Time) { Lifetime = Lifetime };
            Logger = new FakeLogger<RotatingIdentityProvider>();
            Provider = new RotatingIdentityProvider(
                Signer,
                new RotatingIdentityProviderOptions
                {
                    RequestedTtl = Lifetime,
                    TrustDomain = trustDomain,
                    TrustedRootsPem = configureRoots ? Pki.RootPem : null,
                    ExpectedSpiffeId = SpiffeId.Parse(Pki.IdOf("shop", "frontend")),
                },
                Time,
                random ?? new FixedRandom(0.5),
                Logger);
            Provider.Changed += identity => Changes.Add(identity);
        }

        public FakeTimeProvider Time { get; }

        public TestCertificateSigner Signer { get; }

        public FakeLogger<RotatingIdentityProvider> Logger { get; }

        public RotatingIdentityProvider Provider { get; }

        public List<WorkloadIdentity> Changes { get; } = [];

        public DateTimeOffset Start { get; private set; }

        public void StartProvider()
        {
            Start = Time.GetUtcNow();
            Provider.Start();
        }

        public ValueTask DisposeAsync() => Provider.DisposeAsync();
    }

    private static byte[] PublicKeyOf(WorkloadIdentity identity) => identity.Certificate.PublicKey.ExportSubjectPublicKeyInfo();

    [Test]
    public async Task WaitForIdentityAsync_BeforeTheHostStarts_StartsAndReturnsTheIssuedIdentity()
    {
        // Arrange
        await using var fixture = new Fixture();

        // Act
        var identity = await fixture.Provider.WaitForIdentityAsync(CancellationToken.None).WaitAsync(IdentityBound.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(identity.SpiffeId?.Value, Is.EqualTo("spiffe://cluster.local/ns/shop/sa/frontend"));
            Assert.That(identity.Certificate.HasPrivateKey, Is.True);
            Assert.That(identity.TrustBundle.GetRoots("cluster.local")?[0].Thumbprint, Is.EqualTo(Pki.Root.Thumbprint));
            Assert.That(identity.Intermediates, Is.Empty);
            Assert.That(fixture.Provider.Current, Is.SameAs(identity));
            Assert.That(fixture.Provider.LastError, Is.Null);
            Assert.That(fixture.Changes, Is.EqualTo(new[] { identity }));
            Assert.That(fixture.Signer.RequestCount, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task StartAsync_AsHostedService_RequestsOnceEvenWhenAlsoWaitedFor()
    {
        // Arrange
        await using var fixture = new Fixture();
        IHostedService hosted = fixture.Provider;

        // Act
        await hosted.StartAsync(CancellationToken.None).WaitAsync(IdentityBound.Timeout);
        var identity = await fixture.Provider.WaitForIdentityAsync(CancellationToken.None).WaitAsync(IdentityBound.Timeout);
        await hosted.StopAsync(CancellationToken.None).WaitAsync(IdentityBound.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(identity, Is.Not.Null);
            Assert.That(fixture.Signer.RequestCount, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Start_Request_IsAnEcdsaP256CsrForTheExpectedSpiffeIdWithTheConfiguredTtl()
    {
        // Arrange
        await using var fixture = new Fixture();

        // Act
        fixture.StartProvider();

        // Assert
        var (csrPem, ttl, _) = fixture.Signer.Requests.Single();
        var csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        var san = csr.CertificateExtensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        using var key = csr.PublicKey.GetECDsaPublicKey();
        Assert.Multiple(() =>
        {
            Assert.That(ttl, Is.EqualTo(Lifetime));
            Assert.That(key, Is.Not.Null);
            Assert.That(key!.ExportParameters(false).Curve.Oid.Value, Is.EqualTo(ECCurve.NamedCurves.nistP256.Oid.Value));
            Assert.That(SpiffeCertificates.GetUriSubjectAltNames(CertificateWith(san)), Is.EqualTo(new[] { "spiffe://cluster.local/ns/shop/sa/frontend" }));
        });
    }

    [TestCase(0.0, 0.45)]
    [TestCase(0.5, 0.50)]
    [TestCase(0.999999, 0.55)]
    public async Task Renewal_JitterSample_HappensAtItsFractionOfTheLifetime(double sample, double fraction)
    {
        // Arrange
        await using var fixture = new Fixture(new FixedRandom(sample));
        fixture.StartProvider();
        var renewAt = Lifetime * fraction;

        // Act: just before the renewal time, then past it.
        fixture.Time.Advance(renewAt - TimeSpan.FromSeconds(1));
        var before = fixture.Signer.RequestCount;
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var after = fixture.Signer.RequestCount;

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo(1), "no renewal before the renewal time");
            Assert.That(after, Is.EqualTo(2), "a renewal at the renewal time");
            Assert.That(fixture.Changes, Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task Renewal_SeededRandomSources_AlwaysBetween45And55PercentOfTheLifetime()
    {
        for (var seed = 0; seed < 20; seed++)
        {
            // Arrange
            await using var fixture = new Fixture(new Random(seed));
            fixture.StartProvider();

            // Act: step through the lifetime until the second request.
            while (fixture.Signer.RequestCount < 2 && fixture.Time.GetUtcNow() - fixture.Start < Lifetime)
            {
                fixture.Time.Advance(TimeSpan.FromSeconds(5));
            }

            // Assert
            var renewedAfter = fixture.Signer.Requests[^1].At - fixture.Start;
            Assert.That(renewedAfter / Lifetime, Is.InRange(0.45, 0.55 + (5.0 / 3600)), $"seed {seed}: renewed after {renewedAfter}");
        }
    }

    [Test]
    public async Task Renewal_EachCertificate_HasANewKeyAndRaisesChanged()
    {
        // Arrange
        await using var fixture = new Fixture();
        fixture.StartProvider();

        // Act: three renewals.
        for (var i = 0; i < 3; i++)
        {
            fixture.Time.Advance(Lifetime / 2);
        }

        // Assert
        var keys = fixture.Changes.Select(i => Convert.ToHexString(PublicKeyOf(i))).ToList();
        var csrKeys = fixture.Signer.Requests.Select(r => Convert.ToHexString(CertificateRequest.LoadSigningRequestPem(r.Csr, HashAlgorithmName.SHA256).PublicKey.ExportSubjectPublicKeyInfo())).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(fixture.Changes, Has.Count.EqualTo(4));
            Assert.That(keys.Distinct().Count(), Is.EqualTo(4), "a new key per certificate");
            Assert.That(csrKeys, Is.EqualTo(keys));
            Assert.That(fixture.Provider.Current, Is.SameAs(fixture.Changes[^1]));
        });
    }

    [Test]
    public async Task Renewal_SignerFails_RetriesWithBackoffKeepingTheCurrentCertificateUntilSuccess()
    {
        // Arrange
        await using var fixture = new Fixture();
        fixture.StartProvider();
        var first = fixture.Provider.Current;
        fixture.Signer.FailNext = 3;

        // Act + Assert: the renewal fails at half the lifetime, then retries after 1 s, 2 s and 4 s.
        fixture.Time.Advance(Lifetime / 2);
        Assert.Multiple(() =>
        {
            Assert.That(fixture.Signer.RequestCount, Is.EqualTo(2));
            Assert.That(fixture.Provider.Current, Is.SameAs(first));
            Assert.That(fixture.Provider.LastError, Does.Contain("CA test").And.Contain("Unavailable"));
        });

        fixture.Time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.That(fixture.Signer.RequestCount, Is.EqualTo(2), "no retry before 1 s");
        fixture.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That(fixture.Signer.RequestCount, Is.EqualTo(3), "first retry after 1 s");
        fixture.Time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.That(fixture.Signer.RequestCount, Is.EqualTo(3), "no retry before 2 s more");
        fixture.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That(fixture.Signer.RequestCount, Is.EqualTo(4), "second retry after 2 s more");
        Assert.That(fixture.Provider.Current, Is.SameAs(first));
        fixture.Time.Advance(TimeSpan.FromSeconds(4));

        Assert.Multiple(() =>
        {
            Assert.That(fixture.Signer.RequestCount, Is.EqualTo(5), "third retry after 4 s more, which succeeds");
            Assert.That(fixture.Provider.Current, Is.Not.SameAs(first));
            Assert.That(fixture.Changes, Has.Count.EqualTo(2));
            Assert.That(fixture.Provider.LastError, Is.Null);
            Assert.That(fixture.Logger.Collector.GetSnapshot().Count(r => r.Id.Id == 41), Is.EqualTo(3));
            Assert.That(fixture.Logger.Collector.GetSnapshot().Count(r => r.Id.Id == 40), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Start_SignerFailsBeforeTheFirstCertificate_RetriesAndWaitersGetTheIdentityLater()
    {
        // Arrange
        await using var fixture = new Fixture();
        fixture.Signer.FailNext = 1;

        // Act
        var waiting = fixture.Provider.WaitForIdentityAsync(CancellationToken.None);
        var errorBefore = fixture.Provider.LastError;
        var completedBefore = waiting.IsCompleted;
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var identity = await waiting.WaitAsync(IdentityBound.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(completedBefore, Is.False);
            Assert.That(errorBefore, Does.Contain("Unavailable"));
            Assert.That(identity, Is.SameAs(fixture.Provider.Current));
            Assert.That(fixture.Logger.Collector.GetSnapshot().Count(r => r.Id.Id == 42), Is.EqualTo(1));
        });
    }

    [TestCase(1, 1.0)]
    [TestCase(2, 2.0)]
    [TestCase(3, 4.0)]
    [TestCase(6, 32.0)]
    [TestCase(7, 60.0)]
    [TestCase(1000, 60.0)]
    public async Task RetryDelay_ConsecutiveFailures_DoublesFromOneSecondUpTo60(int failures, double seconds)
    {
        await using var fixture = new Fixture();

        Assert.That(fixture.Provider.RetryDelay(failures), Is.EqualTo(TimeSpan.FromSeconds(seconds)));
    }

    [TestCase(0.0, 0.8)]
    [TestCase(0.999999, 1.2)]
    public async Task RetryDelay_JitterSample_StaysWithin20Percent(double sample, double factor)
    {
        await using var fixture = new Fixture(new FixedRandom(sample));

        Assert.That(fixture.Provider.RetryDelay(7).TotalSeconds, Is.EqualTo(60 * factor).Within(0.001));
    }

    [Test]
    public async Task Start_LeafIsNotForTheRequestKey_RejectsTheChainAndRetries()
    {
        // Arrange: the CA answers with a valid SVID of another key.
        await using var fixture = new Fixture();
        using var foreign = Pki.IssueLeaf([Pki.IdOf("shop", "frontend")]);
        fixture.Signer.NextChain = [foreign.ExportCertificatePem(), Pki.RootPem];

        // Act
        fixture.StartProvider();
        var error = fixture.Provider.LastError;
        var current = fixture.Provider.Current;
        fixture.Time.Advance(TimeSpan.FromSeconds(1));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(current, Is.Null);
            Assert.That(error, Does.Contain("CA test: issued chain rejected").And.Contain("not for the key of the request"));
            Assert.That(fixture.Provider.Current, Is.Not.Null, "the retry gets a good certificate");
            Assert.That(fixture.Provider.LastError, Is.Null);
        });
    }

    [Test]
    public async Task Start_ChainOfAnotherRoot_IsRejectedAsNotAValidSvid()
    {
        // Arrange: a CA signing with a root other than the configured one.
        var time = IdentityTestClock.Create();
        var rogue = new TestCertificateSigner(TestPki.Create("cluster.local", "Other root"), time);
        await using var provider = new RotatingIdentityProvider(
            rogue,
            new RotatingIdentityProviderOptions { TrustedRootsPem = Pki.RootPem },
            time,
            new FixedRandom(0.5),
            new FakeLogger<RotatingIdentityProvider>());
        var changed = 0;
        provider.Changed += _ => changed++;

        // Act
        provider.Start();

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(rogue.RequestCount, Is.EqualTo(1));
            Assert.That(provider.Current, Is.Null);
            Assert.That(changed, Is.Zero);
            Assert.That(provider.LastError, Does.Contain("not a valid X509-SVID of trust domain 'cluster.local'").And.Contain("does not chain to a root"));
        });
    }

    [Test]
    public async Task Start_TrustDomainOptionDiffersFromTheIssuedId_IsRejectedNamingBothDomains()
    {
        // Arrange
        await using var fixture = new Fixture(trustDomain: "example.org");

        // Act
        fixture.StartProvider();

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(fixture.Provider.Current, Is.Null);
            Assert.That(fixture.Provider.LastError, Does.Contain("'cluster.local'").And.Contain("example.org"));
        });
    }

    [Test]
    public async Task Start_NoConfiguredRoot_TrustsTheChainsRootAndWarnsOnce()
    {
        // Arrange
        await using var fixture = new Fixture(configureRoots: false);

        // Act: the first certificate and a renewal.
        fixture.StartProvider();
        fixture.Time.Advance(Lifetime / 2);

        // Assert
        var warnings = fixture.Logger.Collector.GetSnapshot().Where(r => r.Id.Id == 43).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(fixture.Changes, Has.Count.EqualTo(2));
            Assert.That(fixture.Provider.Current!.TrustBundle.GetRoots("cluster.local")?[0].Thumbprint, Is.EqualTo(Pki.Root.Thumbprint));
            Assert.That(warnings, Has.Count.EqualTo(1));
            Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warnings[0].Message, Does.Contain("trust on first use"));
        });
    }

    [Test]
    public async Task Start_ChainWithIntermediate_KeepsTheIntermediateForTheHandshake()
    {
        // Arrange: the CA signs with an intermediate and returns leaf, intermediate, root.
        await using var fixture = new Fixture();
        using var intermediate = Pki.IssueIntermediate();
        var intermediatePki = new IntermediateSigner(Pki, intermediate, fixture.Time);
        await using var provider = new RotatingIdentityProvider(
            intermediatePki,
            new RotatingIdentityProviderOptions { TrustedRootsPem = Pki.RootPem },
            fixture.Time,
            new FixedRandom(0.5),
            new FakeLogger<RotatingIdentityProvider>());

        // Act
        var identity = await provider.WaitForIdentityAsync(CancellationToken.None).WaitAsync(IdentityBound.Timeout);

        // Assert
        Assert.That(identity.Intermediates.Select(c => c.Thumbprint), Is.EqualTo(new[] { intermediate.Thumbprint }));
    }

    [Test]
    public async Task Stop_AfterTheFirstCertificate_NoMoreRenewals()
    {
        // Arrange
        await using var fixture = new Fixture();
        fixture.StartProvider();

        // Act
        await ((IHostedService)fixture.Provider).StopAsync(CancellationToken.None).WaitAsync(IdentityBound.Timeout);
        fixture.Time.Advance(Lifetime);

        // Assert
        Assert.That(fixture.Signer.RequestCount, Is.EqualTo(1));
    }

    private static X509Certificate2 CertificateWith(X509Extension extension)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=probe", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(extension);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    /// <summary>A CA that issues through an intermediate.</summary>
    private sealed class IntermediateSigner(TestPki pki, X509Certificate2 intermediate, TimeProvider time) : ICertificateSigner
    {
        public string Description => "CA intermediate";

        public Task<IReadOnlyList<string>> SignAsync(string csrPem, TimeSpan requestedTtl, CancellationToken cancellationToken)
        {
            var request = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri(pki.IdOf("shop", "frontend")));
            request.CertificateExtensions.Add(names.Build(critical: true));
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(intermediate, true, false));
            var now = time.GetUtcNow();
            using var leaf = request.Create(intermediate, now, now + requestedTtl, RandomNumberGenerator.GetBytes(8));
            return Task.FromResult<IReadOnlyList<string>>([leaf.ExportCertificatePem(), intermediate.ExportCertificatePem(), pki.RootPem]);
        }
    }
}
