using Mesh.Authorization;
using Mesh.Identity;

namespace Mesh.Core.Tests.Authorization;

[TestFixture]
public sealed class AuthorizationPolicySetTests
{
    private static readonly SpiffeId Frontend = SpiffeId.Parse("spiffe://cluster.local/ns/shop/sa/frontend");
    private static readonly SpiffeId Reports = SpiffeId.Parse("spiffe://cluster.local/ns/finance/sa/reports");

    [Test]
    public void Evaluate_NoPolicies_Allows()
    {
        var decision = AuthorizationPolicySet.Empty.Evaluate(null, "GET", "/");

        Assert.That(decision.Allowed, Is.True);
        Assert.That(decision.PolicyName, Is.Null);
    }

    [Test]
    public void Evaluate_AllowByPrincipal_AllowsOnlyThatPrincipal()
    {
        var set = Create(Allow("frontend", new AuthorizationRuleOptions { From = [new() { Principals = ["cluster.local/ns/shop/sa/frontend"] }] }));

        var frontend = set.Evaluate(Frontend, "GET", "/api");
        var reports = set.Evaluate(Reports, "GET", "/api");

        Assert.That(frontend.Allowed, Is.True);
        Assert.That(frontend.PolicyName, Is.EqualTo("frontend"));
        Assert.That(reports.Allowed, Is.False);
        Assert.That(reports.Reason, Does.Contain("no ALLOW policy matched").And.Contain("'frontend'"));
    }

    [TestCase("cluster.local/ns/shop/*", true)]
    [TestCase("*/sa/frontend", true)]
    [TestCase("*", true)]
    [TestCase("cluster.local/ns/other/*", false)]
    public void Evaluate_PrincipalWildcard_MatchesIstioForms(string principal, bool allowed)
    {
        var set = Create(Allow("p", new AuthorizationRuleOptions { From = [new() { Principals = [principal] }] }));

        Assert.That(set.Evaluate(Frontend, "GET", "/").Allowed, Is.EqualTo(allowed));
    }

    [TestCase("/admin/users", false)]
    [TestCase("/admin", true)]
    [TestCase("/api/admin", true)]
    [TestCase("/debug/pprof.json", false)]
    public void Evaluate_DenyByPathWildcard_DeniesMatchingPaths(string path, bool allowed)
    {
        var set = Create(Deny("deny-admin", new AuthorizationRuleOptions { To = [new() { Paths = ["/admin/*", "*.json"] }] }));

        var decision = set.Evaluate(Frontend, "GET", path);

        Assert.That(decision.Allowed, Is.EqualTo(allowed));
        if (!allowed)
        {
            Assert.That(decision.PolicyName, Is.EqualTo("deny-admin"));
            Assert.That(decision.Reason, Is.EqualTo("denied by DENY policy 'deny-admin'"));
        }
    }

    [Test]
    public void Evaluate_Namespaces_MatchNamespaceOfPrincipal()
    {
        var set = Create(
            Allow("shop", new AuthorizationRuleOptions { From = [new() { Namespaces = ["shop"] }] }),
            Deny("not-fin", new AuthorizationRuleOptions { From = [new() { NotNamespaces = ["shop", "fin*"] }] }));

        Assert.That(set.Evaluate(Frontend, "GET", "/").Allowed, Is.True);
        Assert.That(set.Evaluate(Reports, "GET", "/").Allowed, Is.False);
        Assert.That(set.Evaluate(SpiffeId.Parse("spiffe://cluster.local/ns/dev/sa/x"), "GET", "/").PolicyName, Is.EqualTo("not-fin"));
    }

    [Test]
    public void Evaluate_Methods_MatchCaseInsensitively()
    {
        var set = Create(Allow("reads", new AuthorizationRuleOptions { To = [new() { Methods = ["GET", "head"] }] }));

        Assert.That(set.Evaluate(Frontend, "GET", "/").Allowed, Is.True);
        Assert.That(set.Evaluate(Frontend, "HEAD", "/").Allowed, Is.True);
        Assert.That(set.Evaluate(Frontend, "post", "/").Allowed, Is.False);
    }

    [Test]
    public void Evaluate_NotPathsAndNotMethods_ExcludeListedValues()
    {
        var set = Create(Deny("writes", new AuthorizationRuleOptions { To = [new() { NotMethods = ["GET"], NotPaths = ["/public/*"] }] }));

        Assert.That(set.Evaluate(Frontend, "POST", "/orders").Allowed, Is.False);
        Assert.That(set.Evaluate(Frontend, "POST", "/public/form").Allowed, Is.True);
        Assert.That(set.Evaluate(Frontend, "GET", "/orders").Allowed, Is.True);
    }

    [Test]
    public void Evaluate_DenyAndAllowBothMatch_DenyWins()
    {
        var set = Create(
            Allow("all", new AuthorizationRuleOptions()),
            Deny("deny-frontend", new AuthorizationRuleOptions { From = [new() { Principals = ["cluster.local/ns/shop/sa/frontend"] }] }));

        var decision = set.Evaluate(Frontend, "GET", "/");

        Assert.That(decision.Allowed, Is.False);
        Assert.That(decision.PolicyName, Is.EqualTo("deny-frontend"));
        Assert.That(set.Evaluate(Reports, "GET", "/").PolicyName, Is.EqualTo("all"));
    }

    [Test]
    public void Evaluate_AllowWithoutRules_DeniesEverything()
    {
        var set = Create(Allow("nothing"));

        Assert.That(set.Evaluate(Frontend, "GET", "/").Allowed, Is.False);
        Assert.That(set.Evaluate(null, "GET", "/").Allowed, Is.False);
    }

    [Test]
    public void Evaluate_DenyWithoutRules_DeniesNothing()
    {
        var set = Create(Deny("nothing"));

        Assert.That(set.Evaluate(Frontend, "GET", "/").Allowed, Is.True);
    }

    [Test]
    public void Evaluate_EmptyRule_MatchesEverything()
    {
        var set = Create(Deny("everything", new AuthorizationRuleOptions()));

        Assert.That(set.Evaluate(null, "GET", "/").Allowed, Is.False);
    }

    [Test]
    public void Evaluate_PlaintextPeer_MatchesNoPrincipalOrNamespaceCondition()
    {
        var set = Create(
            Deny("deny-not-frontend", new AuthorizationRuleOptions { From = [new() { NotPrincipals = ["cluster.local/ns/shop/sa/frontend"] }] }),
            Deny("deny-not-shop", new AuthorizationRuleOptions { From = [new() { NotNamespaces = ["shop"] }] }),
            Allow("any-peer", new AuthorizationRuleOptions { From = [new() { Principals = ["*"] }] }),
            Allow("shop", new AuthorizationRuleOptions { From = [new() { Namespaces = ["*"] }] }),
            Allow("health", new AuthorizationRuleOptions { To = [new() { Paths = ["/healthz"] }] }));

        var api = set.Evaluate(null, "GET", "/api");
        var health = set.Evaluate(null, "GET", "/healthz");

        Assert.That(api.Allowed, Is.False, "neither the Not* DENY rules nor the principal ALLOW rules match a plaintext peer");
        Assert.That(api.PolicyName, Is.Null);
        Assert.That(health.Allowed, Is.True);
        Assert.That(health.PolicyName, Is.EqualTo("health"));
    }

    [Test]
    public void Evaluate_FromAndTo_BothMustMatch()
    {
        var set = Create(Allow("frontend-reads", new AuthorizationRuleOptions
        {
            From = [new() { Principals = ["cluster.local/ns/shop/sa/frontend"] }, new() { Namespaces = ["ops"] }],
            To = [new() { Methods = ["GET"], Paths = ["/api/*"] }],
        }));

        Assert.That(set.Evaluate(Frontend, "GET", "/api/orders").Allowed, Is.True);
        Assert.That(set.Evaluate(Frontend, "POST", "/api/orders").Allowed, Is.False);
        Assert.That(set.Evaluate(SpiffeId.Parse("spiffe://cluster.local/ns/ops/sa/admin"), "GET", "/api/x").Allowed, Is.True);
        Assert.That(set.Evaluate(Reports, "GET", "/api/orders").Allowed, Is.False);
    }

    [Test]
    public void Evaluate_SpiffeIdWithoutServiceAccountPath_HasNoNamespace()
    {
        var set = Create(Allow("ns", new AuthorizationRuleOptions { From = [new() { Namespaces = ["*"] }] }));

        Assert.That(set.Evaluate(SpiffeId.Parse("spiffe://cluster.local/workload/x"), "GET", "/").Allowed, Is.False);
    }

    [Test]
    public void Evaluate_AllowedRequest_DoesNotAllocate()
    {
        var set = Create(
            Deny("deny-admin", new AuthorizationRuleOptions { To = [new() { Paths = ["/admin/*"] }] }),
            Allow("shop", new AuthorizationRuleOptions { From = [new() { Namespaces = ["shop"], Principals = ["cluster.local/*"] }], To = [new() { Methods = ["GET"] }] }));
        set.Evaluate(Frontend, "GET", "/api");

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            set.Evaluate(Frontend, "GET", "/api");
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [Test]
    public void TryCreate_InvalidPolicies_ListsEveryProblemWithPath()
    {
        var policies = new[]
        {
            new AuthorizationPolicyOptions { Name = "a", Rules = [new() { From = [new() { Principals = ["spiffe://cluster.local/ns/x/sa/y", ""], Namespaces = ["a/b"] }] }] },
            new AuthorizationPolicyOptions { Name = "deny-admin", Action = AuthorizationAction.Deny, Rules = [new() { To = [new() { Methods = [""], Paths = ["admin", "/a*b", "*x*"] }] }] },
            new AuthorizationPolicyOptions { Name = "a", Action = (AuthorizationAction)7 },
            new AuthorizationPolicyOptions(),
        };

        var ok = AuthorizationPolicySet.TryCreate(policies, "Mesh:Server:AuthorizationPolicies", out var set, out var errors);

        Assert.That(ok, Is.False);
        Assert.That(set, Is.Null);
        Assert.That(errors, Is.EquivalentTo(new[]
        {
            "Mesh:Server:AuthorizationPolicies[0] (a):Rules[0]:From[0]:Principals[0] = 'spiffe://cluster.local/ns/x/sa/y': write the principal without 'spiffe://', as Istio does: 'cluster.local/ns/x/sa/y'",
            "Mesh:Server:AuthorizationPolicies[0] (a):Rules[0]:From[0]:Principals[1] = '': must not be empty (use '*' to match any value)",
            "Mesh:Server:AuthorizationPolicies[0] (a):Rules[0]:From[0]:Namespaces[0] = 'a/b': must be a Kubernetes namespace name such as 'shop' (no '/')",
            "Mesh:Server:AuthorizationPolicies[1] (deny-admin):Rules[0]:To[0]:Paths[0] = 'admin': must be a request path starting with '/' (such as '/api/*'), or '*suffix'",
            "Mesh:Server:AuthorizationPolicies[1] (deny-admin):Rules[0]:To[0]:Paths[1] = '/a*b': '*' may only be the first or the last character (exact, 'prefix*', '*suffix' or '*')",
            "Mesh:Server:AuthorizationPolicies[1] (deny-admin):Rules[0]:To[0]:Paths[2] = '*x*': '*' may be at the start or at the end, not both",
            "Mesh:Server:AuthorizationPolicies[1] (deny-admin):Rules[0]:To[0]:Methods[0] = '': must be an HTTP method such as GET",
            "Mesh:Server:AuthorizationPolicies[2] (a):Name = 'a': another policy has this name; names must be unique",
            "Mesh:Server:AuthorizationPolicies[2] (a):Action = '7': must be Allow or Deny",
            "Mesh:Server:AuthorizationPolicies[3]:Name = '': a policy needs a name (denials report it)",
        }));
    }

    [Test]
    public void Create_InvalidPolicy_ThrowsListingProblems()
    {
        var error = Assert.Throws<ArgumentException>(() => AuthorizationPolicySet.Create([new AuthorizationPolicyOptions { Name = "x", Rules = [new() { To = [new() { Methods = ["G T"] }] }] }]));

        Assert.That(error!.Message, Does.Contain("AuthorizationPolicies[0] (x):Rules[0]:To[0]:Methods[0] = 'G T': must be an HTTP method such as GET"));
    }

    private static AuthorizationPolicySet Create(params AuthorizationPolicyOptions[] policies) => AuthorizationPolicySet.Create(policies);

    private static AuthorizationPolicyOptions Allow(string name, params AuthorizationRuleOptions[] rules)
        => new() { Name = name, Action = AuthorizationAction.Allow, Rules = [.. rules] };

    private static AuthorizationPolicyOptions Deny(string name, params AuthorizationRuleOptions[] rules)
        => new() { Name = name, Action = AuthorizationAction.Deny, Rules = [.. rules] };
}
