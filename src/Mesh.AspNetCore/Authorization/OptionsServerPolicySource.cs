using System.Diagnostics.CodeAnalysis;
using Mesh.Authorization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Authorization;

/// <summary>
/// The server policy from <see cref="MeshServerOptions"/> (configuration and code), recompiled on each change.
/// An invalid change is logged and rejected; the last valid policy keeps serving.
/// </summary>
internal sealed partial class OptionsServerPolicySource : IServerPolicySource, IDisposable
{
    private readonly ILogger _logger;
    private readonly string _path;
    private readonly IDisposable? _subscription;
    private readonly Lock _gate = new();
    private volatile ServerPolicy _current;

    public OptionsServerPolicySource(IOptionsMonitor<MeshServerOptions> options, MeshServerConfigurationPath path, ILogger<OptionsServerPolicySource> logger)
    {
        _logger = logger;
        _path = path.Path;
        if (!TryCompile(options.CurrentValue, _path, out var policy, out var errors))
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(MeshServerOptions), errors);
        }

        _current = policy;
        _subscription = options.OnChange(OnChange);
    }

    public ServerPolicy Current => _current;

    public event Action<ServerPolicy>? Changed;

    public void Dispose() => _subscription?.Dispose();

    internal static bool TryCompile(MeshServerOptions options, string path, [NotNullWhen(true)] out ServerPolicy? policy, out IReadOnlyList<string> errors)
    {
        var problems = new List<string>();
        if (!Enum.IsDefined(options.PeerAuthentication))
        {
            problems.Add($"{path}:PeerAuthentication = '{options.PeerAuthentication}': must be Strict, Permissive or Disable");
        }

        if (options.HandshakeTimeout <= TimeSpan.Zero)
        {
            problems.Add($"{path}:HandshakeTimeout = '{options.HandshakeTimeout}': must be greater than zero, such as 00:00:10");
        }

        if (!AuthorizationPolicySet.TryCreate(options.AuthorizationPolicies ?? [], $"{path}:AuthorizationPolicies", out var set, out var setErrors))
        {
            problems.AddRange(setErrors);
        }

        if (problems.Count > 0)
        {
            policy = null;
            errors = problems;
            return false;
        }

        policy = new ServerPolicy(options.PeerAuthentication, set!);
        errors = [];
        return true;
    }

    private void OnChange(MeshServerOptions options, string? name)
    {
        if (name is not null && name != Options.DefaultName)
        {
            return;
        }

        ServerPolicy policy;
        lock (_gate)
        {
            if (!TryCompile(options, _path, out var compiled, out var errors))
            {
                Log.UpdateRejected(_logger, errors.Count, string.Join(Environment.NewLine, errors));
                return;
            }

            _current = policy = compiled;
        }

        Log.Updated(_logger, policy.PeerAuthentication, policy.Authorization.Count);
        try
        {
            Changed?.Invoke(policy);
        }
        catch (Exception ex)
        {
            Log.ChangedHandlerFailed(_logger, ex);
        }
    }
}

/// <summary>The configuration path that error messages name (the bound section).</summary>
internal sealed record MeshServerConfigurationPath(string Path);
