using System.Net;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The certificate authority and the authenticator the control plane serves, chosen from the options: the key from
/// <c>--ca-dir</c>, <c>--ca-secret</c> or generated; callers authenticated by a custom authenticator, else
/// <c>--insecure-dev-identities</c>, else <c>--bootstrap-tokens</c>, else Kubernetes TokenReview when a cluster is configured.
/// </summary>
internal sealed partial class CertificateAuthorityServices : IDisposable
{
    private readonly IKubernetes? _kubernetes;

    private CertificateAuthorityServices(CertificateAuthority authority, ICallerAuthenticator authenticator, IKubernetes? kubernetes)
    {
        Authority = authority;
        Authenticator = authenticator;
        _kubernetes = kubernetes;
    }

    public CertificateAuthority Authority { get; }

    public ICallerAuthenticator Authenticator { get; }

    /// <summary>Loads or generates the CA and builds the authenticator.</summary>
    /// <param name="options">The CA options (already validated).</param>
    /// <param name="kubernetes">The cluster's client configuration, or <see langword="null"/> without a cluster.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="time">The clock.</param>
    /// <param name="cancellationToken">Stops reading the Secret.</param>
    /// <exception cref="CertificateAuthorityException">The CA's files, Secret or tokens file are missing or wrong.</exception>
    public static async Task<CertificateAuthorityServices> CreateAsync(
        CertificateAuthorityOptions options, KubernetesClientConfiguration? kubernetes, ILoggerFactory loggerFactory, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var logger = loggerFactory.CreateLogger<CertificateAuthority>();
        var client = kubernetes is null ? null : new Kubernetes(kubernetes);
        CertificateAuthority? authority = null;
        try
        {
            if (options.CertificatesDirectory is { } directory)
            {
                authority = CertificateAuthority.LoadFromDirectory(directory, options, time);
            }
            else if (options.KubernetesSecretName is { } secret)
            {
                authority = await LoadFromSecretAsync(
                    client ?? throw new CertificateAuthorityException($"--ca-secret {options.KubernetesSecretNamespace}/{secret} needs a cluster: add --kubeconfig FILE or --in-cluster"),
                    options.KubernetesSecretNamespace,
                    secret,
                    options,
                    time,
                    cancellationToken).ConfigureAwait(false);
            }
            else
            {
                authority = CertificateAuthority.Generate(options, time);
                Log.Generated(logger, authority.Root.Subject, authority.TrustDomain, authority.Root.NotAfter.ToUniversalTime());
            }

            if (!authority.IsGenerated)
            {
                Log.Loaded(logger, authority.Source, authority.SigningCertificate.Subject, authority.SigningCertificate.NotAfter.ToUniversalTime(), authority.Root.Subject);
            }

            ICallerAuthenticator authenticator = options.Authenticator
                ?? (options.InsecureDevelopmentIdentities ? (ICallerAuthenticator)new InsecureDevelopmentAuthenticator(loggerFactory.CreateLogger<InsecureDevelopmentAuthenticator>()) : null)
                ?? (options.BootstrapTokensFile is { } tokens ? (ICallerAuthenticator)BootstrapTokenAuthenticator.Load(tokens, loggerFactory.CreateLogger<BootstrapTokenAuthenticator>()) : null)
                ?? (client is not null ? (ICallerAuthenticator)new KubernetesTokenAuthenticator(client, options.TokenAudiences) : null)
                ?? throw new CertificateAuthorityException("The certificate authority has no way to authenticate callers: give --bootstrap-tokens FILE, or --insecure-dev-identities for development only (with --kubeconfig or --in-cluster, Kubernetes TokenReview is used).");
            Log.Serving(logger, authority.TrustDomain, authority.Source, authenticator.Name, CertificateAuthorityOptions.FormatDuration(authority.DefaultTtl), CertificateAuthorityOptions.FormatDuration(authority.MaxTtl));
            return new CertificateAuthorityServices(authority, authenticator, client);
        }
        catch
        {
            authority?.Dispose();
            client?.Dispose();
            throw;
        }
    }

    /// <summary>Loads Istio's plug-in CA layout from a Secret (Istio's is <c>istio-system/cacerts</c>).</summary>
    /// <exception cref="CertificateAuthorityException">The Secret is missing, unreadable, or a key is missing or wrong.</exception>
    public static async Task<CertificateAuthority> LoadFromSecretAsync(IKubernetes client, string ns, string name, CertificateAuthorityOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var where = $"Secret {ns}/{name} (--ca-secret)";
        V1Secret secret;
        try
        {
            secret = await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            throw new CertificateAuthorityException(
                $"The {where} does not exist: create it with 'kubectl create secret generic {name} -n {ns} --from-file={CaFiles.CaCert} --from-file={CaFiles.CaKey} --from-file={CaFiles.RootCert} --from-file={CaFiles.CertChain}', "
                + "or leave out --ca-secret to generate a development root.",
                ex);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized)
        {
            throw new CertificateAuthorityException(
                $"The {where} cannot be read: the API server answered {(int)ex.Response!.StatusCode} {ex.Response.StatusCode}; grant the control plane's service account 'get' on secrets in namespace {ns} (a Role and RoleBinding).",
                ex);
        }
        catch (HttpOperationException ex)
        {
            throw new CertificateAuthorityException($"The {where} cannot be read: the API server answered {(int?)ex.Response?.StatusCode} {ex.Response?.StatusCode}.", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new CertificateAuthorityException($"The {where} cannot be read: the Kubernetes API server is unreachable ({ex.Message}).", ex);
        }

        string? Text(string key) => secret.Data is { } data && data.TryGetValue(key, out var bytes) && bytes is not null ? Encoding.UTF8.GetString(bytes) : null;
        return CertificateAuthority.FromPem(
            $"Secret {ns}/{name}",
            key => $"Secret {ns}/{name} key '{key}'",
            $"add the key to the Secret (kubectl create secret generic {name} -n {ns} --from-file=...)",
            new CaPem(Text(CaFiles.CaCert), Text(CaFiles.CaKey), Text(CaFiles.RootCert), Text(CaFiles.CertChain)),
            options,
            time);
    }

    public void Dispose()
    {
        Authority.Dispose();
        (Authenticator as IDisposable)?.Dispose();
        _kubernetes?.Dispose();
    }
}
