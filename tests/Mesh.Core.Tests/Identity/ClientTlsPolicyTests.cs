using Mesh.Configuration;
using Mesh.Identity;
using Mesh.Testing;

namespace Mesh.Core.Tests.Identity;

public class ClientTlsPolicyTests
{
    private static readonly TestPki Pki = TestPki.Create("cluster.local");

    [Test]
    public void Create_Disable_HasNoPolicy()
    {
        var errors = new List<string>();

        Assert.That(ClientTlsPolicy.Create(new TlsOptions { Mode = TlsMode.Disable }, "Mesh:Services:backend:Tls", errors), Is.Null);
        Assert.That(errors, Is.Empty);
    }

    [Test]
    public void CheckServer_SanMatchers_AcceptOnlyAMatchingServer()
    {
        var options = new TlsOptions { Mode = TlsMode.Mutual };
        options.SubjectAltNames.Add(new StringMatchOptions { Exact = "spiffe://cluster.local/ns/shop/sa/backend" });
        options.SubjectAltNames.Add(new StringMatchOptions { Prefix = "spiffe://cluster.local/ns/payments/" });
        var policy = ClientTlsPolicy.Create(options, "Mesh:Services:backend:Tls", [])!;
        using var backend = Pki.IssueLeaf(["spiffe://cluster.local/ns/shop/sa/backend"]);
        using var payments = Pki.IssueLeaf(["spiffe://cluster.local/ns/payments/sa/api"]);
        using var other = Pki.IssueLeaf(["spiffe://cluster.local/ns/shop/sa/other"]);

        Assert.Multiple(() =>
        {
            Assert.That(policy.IsMutual, Is.True);
            Assert.That(policy.CheckServer(backend, null, Pki.Bundle, DateTimeOffset.UtcNow), Is.Null);
            Assert.That(policy.CheckServer(payments, null, Pki.Bundle, DateTimeOffset.UtcNow), Is.Null);
            Assert.That(
                policy.CheckServer(other, null, Pki.Bundle, DateTimeOffset.UtcNow),
                Does.Contain("server spiffe://cluster.local/ns/shop/sa/other has no subject alternative name the cluster expects (expected exact 'spiffe://cluster.local/ns/shop/sa/backend' or prefix 'spiffe://cluster.local/ns/payments/'"));
        });
    }

    [Test]
    public void CheckServer_CertificateOutsideTheBundle_IsRejectedBeforeSans()
    {
        var policy = ClientTlsPolicy.Create(new TlsOptions { Mode = TlsMode.Simple }, "Mesh:Services:backend:Tls", [])!;
        using var foreign = TestPki.Create("cluster.local", "Foreign root").IssueLeaf(["spiffe://cluster.local/ns/shop/sa/backend"]);

        Assert.That(policy.CheckServer(foreign, null, Pki.Bundle, DateTimeOffset.UtcNow), Does.Contain("does not chain to a root"));
    }

    [Test]
    public void Create_InvalidSettings_ReportsEveryProblemWithItsPath()
    {
        var options = new TlsOptions { Mode = TlsMode.Mutual, Sni = "not a host" };
        options.SubjectAltNames.Add(new StringMatchOptions { Present = true });
        options.SubjectAltNames.Add(new StringMatchOptions { Regex = "([" });
        var errors = new List<string>();

        ClientTlsPolicy.Create(options, "Mesh:Services:backend:Tls", errors);

        Assert.That(errors, Has.Count.EqualTo(3));
        Assert.Multiple(() =>
        {
            Assert.That(errors[0], Does.StartWith("Mesh:Services:backend:Tls:SubjectAltNames[0]: Present and Absent do not apply"));
            Assert.That(errors[1], Does.StartWith("Mesh:Services:backend:Tls:SubjectAltNames[1]"));
            Assert.That(errors[2], Does.StartWith("Mesh:Services:backend:Tls:Sni = 'not a host'"));
        });
    }
}
