using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.ControlPlane.Tests.Security;

[TestFixture]
public sealed class BootstrapTokenAuthenticatorTests
{
    [Test]
    public async Task AuthenticateAsync_KnownToken_ReturnsItsServiceAccount()
    {
        // Arrange
        using var directory = new ManifestTestDirectory();
        directory.Write("tokens", "# workloads\n\nbackend-token-0123456789 demo backend\n  frontend-token-0123456789   demo   frontend  \n");
        var authenticator = BootstrapTokenAuthenticator.Load(directory.FullPath("tokens"), NullLogger.Instance);

        // Act
        var frontend = await authenticator.AuthenticateAsync(CallerCredentials.FromBearerToken("frontend-token-0123456789", "test"), CancellationToken.None).AsTask().WaitAsync(TestWait.Timeout);
        var wrong = await authenticator.AuthenticateAsync(CallerCredentials.FromBearerToken("frontend-token-012345678", "test"), CancellationToken.None).AsTask().WaitAsync(TestWait.Timeout);
        var none = await authenticator.AuthenticateAsync(CallerCredentials.FromBearerToken(null, "test"), CancellationToken.None).AsTask().WaitAsync(TestWait.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(authenticator.Count, Is.EqualTo(2));
            Assert.That(frontend.ToString(), Is.EqualTo("demo/frontend"));
            Assert.That(wrong.IsAuthenticated, Is.False);
            Assert.That(wrong.Reason, Does.Contain("not in the control plane's bootstrap tokens file"));
            Assert.That(none.Reason, Does.StartWith("no bearer token"));
        });
    }

    [Test]
    public async Task AuthenticateAsync_FileChanged_TheNewTokensApplyAndTheOldOnesNoLonger()
    {
        // Arrange
        using var directory = new ManifestTestDirectory();
        var path = directory.FullPath("tokens");
        directory.Write("tokens", "old-token demo backend\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        var authenticator = BootstrapTokenAuthenticator.Load(path, NullLogger.Instance);

        // Act
        directory.Write("tokens", "new-token demo other-account\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        var oldResult = await authenticator.AuthenticateAsync(CallerCredentials.FromBearerToken("old-token", "test"), CancellationToken.None).AsTask().WaitAsync(TestWait.Timeout);
        var newResult = await authenticator.AuthenticateAsync(CallerCredentials.FromBearerToken("new-token", "test"), CancellationToken.None).AsTask().WaitAsync(TestWait.Timeout);

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(oldResult.IsAuthenticated, Is.False, "a token removed from the file is revoked");
            Assert.That(newResult.ToString(), Is.EqualTo("demo/other-account"));
        });
    }

    [Test]
    public void Load_BadLines_ErrorNamesEachLineAndTheFormat()
    {
        // Arrange
        using var directory = new ManifestTestDirectory();
        directory.Write("tokens", "good demo backend\nonly-two demo\nbad demo has/slash\ngood demo again\n");

        // Act
        var error = Assert.Throws<CertificateAuthorityException>(() => BootstrapTokenAuthenticator.Load(directory.FullPath("tokens"), NullLogger.Instance));

        // Assert
        Assert.That(error!.Message, Does.Contain("line 2 has 2 fields: write '<token> <namespace> <serviceAccount>'")
            .And.Contain("line 3: namespace 'demo' / service account 'has/slash' cannot form a SPIFFE ID")
            .And.Contain("line 4 repeats the token of an earlier line"));
    }
}
