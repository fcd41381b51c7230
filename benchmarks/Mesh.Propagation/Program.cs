using Mesh.Benchmarking;
using Mesh.Propagation;
using Mesh.Propagation.Serving;

// One executable, two roles: the benchmark with the clients and, with --serve, the child process that runs the
// control plane alone, so that the control plane's CPU time and memory are its own.
if (args.Length > 0 && args[0] == ServeProtocol.Verb)
{
    return await ServeCommand.RunAsync(args);
}

PropagationOptions options;
try
{
    options = PropagationOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException)
{
    await Console.Error.WriteLineAsync(ex.Message);
    await Console.Error.WriteLineAsync(PropagationOptions.Usage);
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(PropagationOptions.Usage);
    return 0;
}

return await PropagationCommand.RunAsync(options);
