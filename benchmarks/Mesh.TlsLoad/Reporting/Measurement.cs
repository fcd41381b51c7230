using Mesh.TlsLoad.Serving;

namespace Mesh.TlsLoad.Reporting;

/// <summary>One measured round of one variant.</summary>
/// <param name="ClientCpuMsPer1k">This process's CPU time per 1,000 requests the server saw in the window.</param>
/// <param name="ServerCpuMsPer1k">The server process's CPU time per 1,000 requests.</param>
/// <param name="OtherLoadPercent">The machine's busy time not spent by the two processes (other processes, steal, kernel threads), as a share of all cores.</param>
/// <param name="Server">The listener's counters over the window: connections, requests, resumed sessions, certificates, validated peers.</param>
/// <param name="ClientValidations">The plain variants' server-certificate validation callbacks in the window.</param>
/// <param name="ClientSelections">The plain mtls variants' client-certificate selection callbacks in the window.</param>
internal sealed record Measurement(
    string Section,
    string Protocol,
    string Variant,
    string Listener,
    int Round,
    double Seconds,
    long Requests,
    long Errors,
    string? FirstError,
    double PerSecond,
    double P50Us,
    double P99Us,
    double ClientCpuMsPer1k,
    double ServerCpuMsPer1k,
    double OtherLoadPercent,
    ListenerStats Server,
    long? ClientValidations,
    long? ClientSelections);

/// <summary>What a report needs to be traced: when, which code, which machine, which settings.</summary>
internal sealed record RunInfo(
    string Mode,
    DateTimeOffset Started,
    DateTimeOffset Finished,
    string Source,
    MachineInfo Machine,
    string LoadAverage,
    string Command,
    int Rounds,
    double DurationSeconds,
    double WarmupSeconds,
    int Concurrency,
    int HandshakeConcurrency,
    bool ResumptionProbe);
