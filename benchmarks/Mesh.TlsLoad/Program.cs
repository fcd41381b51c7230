using Mesh.Benchmarking;
using Mesh.TlsLoad;
using Mesh.TlsLoad.Serving;

// One executable, two roles: the load test (the client side, measured) and, with --serve, the child process that
// hosts the TLS and mTLS listeners, so that the client's CPU time is its own.
if (args.Length > 0 && args[0] == ServeProtocol.Verb)
{
    return await ServeCommand.RunAsync(args);
}

TlsLoadOptions options;
try
{
    options = TlsLoadOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException)
{
    await Console.Error.WriteLineAsync(ex.Message);
    await Console.Error.WriteLineAsync(TlsLoadOptions.Usage);
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(TlsLoadOptions.Usage);
    return 0;
}

return await TlsLoadCommand.RunAsync(options);
