using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Mesh.ControlPlane.Configuration;
using Mesh.ControlPlane.Hosting;

namespace Mesh.Propagation.Serving;

/// <summary>
/// What one rebuild of the control plane costs for the benchmark's configuration, phase by phase. The phases are
/// internal to Mesh.ControlPlane (no <c>InternalsVisibleTo</c> for benchmarks), so they are called through
/// reflection; one call per phase per repetition, so the reflection's own cost (about a microsecond) is noise
/// against milliseconds. The whole rebuild is timed through the public <see cref="ControlPlaneApp.Publish"/>.
/// </summary>
internal static class TranslationTimer
{
    public static TranslationCost Measure(ControlPlaneApp app, IReadOnlyList<ConfigObject> objects, int repetitions)
    {
        var assembly = typeof(ControlPlaneApp).Assembly;
        var reader = assembly.GetType("Mesh.ControlPlane.Model.MeshConfigReader", throwOnError: true)!;
        var translator = assembly.GetType("Mesh.ControlPlane.Translation.XdsTranslator", throwOnError: true)!;
        var validate = reader.GetMethod("Validate", BindingFlags.Public | BindingFlags.Static)!;
        var read = reader.GetMethod("Read", BindingFlags.Public | BindingFlags.Static)!;
        var translate = translator.GetMethod("Translate", BindingFlags.Public | BindingFlags.Static)!;

        var validateMs = new List<double>();
        var readMs = new List<double>();
        var translateMs = new List<double>();
        var rebuildMs = new List<double>();
        long translateBytes = 0;
        long rebuildBytes = 0;

        // One untimed round first: JIT and first-use caches.
        for (var i = -1; i < repetitions; i++)
        {
            var start = Stopwatch.GetTimestamp();
            foreach (var obj in objects)
            {
                _ = Call(validate, obj);
            }

            var validated = Stopwatch.GetTimestamp();
            var config = Call(read, objects);
            var readDone = Stopwatch.GetTimestamp();
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            _ = Call(translate, config, "bench-" + i.ToString(CultureInfo.InvariantCulture));
            var allocatedAfter = GC.GetAllocatedBytesForCurrentThread();
            var translated = Stopwatch.GetTimestamp();

            var rebuildAllocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var rebuildStart = Stopwatch.GetTimestamp();
            app.Publish();
            var rebuildEnd = Stopwatch.GetTimestamp();
            var rebuildAllocatedAfter = GC.GetAllocatedBytesForCurrentThread();
            if (i < 0)
            {
                continue;
            }

            validateMs.Add(Stopwatch.GetElapsedTime(start, validated).TotalMilliseconds);
            readMs.Add(Stopwatch.GetElapsedTime(validated, readDone).TotalMilliseconds);
            translateMs.Add(Stopwatch.GetElapsedTime(readDone, translated).TotalMilliseconds);
            rebuildMs.Add(Stopwatch.GetElapsedTime(rebuildStart, rebuildEnd).TotalMilliseconds);
            translateBytes += allocatedAfter - allocatedBefore;
            rebuildBytes += rebuildAllocatedAfter - rebuildAllocatedBefore;
        }

        return new TranslationCost(
            objects.Count,
            repetitions,
            Median(validateMs),
            Median(readMs),
            Median(translateMs),
            Median(rebuildMs),
            rebuildMs.Min(),
            translateBytes / repetitions,
            rebuildBytes / repetitions);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }

    /// <summary>Calls a static method with the leading arguments given and its optional ones at their defaults.</summary>
    private static object? Call(MethodInfo method, params object?[] given)
    {
        var arguments = new object?[method.GetParameters().Length];
        given.CopyTo(arguments, 0);
        Array.Fill(arguments, Type.Missing, given.Length, arguments.Length - given.Length);
        return method.Invoke(null, arguments);
    }
}

/// <summary>Medians over the repetitions, in milliseconds; bytes are averages allocated by the calling thread.</summary>
internal sealed record TranslationCost(
    int Objects,
    int Repetitions,
    double ValidateMs,
    double ReadMs,
    double TranslateMs,
    double RebuildMs,
    double RebuildMinMs,
    long TranslateAllocatedBytes,
    long RebuildAllocatedBytes);
