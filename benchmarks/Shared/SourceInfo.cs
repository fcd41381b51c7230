using System.Diagnostics;

namespace Mesh.Benchmarking;

/// <summary>Where a benchmark's build came from: the repository root, and the commit a result table measured.</summary>
internal static class SourceInfo
{
    /// <summary>The directory holding Mesh.sln above this build, or null when run elsewhere.</summary>
    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>"commit abc1234 (src/ unchanged)", so that a table can be traced to the code it measured.</summary>
    public static async Task<string> DescribeAsync()
    {
        var root = RepositoryRoot();
        if (root is null)
        {
            return "an unknown commit";
        }

        try
        {
            var commit = (await GitAsync(root, "rev-parse --short HEAD").ConfigureAwait(false)).Trim();
            var changes = (await GitAsync(root, "status --porcelain -- src").ConfigureAwait(false)).Trim();
            return $"commit {commit} ({(changes.Length == 0 ? "src/ unchanged" : "src/ with uncommitted changes")})";
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or TimeoutException)
        {
            return "an unknown commit (git not available)";
        }
    }

    private static async Task<string> GitAsync(string root, string args)
    {
        var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root };
        foreach (var arg in args.Split(' '))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("git did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        return process.ExitCode == 0 ? await output.ConfigureAwait(false) : throw new InvalidOperationException($"git {args} failed");
    }
}
