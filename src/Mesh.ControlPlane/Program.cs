using Mesh.ControlPlane.Hosting;
using Microsoft.Extensions.Logging;

// The command line of DESIGN 4.4; the work is in ControlPlaneApp so that tests and the demo run it in-process.
if (args is ["--help"] or ["-h"])
{
    await Console.Out.WriteLineAsync(ControlPlaneOptions.Help).ConfigureAwait(false);
    return 0;
}

if (ControlPlaneOptions.TryParse(args, out var options) is { } error)
{
    await Console.Error.WriteLineAsync(error).ConfigureAwait(false);
    return 2;
}

using var loggerFactory = LoggerFactory.Create(static b => b.AddSimpleConsole(static o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information).AddFilter("Microsoft", LogLevel.Warning));
options.LoggerFactory = loggerFactory;
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

// SIGTERM (docker stop, Kubernetes) stops as cleanly as Ctrl-C.
using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

ControlPlaneApp app;
try
{
    app = await ControlPlaneApp.StartAsync(options, stop.Token).ConfigureAwait(false);
}
catch (Exception ex) when (ex is ArgumentException or IOException or InvalidOperationException)
{
    await Console.Error.WriteLineAsync($"The control plane did not start: {ex.Message}").ConfigureAwait(false);
    return 1;
}

await using (app.ConfigureAwait(false))
{
    var ca = options.Ca.IsEnabled ? "; certificates signed on the xDS address, root at /ca/root-cert.pem" : string.Empty;
    await Console.Out.WriteLineAsync($"xDS on {app.XdsAddress}, admin on {app.AdminAddress} (/healthz, /readyz, /debug/config_dump, /debug/clients){ca}; Ctrl-C stops.").ConfigureAwait(false);
    try
    {
        await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
    }
    catch (OperationCanceledException)
    {
        // Ctrl-C: stop cleanly below.
    }
}

return 0;
