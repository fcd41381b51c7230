using Mesh.Identity;

namespace Mesh.Core.Tests.Identity;

public class SpiffeIdTests
{
    [TestCase("spiffe://cluster.local/ns/shop/sa/frontend", "cluster.local", "/ns/shop/sa/frontend")]
    [TestCase("spiffe://example.org", "example.org", "")]
    [TestCase("spiffe://a-b_c.9/x.y/Z-_", "a-b_c.9", "/x.y/Z-_")]
    public void Parse_ValidId_SplitsTrustDomainAndPath(string value, string trustDomain, string path)
    {
        var id = SpiffeId.Parse(value);

        Assert.Multiple(() =>
        {
            Assert.That(id.TrustDomain, Is.EqualTo(trustDomain));
            Assert.That(id.Path, Is.EqualTo(path));
            Assert.That(id.Value, Is.EqualTo(value));
        });
    }

    [TestCase("", "must not be empty")]
    [TestCase("https://cluster.local/ns/a/sa/b", "scheme must be 'spiffe://'")]
    [TestCase("SPIFFE://cluster.local/ns/a", "scheme must be 'spiffe://'")]
    [TestCase("spiffe:///ns/a/sa/b", "no trust domain")]
    [TestCase("spiffe://Cluster.local/ns/a", "must be lowercase")]
    [TestCase("spiffe://cluster.local:8443/ns/a", "must not have a port")]
    [TestCase("spiffe://user@cluster.local/ns/a", "must not have user info")]
    [TestCase("spiffe://cluster.local/ns//sa/b", "empty segment")]
    [TestCase("spiffe://cluster.local/ns/a/", "trailing '/'")]
    [TestCase("spiffe://cluster.local/ns/../sa/b", "'.' or '..'")]
    [TestCase("spiffe://cluster.local/ns/a?x=1", "query or fragment")]
    [TestCase("spiffe://cluster.local/ns/a#frag", "query or fragment")]
    [TestCase("spiffe://cluster.local/ns/a%20b", "character '%'")]
    public void TryParse_InvalidId_NamesTheRule(string value, string reason)
    {
        var parsed = SpiffeId.TryParse(value, out var id, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(parsed, Is.False);
            Assert.That(id, Is.Null);
            Assert.That(error, Does.Contain(reason));
        });
    }

    [Test]
    public void ForServiceAccount_KubernetesIdentity_ExposesNamespaceAndServiceAccount()
    {
        var id = SpiffeId.ForServiceAccount("cluster.local", "shop", "frontend");

        Assert.Multiple(() =>
        {
            Assert.That(id.Value, Is.EqualTo("spiffe://cluster.local/ns/shop/sa/frontend"));
            Assert.That(id.Namespace, Is.EqualTo("shop"));
            Assert.That(id.ServiceAccount, Is.EqualTo("frontend"));
            Assert.That(SpiffeId.Parse("spiffe://cluster.local/workload/x").Namespace, Is.Null);
            Assert.That(id, Is.EqualTo(SpiffeId.Parse("spiffe://cluster.local/ns/shop/sa/frontend")));
        });
    }
}
