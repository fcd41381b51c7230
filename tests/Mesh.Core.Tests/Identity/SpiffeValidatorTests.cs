using System.Security.Cryptography.X509Certificates;
using Mesh.Identity;
using Mesh.Testing;

namespace Mesh.Core.Tests.Identity;

public class SpiffeValidatorTests
{
    private static readonly TestPki Pki = TestPki.Create("cluster.local");
    private const string Frontend = "spiffe://cluster.local/ns/shop/sa/frontend";

    [Test]
    public void Validate_SvidOfTheBundle_IsAcceptedWithItsId()
    {
        using var leaf = Pki.IssueLeaf([Frontend]);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.True, result.Error);
            Assert.That(result.SpiffeId!.Value, Is.EqualTo(Frontend));
        });
    }

    [Test]
    public void Validate_SvidThroughIntermediate_IsAcceptedWhenThePeerSendsTheIntermediate()
    {
        using var intermediate = Pki.IssueIntermediate();
        using var leaf = Pki.IssueLeaf([Frontend], issuer: intermediate);

        var withIntermediate = SpiffeValidator.Validate(leaf, [intermediate], Pki.Bundle, DateTimeOffset.UtcNow);
        var without = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(withIntermediate.IsValid, Is.True, withIntermediate.Error);
            Assert.That(without.IsValid, Is.False);
            Assert.That(without.Error, Does.Contain("does not chain to a root of its trust domain's bundle"));
        });
    }

    [Test]
    public void Validate_WrongTrustDomain_IsRejectedNamingTheDomain()
    {
        var other = TestPki.Create("example.org");
        using var leaf = other.IssueLeaf(["spiffe://example.org/ns/shop/sa/frontend"]);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.False);
            Assert.That(result.Error, Does.Contain("trust domain 'example.org', which the trust bundle does not have (it has: cluster.local)"));
        });
    }

    [Test]
    public void Validate_RightDomainButAnotherRoot_IsRejected()
    {
        var impostor = TestPki.Create("cluster.local", commonName: "Impostor root");
        using var leaf = impostor.IssueLeaf([Frontend]);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.False);
            Assert.That(result.SpiffeId!.Value, Is.EqualTo(Frontend));
            Assert.That(result.Error, Does.Contain($"peer certificate {Frontend} was rejected: it does not chain to a root of its trust domain's bundle"));
        });
    }

    [Test]
    public void Validate_Expired_IsRejectedWithTheExpiry()
    {
        using var leaf = Pki.IssueLeaf([Frontend], lifetime: TimeSpan.FromHours(1), notBefore: DateTimeOffset.UtcNow.AddHours(-3));

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.False);
            Assert.That(result.Error, Does.Contain("it expired at"));
        });
    }

    [Test]
    public void Validate_NotYetValid_IsRejected()
    {
        using var leaf = Pki.IssueLeaf([Frontend], notBefore: DateTimeOffset.UtcNow.AddHours(2));

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.That(result.Error, Does.Contain("it is not valid before"));
    }

    [Test]
    public void Validate_TwoUriSans_IsRejected()
    {
        using var leaf = Pki.IssueLeaf([Frontend, "spiffe://cluster.local/ns/shop/sa/admin"]);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.False);
            Assert.That(result.Error, Does.Contain("has 2 URI subject alternative names"));
            Assert.That(result.Error, Does.Contain("an X509-SVID has exactly one"));
        });
    }

    [Test]
    public void Validate_CaCertificateAsLeaf_IsRejected()
    {
        using var leaf = Pki.IssueLeaf([Frontend], isCa: true, usage: X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.False);
            Assert.That(result.Error, Does.Contain("is a CA certificate (basicConstraints CA=true)"));
        });
    }

    [Test]
    public void Validate_LeafThatMayCertify_IsRejected()
    {
        using var leaf = Pki.IssueLeaf([Frontend], usage: X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.That(result.Error, Does.Contain("allows keyCertSign or cRLSign"));
    }

    [Test]
    public void Validate_LeafWithoutDigitalSignature_IsRejected()
    {
        using var leaf = Pki.IssueLeaf([Frontend], usage: X509KeyUsageFlags.KeyEncipherment);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.That(result.Error, Does.Contain("does not allow digitalSignature"));
    }

    [Test]
    public void Validate_NonSpiffeUri_IsRejected()
    {
        using var leaf = Pki.IssueLeaf(["https://frontend.shop.svc.cluster.local"]);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.False);
            Assert.That(result.Error, Does.Contain("is not an X509-SVID: 'https://frontend.shop.svc.cluster.local' is not a SPIFFE ID"));
        });
    }

    [Test]
    public void Validate_NoUriSan_IsRejected()
    {
        using var leaf = Pki.IssueLeaf([], dnsNames: ["frontend.shop.svc.cluster.local"]);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.That(result.Error, Does.Contain("has no URI subject alternative name"));
    }

    [Test]
    public void Validate_InvalidSpiffeIdInSan_IsRejectedWithTheRule()
    {
        using var leaf = Pki.IssueLeaf(["spiffe://Cluster.local/ns/shop/sa/frontend"]);

        var result = SpiffeValidator.Validate(leaf, null, Pki.Bundle, DateTimeOffset.UtcNow);

        Assert.That(result.Error, Does.Contain("the trust domain must be lowercase"));
    }
}
