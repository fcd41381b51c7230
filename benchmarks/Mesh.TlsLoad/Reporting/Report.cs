using System.Globalization;
using System.Text;
using System.Text.Json;
using Mesh.TlsLoad.Clients;

namespace Mesh.TlsLoad.Reporting;

/// <summary>The Markdown and JSON reports: medians over the rounds with their range, and the ratios.</summary>
internal static class Report
{
    public const double Goal = 0.97;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Json(RunInfo run, IReadOnlyList<Measurement> measurements, IReadOnlyList<PeerObservation> resumption) =>
        JsonSerializer.Serialize(new { Run = run, Measurements = measurements, ResumptionCheck = resumption }, Indented);

    public static string Markdown(RunInfo run, IReadOnlyList<Measurement> measurements, IReadOnlyList<PeerObservation> resumption)
    {
        var md = new StringBuilder();
        md.AppendLine(Inv($"# Mesh.TlsLoad ({run.Mode}), {run.Started:yyyy-MM-dd HH:mm}–{run.Finished:HH:mm} UTC"));
        md.AppendLine();
        md.AppendLine(Inv($"- command: `{run.Command}`"));
        md.AppendLine(Inv($"- source: {run.Source}"));
        md.AppendLine(Inv($"- machine: {run.Machine}"));
        md.AppendLine(Inv($"- load average: {run.LoadAverage}"));
        md.AppendLine(Inv($"- {run.Rounds} measured round(s) of {run.DurationSeconds:0.#} s per variant, alternating between the variants of a table, after {run.WarmupSeconds:0.#} s of warm-up each; a fresh `HttpClient` per variant"));
        md.AppendLine("- server: a child process, Kestrel on 127.0.0.1, one server certificate (ECDSA P-256 X509-SVID) on both listeners: **tls** = `UseHttps`, no client certificate; **mtls** = `UseMeshTls()` with `PeerAuthentication = Strict`");
        md.AppendLine("- figures per variant: median of the rounds (min–max of the rounds for requests/s); CPU per 1,000 requests the server saw; \"other load\" is the highest share of the machine's CPU that neither process used during a round (other processes, steal, kernel threads)");
        md.AppendLine();

        var steady = measurements.Where(m => m.Section == "steady").ToList();
        if (steady.Count > 0)
        {
            md.AppendLine(Inv($"## Steady state: keep-alive, closed loop, {run.Concurrency} requests in flight"));
            md.AppendLine();
            foreach (var protocol in steady.Select(m => m.Protocol).Distinct())
            {
                var rows = steady.Where(m => m.Protocol == protocol).ToList();
                md.AppendLine(Inv($"### {protocol}"));
                md.AppendLine();
                md.AppendLine("| variant | listener | requests/s | min–max | p50 µs | p99 µs | client CPU ms / 1k req | server CPU ms / 1k req | connections opened | errors | other load |");
                md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
                foreach (var group in rows.GroupBy(m => m.Variant))
                {
                    var g = group.ToList();
                    md.AppendLine(Inv($"| {group.Key} | {g[0].Listener} | {Median(g, m => m.PerSecond):N0} | {g.Min(m => m.PerSecond):N0}–{g.Max(m => m.PerSecond):N0} | {Median(g, m => m.P50Us):N0} | {Median(g, m => m.P99Us):N0} | {Median(g, m => m.ClientCpuMsPer1k):N1} | {Median(g, m => m.ServerCpuMsPer1k):N1} | {g.Sum(m => m.Server.Connections)} | {g.Sum(m => m.Errors)} | ≤ {g.Max(m => m.OtherLoadPercent):N0} % |"));
                }

                md.AppendLine();
                md.AppendLine("| ratio | requests/s: ratio of medians | requests/s: median of per-round ratios | requests/s: per-round range | CPU per request (client + server): ratio of medians | goal (requests/s) | verdict (ratio of medians) |");
                md.AppendLine("|---|---:|---:|---:|---:|---|---|");
                AppendRatio(md, rows, "mtls", "tls", Goal);
                AppendRatio(md, rows, "mesh-mtls", "mesh-tls", Goal);
                AppendRatio(md, rows, "mesh-tls", "tls", null);
                AppendRatio(md, rows, "mesh-mtls", "mtls", null);
                md.AppendLine();
            }
        }

        var handshakes = measurements.Where(m => m.Section == "handshake").ToList();
        if (handshakes.Count > 0)
        {
            md.AppendLine(Inv($"## Handshakes: a new TLS connection per request ({handshakes[0].Protocol}), closed loop, {run.HandshakeConcurrency} in flight"));
            md.AppendLine();
            md.AppendLine("`+resume`: the client allows TLS session resumption (the default); `-resume`: `SslClientAuthenticationOptions.AllowTlsResume = false`. The server is left at its defaults.");
            md.AppendLine(run.ResumptionProbe
                ? "\"resumed\" is what OpenSSL's `SSL_session_reused` says of each server-side connection."
                : "Whether sessions were resumed could not be read on this platform (\"resumed\" stays empty).");
            md.AppendLine();
            md.AppendLine("| variant | handshakes/s | min–max | p50 µs | p99 µs | client CPU ms / 1k | server CPU ms / 1k | server: connections | server: resumed | server: client certificate seen | server: requests with a validated peer | client: server validations / connection | client: certificate selections / connection | errors | other load |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var group in handshakes.GroupBy(m => m.Variant))
            {
                var g = group.ToList();
                var connections = g.Sum(m => m.Server.Connections);
                var requests = g.Sum(m => m.Server.Requests);
                var probed = g.Sum(m => m.Server.Resumed + m.Server.FullHandshakes);
                var resumed = probed == 0 ? "?" : Share(g.Sum(m => m.Server.Resumed), probed);
                var mutual = g[0].Listener == "mtls";
                md.AppendLine(Inv($"| {group.Key} | {Median(g, m => m.PerSecond):N0} | {g.Min(m => m.PerSecond):N0}–{g.Max(m => m.PerSecond):N0} | {Median(g, m => m.P50Us):N0} | {Median(g, m => m.P99Us):N0} | {Median(g, m => m.ClientCpuMsPer1k):N1} | {Median(g, m => m.ServerCpuMsPer1k):N1} | {connections:N0} | {resumed} | {Share(g.Sum(m => m.Server.WithClientCertificate), connections)} | {(mutual ? Share(g.Sum(m => m.Server.PeerValidatedRequests), requests) : "–")} | {PerConnection(g.Sum(m => m.ClientValidations ?? 0), connections)} | {(mutual ? PerConnection(g.Sum(m => m.ClientSelections ?? 0), connections) : "–")} | {g.Sum(m => m.Errors)} | ≤ {g.Max(m => m.OtherLoadPercent):N0} % |"));
            }

            md.AppendLine();
            md.AppendLine("| ratio | handshakes/s: ratio of medians | median of per-round ratios | per-round range | CPU per handshake (client + server): ratio of medians |");
            md.AppendLine("|---|---:|---:|---:|---:|");
            AppendRatio(md, handshakes, "mtls +resume", "tls +resume", null, verdict: false);
            AppendRatio(md, handshakes, "mtls -resume", "tls -resume", null, verdict: false);
            AppendRatio(md, handshakes, "tls +resume", "tls -resume", null, verdict: false);
            AppendRatio(md, handshakes, "mtls +resume", "mtls -resume", null, verdict: false);
            md.AppendLine();
        }

        if (resumption.Count > 0)
        {
            md.AppendLine("## Resumption check: the client rotates its certificate between requests 3 and 4");
            md.AppendLine();
            md.AppendLine("A new connection per request to the mtls listener, resumption allowed; the client's certificate selection callback returns the first certificate for requests 1–3 and a second one (same SPIFFE ID, new key and serial) from request 4.");
            md.AppendLine();
            md.AppendLine("| request | client presents (serial) | server sees (serial) | resumed | SPIFFE ID the mesh validator accepted |");
            md.AppendLine("|---:|---|---|---|---|");
            foreach (var o in resumption)
            {
                md.AppendLine(Inv($"| {o.Request} | {o.PresentedSerial} | {o.ServerSawSerial}{(o.ServerSawSerial == o.PresentedSerial ? string.Empty : " (**not the presented one**)")} | {o.Resumed} | {o.ServerValidatedPeer} |"));
            }

            md.AppendLine();
        }

        var errors = measurements.Where(m => m.Errors > 0).ToList();
        if (errors.Count > 0)
        {
            md.AppendLine("## Errors");
            md.AppendLine();
            foreach (var m in errors)
            {
                md.AppendLine(Inv($"- {m.Section} {m.Protocol} {m.Variant} round {m.Round}: {m.Errors} ({m.FirstError})"));
            }

            md.AppendLine();
        }

        return md.ToString();
    }

    private static void AppendRatio(StringBuilder md, List<Measurement> rows, string numerator, string denominator, double? goal, bool verdict = true)
    {
        var top = rows.Where(m => m.Variant == numerator).ToList();
        var bottom = rows.Where(m => m.Variant == denominator).ToList();
        if (top.Count == 0 || bottom.Count == 0)
        {
            return;
        }

        var ratio = Median(top, m => m.PerSecond) / Median(bottom, m => m.PerSecond);
        var perRound = top.Join(bottom, m => m.Round, m => m.Round, (t, b) => t.PerSecond / b.PerSecond).Order().ToList();
        var medianPerRound = perRound.Count % 2 == 1 ? perRound[perRound.Count / 2] : (perRound[(perRound.Count / 2) - 1] + perRound[perRound.Count / 2]) / 2;
        var range = Inv($"{perRound.Min():F3}–{perRound.Max():F3}");
        var cpu = Median(top, m => m.ClientCpuMsPer1k + m.ServerCpuMsPer1k) / Median(bottom, m => m.ClientCpuMsPer1k + m.ServerCpuMsPer1k);
        if (!verdict)
        {
            md.AppendLine(Inv($"| {numerator} / {denominator} | {ratio:F3} | {medianPerRound:F3} | {range} | {cpu:F3} |"));
            return;
        }

        var judged = goal is null ? "–" : ratio >= goal ? (perRound.Min() >= goal ? "met" : "met by the median, not by every round") : Inv($"**missed** by {goal - ratio:F3}");
        md.AppendLine(Inv($"| {numerator} / {denominator} | {ratio:F3} | {medianPerRound:F3} | {range} | {cpu:F3} | {(goal is null ? "–" : Inv($"≥ {goal:F2}"))} | {judged} |"));
    }

    private static double Median(List<Measurement> rows, Func<Measurement, double> value)
    {
        var sorted = rows.Select(value).Order().ToList();
        return sorted.Count == 0 ? 0 : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Share(long part, long whole) => whole == 0 ? "–" : Inv($"{100.0 * part / whole:F0} %");

    private static string PerConnection(long count, long connections) => connections == 0 ? "–" : Inv($"{(double)count / connections:F2}");

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
