using System.Diagnostics;

namespace Mesh.ControlPlane.Tests.Infrastructure;

/// <summary>A temporary manifest directory, deleted on dispose.</summary>
internal sealed class ManifestTestDirectory : IDisposable
{
    public ManifestTestDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mesh-manifests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string FullPath(string relative) => System.IO.Path.Combine(Path, relative);

    public void Write(string relative, string content)
    {
        var full = FullPath(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
    }

    public void Delete(string relative) => File.Delete(FullPath(relative));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory left behind is harmless.
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(10);
        }

        return true;
    }
}
