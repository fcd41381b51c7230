using Mesh.Benchmarking;
using Mesh.LoadTest;
using Mesh.LoadTest.Serving;

// One executable, two roles: the load test (the client side, measured) and, with --serve, the child process
// that hosts the backends and the YARP hop, so that the client's CPU time and allocations are its own.
if (args.Length > 0 && args[0] == ServeProtocol.Verb)
{
    return await ServeCommand.RunAsync(args);
}

LoadTestOptions options;
try
{
    options = LoadTestOptions.Parse(args);
}
catch (ArgumentException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    await Console.Error.WriteLineAsync(LoadTestOptions.Usage);
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(LoadTestOptions.Usage);
    return 0;
}

return await LoadTestCommand.RunAsync(options);
