using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Mesh.TlsLoad.Serving;

/// <summary>
/// Whether an <see cref="SslStream"/>'s handshake resumed an earlier session. .NET does not say, so this asks OpenSSL
/// (<c>SSL_session_reused</c>) about the stream's native handle, found by reflection. Linux with OpenSSL 3 only; elsewhere,
/// or when the runtime's internals differ, <see cref="IsAvailable"/> is false and the report says "unknown".
/// </summary>
internal static unsafe class TlsSessionProbe
{
    private static readonly FieldInfo? ContextField = typeof(SslStream).GetField("_securityContext", BindingFlags.Instance | BindingFlags.NonPublic);
    private static readonly delegate* unmanaged<nint, int> SessionReused = Load();

    private static int _reported;

    public static bool IsAvailable => ContextField is not null && SessionReused != null;

    /// <summary>True when resumed, false when a full handshake, null when it cannot be told.</summary>
    public static bool? IsResumed(SslStream stream)
    {
        if (!IsAvailable || ContextField!.GetValue(stream) is not { } context || FindHandle(context) is not { IsInvalid: false } handle)
        {
            if (Interlocked.Exchange(ref _reported, 1) == 0)
            {
                Console.Error.WriteLine($"resumption probe: no SSL handle found in SslStream's context ({ContextField?.GetValue(stream)?.GetType().FullName ?? "none"})");
            }

            return null;
        }

        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return SessionReused(handle.DangerousGetHandle()) == 1;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>The OpenSSL the runtime uses, e.g. "OpenSSL 3.0.19 27 Jan 2026", or null.</summary>
    public static string? OpenSslVersion()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libssl.so.3", out var library) || !NativeLibrary.TryGetExport(library, "OpenSSL_version", out var export))
        {
            return null;
        }

        // OpenSSL_version(OPENSSL_VERSION) returns a static string.
        return Marshal.PtrToStringUTF8(((delegate* unmanaged<int, nint>)export)(0));
    }

    private static SafeHandle? FindHandle(object context)
    {
        // Since .NET 8 the context on Linux is the SafeSslHandle itself; before, SafeDeleteSslContext held one.
        if (context is SafeHandle direct && context.GetType().Name == "SafeSslHandle")
        {
            return direct;
        }

        // SafeDeleteSslContext on Unix keeps the SSL* in a SafeSslHandle (property SslContext).
        if (context.GetType().GetProperty("SslContext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)?.GetValue(context) is SafeHandle byProperty)
        {
            return byProperty;
        }

        foreach (var field in context.GetType().GetFields(BindingFlags.Instance | BindingFlags.NonPublic))
        {
            if (typeof(SafeHandle).IsAssignableFrom(field.FieldType) && field.FieldType.Name.Contains("Ssl", StringComparison.Ordinal) && field.GetValue(context) is SafeHandle byField)
            {
                return byField;
            }
        }

        return null;
    }

    private static delegate* unmanaged<nint, int> Load()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libssl.so.3", out var library) || !NativeLibrary.TryGetExport(library, "SSL_session_reused", out var export))
        {
            return null;
        }

        return (delegate* unmanaged<nint, int>)export;
    }
}
