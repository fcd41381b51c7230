using System.Collections.Immutable;
using Mesh.Configuration;
using Mesh.Model;
using Mesh.Resilience;
using Mesh.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Core.Tests.Resilience;

/// <summary>Outlier detection with Envoy's semantics, on a fake clock: every sweep is one advance of the interval.</summary>
public class OutlierDetectorTests
{
    private static readonly AttemptOutcome Ok = AttemptOutcome.FromStatus(200);
    private static readonly AttemptOutcome ServerError = AttemptOutcome.FromStatus(500);

    private TestTime _time = null!;
    private MeshTelemetry _telemetry = null!;
    private OutlierDetector? _detector;

    [SetUp]
    public void SetUp()
    {
        _time = new TestTime();
        _telemetry = new MeshTelemetry(new DetachedMeterFactory());
    }

    [TearDown]
    public void TearDown() => _detector?.Dispose();

    [Test]
    public void Report_Consecutive5xx_EjectsAtExactlyN()
    {
        var endpoints = Create(3, o => o.Consecutive5xxErrors = 5);

        Report(endpoints[0], ServerError, 4);
        Assert.That(endpoints[0].State.IsEjected, Is.False, "4 of 5 errors");

        Report(endpoints[0], AttemptOutcome.FromStatus(503));

        Assert.That(endpoints[0].State.IsEjected, Is.True, "the 5th error ejects");
        Assert.That(endpoints[1].State.IsEjected || endpoints[2].State.IsEjected, Is.False);
    }

    [Test]
    public void Report_SuccessBetweenErrors_StartsTheCountAgain()
    {
        var endpoints = Create(3, o => o.Consecutive5xxErrors = 3);

        Report(endpoints[0], ServerError, 2);
        Report(endpoints[0], AttemptOutcome.FromStatus(404));
        Report(endpoints[0], ServerError, 2);
        Assert.That(endpoints[0].State.IsEjected, Is.False, "a 4xx is a success and resets the run");

        Report(endpoints[0], ServerError);

        Assert.That(endpoints[0].State.IsEjected, Is.True);
    }

    [TestCase(AttemptFailure.ConnectFailure)]
    [TestCase(AttemptFailure.Reset)]
    [TestCase(AttemptFailure.Timeout)]
    [TestCase(AttemptFailure.Other)]
    public void Report_LocalFailures_CountAs5xx(AttemptFailure failure)
    {
        var endpoints = Create(3, o => o.Consecutive5xxErrors = 2);

        Report(endpoints[1], AttemptOutcome.FromFailure(failure), 2);

        Assert.That(endpoints[1].State.IsEjected, Is.True);
    }

    [Test]
    public void Report_ConsecutiveGatewayErrors_CountOnly502To504AndLocalFailures()
    {
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.ConsecutiveGatewayErrors) = (0, 3));

        Report(endpoints[0], AttemptOutcome.FromStatus(502), 2);
        Report(endpoints[0], AttemptOutcome.FromStatus(500));
        Report(endpoints[0], AttemptOutcome.FromStatus(503), 2);
        Assert.That(endpoints[0].State.IsEjected, Is.False, "a 500 is not a gateway error and ends the run");

        Report(endpoints[0], AttemptOutcome.FromFailure(AttemptFailure.Timeout));

        Assert.That(endpoints[0].State.IsEjected, Is.True, "503, 503 and a timeout make 3 gateway errors");
    }

    [Test]
    public void Report_ConsecutiveGatewayErrorsNotConfigured_IsNotEnforced()
    {
        var settings = Settings(o => o.Consecutive5xxErrors = 0);
        var endpoints = Create(3, settings);

        Report(endpoints[0], AttemptOutcome.FromStatus(502), 20);

        Assert.That(settings.ConsecutiveGatewayErrors, Is.EqualTo(5), "Envoy's default threshold");
        Assert.That(settings.EnforcingConsecutiveGatewayErrors, Is.Zero, "Envoy's default enforcement");
        Assert.That(endpoints[0].State.IsEjected, Is.False);
    }

    [Test]
    public void Create_ConsecutiveGatewayErrorsSet_EnforcesFullyUnlessEnforcementIsSet()
    {
        Assert.That(Settings(o => o.ConsecutiveGatewayErrors = 2).EnforcingConsecutiveGatewayErrors, Is.EqualTo(100), "Istio-style: set means enforced");
        Assert.That(Settings(o => (o.ConsecutiveGatewayErrors, o.EnforcingConsecutiveGatewayErrors) = (2, 40)).EnforcingConsecutiveGatewayErrors, Is.EqualTo(40));
        Assert.That(Settings(o => o.EnforcingConsecutiveGatewayErrors = 40).ConsecutiveGatewayErrors, Is.EqualTo(5));
    }

    [Test]
    public void Report_Consecutive5xxDisabled_NeverEjects()
    {
        var endpoints = Create(3, o => o.Consecutive5xxErrors = 0);

        Report(endpoints[0], ServerError, 50);

        Assert.That(endpoints[0].State.IsEjected, Is.False);
    }

    [Test]
    public void Sweep_EjectionTimeOver_ReturnsEndpointAtThatSweepExactly()
    {
        // Ejected half-way between sweeps: 10 s later is t = 10.5 s, so the sweep at t = 11 s returns it.
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.Interval, o.BaseEjectionTime) = (1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10)));
        Advance(TimeSpan.FromMilliseconds(500));
        Report(endpoints[0], ServerError);
        Assert.That(endpoints[0].State.IsEjected, Is.True);
        Advance(TimeSpan.FromMilliseconds(500));

        var returnedAt = SweepsUntilReturned(endpoints[0], TimeSpan.FromSeconds(1), maxSweeps: 20);

        Assert.That(returnedAt, Is.EqualTo(TimeSpan.FromSeconds(11)));
    }

    [Test]
    public void Sweep_RepeatedEjections_GrowByBaseAndStopAtMax()
    {
        // Envoy: ejection k lasts min(k x base, max) while the endpoint is ejected again as soon as it returns.
        var endpoints = Create(2, o => (o.Consecutive5xxErrors, o.Interval, o.BaseEjectionTime, o.MaxEjectionTime) = (1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(35)));
        var durations = new List<TimeSpan>();

        for (var ejection = 1; ejection <= 5; ejection++)
        {
            var ejectedAt = Elapsed;
            Report(endpoints[0], ServerError);
            Assert.That(endpoints[0].State.IsEjected, Is.True);
            var returnedAt = SweepsUntilReturned(endpoints[0], TimeSpan.FromSeconds(1), maxSweeps: 60);
            durations.Add(returnedAt - ejectedAt);
        }

        Assert.That(durations, Is.EqualTo(new[] { 10, 20, 30, 35, 35 }.Select(s => TimeSpan.FromSeconds(s))));
    }

    [Test]
    public void Sweep_HealthyIntervals_DecreaseTheMultiplierByOneEach()
    {
        var endpoints = Create(2, o => (o.Consecutive5xxErrors, o.Interval, o.BaseEjectionTime, o.MaxEjectionTime) = (1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(300)));
        var state = endpoints[0].State;
        for (var ejection = 1; ejection <= 3; ejection++)
        {
            Report(endpoints[0], ServerError);
            SweepsUntilReturned(endpoints[0], TimeSpan.FromSeconds(1), maxSweeps: 100);
        }

        Assert.That(state.Outlier.EjectionMultiplier, Is.EqualTo(3), "the sweep that returns an endpoint does not count as healthy");

        Advance(TimeSpan.FromSeconds(1));
        Assert.That(state.Outlier.EjectionMultiplier, Is.EqualTo(2));
        Advance(TimeSpan.FromSeconds(1));
        Assert.That(state.Outlier.EjectionMultiplier, Is.EqualTo(1));

        // The next ejection lasts (1 + 1) x base.
        var ejectedAt = Elapsed;
        Report(endpoints[0], ServerError);
        var returnedAt = SweepsUntilReturned(endpoints[0], TimeSpan.FromSeconds(1), maxSweeps: 100);
        Assert.That(returnedAt - ejectedAt, Is.EqualTo(TimeSpan.FromSeconds(20)));

        Advance(TimeSpan.FromSeconds(1));
        Advance(TimeSpan.FromSeconds(1));
        Advance(TimeSpan.FromSeconds(1));
        Assert.That(state.Outlier.EjectionMultiplier, Is.Zero, "never below zero");
    }

    [Test]
    public void Report_ManyEjections_MultiplierStopsGrowingOnceMaxIsReached()
    {
        // Envoy grows the multiplier only while multiplier x base < max + base, so recovery from max takes few intervals.
        var endpoints = Create(2, o => (o.Consecutive5xxErrors, o.Interval, o.BaseEjectionTime, o.MaxEjectionTime) = (1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20)));
        var state = endpoints[0].State;
        for (var ejection = 1; ejection <= 6; ejection++)
        {
            Report(endpoints[0], ServerError);
            SweepsUntilReturned(endpoints[0], TimeSpan.FromSeconds(1), maxSweeps: 100);
        }

        Assert.That(state.Outlier.EjectionMultiplier, Is.EqualTo(3));

        for (var healthy = 0; healthy < 3; healthy++)
        {
            Advance(TimeSpan.FromSeconds(1));
        }

        var ejectedAt = Elapsed;
        Report(endpoints[0], ServerError);
        var returnedAt = SweepsUntilReturned(endpoints[0], TimeSpan.FromSeconds(1), maxSweeps: 100);
        Assert.That(returnedAt - ejectedAt, Is.EqualTo(TimeSpan.FromSeconds(10)), "three healthy intervals bring the multiplier from 3 to 0");
    }

    [Test]
    public void Sweep_SuccessRateOutlierRightAfterItsReturn_IsNotCreditedAHealthyInterval()
    {
        // Envoy decrements the multiplier after the interval's analysis and only for endpoints it left in service:
        // an endpoint ejected again at the sweep after its return goes from 1 to 2, so its second ejection is 2 x base.
        var endpoints = Create(5, o => { SuccessRateOnly(o); (o.Interval, o.BaseEjectionTime) = (TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10)); });
        ReportInterval(endpoints, outlierSuccesses: 50);
        Advance(TimeSpan.FromSeconds(10));
        Assert.That(endpoints[4].State.IsEjected, Is.True, "first ejection at t = 10 s");
        Advance(TimeSpan.FromSeconds(10));
        Assert.That(endpoints[4].State.IsEjected, Is.False, "returned at t = 20 s");

        ReportInterval(endpoints, outlierSuccesses: 50);
        Advance(TimeSpan.FromSeconds(10));
        Assert.That(endpoints[4].State.IsEjected, Is.True, "ejected again at t = 30 s");
        var returnedAt = SweepsUntilReturned(endpoints[4], TimeSpan.FromSeconds(10), maxSweeps: 10);

        Assert.That(returnedAt, Is.EqualTo(TimeSpan.FromSeconds(50)));
    }

    [TestCase(3, 10)]
    [TestCase(3, 0)]
    [TestCase(3, 66)]
    [TestCase(3, 67)]
    [TestCase(10, 20)]
    [TestCase(10, 25)]
    [TestCase(10, 100)]
    [TestCase(4, 50)]
    public void Report_MaxEjectionPercent_AllowsOneThenKeepsWithinPercent(int count, int maxPercent)
    {
        var endpoints = Create(count, o => (o.Consecutive5xxErrors, o.MaxEjectionPercent) = (1, maxPercent));

        var ejected = 0;
        for (var i = 0; i < count; i++)
        {
            // Envoy: the first ejection is always allowed; then 100 x (ejected + 1) / n must stay <= the percent.
            var allowed = ejected == 0 || 100.0 * (ejected + 1) / count <= maxPercent;
            Report(endpoints[i], ServerError);
            Assert.That(endpoints[i].State.IsEjected, Is.EqualTo(allowed), $"endpoint {i} with {ejected} ejected");
            ejected += allowed ? 1 : 0;
        }

        Assert.That(ejected, Is.EqualTo(Math.Max(1, count * maxPercent / 100)));
    }

    [Test]
    public void Report_OutlierKeptByMaxPercent_IsEjectedOnItsNextErrorOnceRoomFreesUp()
    {
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.Interval, o.BaseEjectionTime) = (2, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)));
        Report(endpoints[0], ServerError, 2);
        Report(endpoints[1], ServerError, 2);
        Assert.That(endpoints[1].State.IsEjected, Is.False, "10% of 3 endpoints: only the first ejection is allowed");

        SweepsUntilReturned(endpoints[0], TimeSpan.FromSeconds(1), maxSweeps: 10);
        Report(endpoints[1], ServerError);

        Assert.That(endpoints[1].State.IsEjected, Is.True);
    }

    [Test]
    public void Sweep_SuccessRateBelowMeanMinusFactorTimesStdev_Ejects()
    {
        // Success rates 100, 98, 97, 99, 80: mean 94.8, population variance 55.76, stdev 7.4673,
        // threshold 94.8 - 1.9 x 7.4673 = 80.612, so only the 80 is an outlier (the sample stdev, 8.349, would give 78.94 and eject nobody).
        var endpoints = Create(5, SuccessRateOnly);
        int[] successes = [100, 98, 97, 99, 80];
        for (var i = 0; i < 5; i++)
        {
            Report(endpoints[i], Ok, successes[i]);
            Report(endpoints[i], ServerError, 100 - successes[i]);
        }

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(endpoints.Select(e => e.State.IsEjected), Is.EqualTo(new[] { false, false, false, false, true }));
    }

    [Test]
    public void SuccessRateThreshold_Rates_IsMeanMinusFactorTimesPopulationStdev()
    {
        double[] rates = [100, 98, 97, 99, 80];
        var mean = rates.Average();
        var stdev = Math.Sqrt(rates.Sum(r => (r - mean) * (r - mean)) / rates.Length);

        var threshold = OutlierDetector.SuccessRateThreshold(rates, 1.9);

        Assert.That(mean, Is.EqualTo(94.8).Within(1e-9));
        Assert.That(stdev, Is.EqualTo(Math.Sqrt(55.76)).Within(1e-9));
        Assert.That(threshold, Is.EqualTo(80.6122024).Within(1e-6));
        Assert.That(threshold, Is.EqualTo(mean - (1.9 * stdev)).Within(1e-9));
        Assert.That(OutlierDetector.SuccessRateThreshold([50, 100, 100, 100, 100], 1.9), Is.EqualTo(52).Within(1e-9), "Envoy's own example");
    }

    [Test]
    public void Sweep_SuccessRateHostsBelowRequestVolume_AreNotJudgedNorCounted()
    {
        // The sixth endpoint fails everything but has 99 requests (volume 100): it is left out, and so are its numbers.
        var endpoints = Create(6, SuccessRateOnly);
        int[] successes = [100, 98, 97, 99, 80];
        for (var i = 0; i < 5; i++)
        {
            Report(endpoints[i], Ok, successes[i]);
            Report(endpoints[i], ServerError, 100 - successes[i]);
        }

        Report(endpoints[5], ServerError, 99);

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(endpoints.Select(e => e.State.IsEjected), Is.EqualTo(new[] { false, false, false, false, true, false }));
    }

    [Test]
    public void Sweep_FewerSuccessRateHostsThanMinimum_EjectsNobody()
    {
        var endpoints = Create(5, o => { SuccessRateOnly(o); o.SuccessRateMinimumHosts = 6; });
        for (var i = 0; i < 5; i++)
        {
            Report(endpoints[i], Ok, i == 4 ? 10 : 100);
            Report(endpoints[i], ServerError, i == 4 ? 90 : 0);
        }

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(endpoints.Any(e => e.State.IsEjected), Is.False);
    }

    [Test]
    public void Sweep_SuccessRate_JudgesOnlyTheLastInterval()
    {
        var endpoints = Create(5, SuccessRateOnly);
        Report(endpoints[4], ServerError, 100);
        Advance(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 5; i++)
        {
            Report(endpoints[i], Ok, 100);
        }

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(endpoints.Any(e => e.State.IsEjected), Is.False, "the first interval had one host with volume, the second has no outlier");
    }

    [TestCase(43, true)]
    [TestCase(42, false)]
    [TestCase(50, true)]
    public void Sweep_FailurePercentageAtOrAboveThreshold_Ejects(int failures, bool ejected)
    {
        // Threshold 85: 43 of 50 is 86 %, 42 of 50 is 84 %.
        var endpoints = Create(5, FailurePercentageOnly);
        for (var i = 0; i < 5; i++)
        {
            Report(endpoints[i], ServerError, i == 0 ? failures : 0);
            Report(endpoints[i], Ok, i == 0 ? 50 - failures : 50);
        }

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(endpoints[0].State.IsEjected, Is.EqualTo(ejected));
        Assert.That(endpoints.Skip(1).Any(e => e.State.IsEjected), Is.False);
    }

    [Test]
    public void Sweep_FailurePercentageExactlyAtThreshold_Ejects()
    {
        var endpoints = Create(5, o => { FailurePercentageOnly(o); o.FailurePercentageRequestVolume = 20; });
        for (var i = 0; i < 5; i++)
        {
            Report(endpoints[i], ServerError, i == 0 ? 17 : 0);
            Report(endpoints[i], Ok, i == 0 ? 3 : 20);
        }

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(endpoints[0].State.IsEjected, Is.True, "17 of 20 is exactly 85 %");
    }

    [Test]
    public void Sweep_FailurePercentageBelowVolumeOrTooFewHosts_EjectsNobody()
    {
        var lowVolume = Create(6, FailurePercentageOnly);
        Report(lowVolume[0], ServerError, 49);
        for (var i = 1; i < 6; i++)
        {
            Report(lowVolume[i], Ok, 50);
        }

        Advance(TimeSpan.FromSeconds(10));
        Assert.That(lowVolume[0].State.IsEjected, Is.False, "49 requests, volume 50");
        _detector!.Dispose();

        var fewHosts = Create(5, o => { FailurePercentageOnly(o); o.FailurePercentageMinimumHosts = 6; });
        Report(fewHosts[0], ServerError, 50);
        for (var i = 1; i < 5; i++)
        {
            Report(fewHosts[i], Ok, 50);
        }

        Advance(TimeSpan.FromSeconds(10));
        Assert.That(fewHosts[0].State.IsEjected, Is.False, "5 hosts with volume, minimum 6");
    }

    [Test]
    public void Sweep_FailurePercentageByDefault_IsNotEnforced()
    {
        var endpoints = Create(5, o => { FailurePercentageOnly(o); o.EnforcingFailurePercentage = 0; });
        Report(endpoints[0], ServerError, 100);
        for (var i = 1; i < 5; i++)
        {
            Report(endpoints[i], Ok, 100);
        }

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(new OutlierDetectionOptions().EnforcingFailurePercentage, Is.Zero);
        Assert.That(endpoints[0].State.IsEjected, Is.False);
    }

    // Envoy's featureEnabled: eject when a draw in [0, 100) is below the enforcement percent.
    [TestCase(30, 29, true)]
    [TestCase(30, 30, false)]
    [TestCase(30, 99, false)]
    [TestCase(1, 0, true)]
    public void Report_EnforcingConsecutive5xx_EjectsWhenTheDrawIsBelowThePercent(int enforcing, int draw, bool ejected)
    {
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.EnforcingConsecutive5xx) = (2, enforcing), new ConstantRandom(intValue: draw));

        Report(endpoints[0], ServerError, 2);

        Assert.That(endpoints[0].State.IsEjected, Is.EqualTo(ejected));
    }

    [Test]
    public void Report_EnforcementDeclined_NeedsAFullRunOfErrorsAgain()
    {
        var random = new ScriptedRandom(ints: [50, 10]);
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.EnforcingConsecutive5xx) = (3, 50), random);

        Report(endpoints[0], ServerError, 3);
        Assert.That(endpoints[0].State.IsEjected, Is.False, "draw 50 is not below 50");
        Report(endpoints[0], ServerError, 2);
        Assert.That(endpoints[0].State.IsEjected, Is.False, "the declined detection reset the run");

        Report(endpoints[0], ServerError);

        Assert.That(endpoints[0].State.IsEjected, Is.True, "draw 10 is below 50");
    }

    [Test]
    public void Report_FullEnforcement_DrawsNoRandomNumber()
    {
        var endpoints = Create(3, o => o.Consecutive5xxErrors = 1, new ScriptedRandom());

        Report(endpoints[0], ServerError);

        Assert.That(endpoints[0].State.IsEjected, Is.True);
    }

    [TestCase(60, true)]
    [TestCase(61, false)]
    public void Sweep_EnforcingSuccessRate_UsesTheInjectedRandom(int draw, bool ejected)
    {
        var endpoints = Create(5, o => { SuccessRateOnly(o); o.EnforcingSuccessRate = 61; }, new ConstantRandom(intValue: draw));
        for (var i = 0; i < 5; i++)
        {
            Report(endpoints[i], Ok, i == 4 ? 50 : 100);
            Report(endpoints[i], ServerError, i == 4 ? 50 : 0);
        }

        Advance(TimeSpan.FromSeconds(10));

        Assert.That(endpoints[4].State.IsEjected, Is.EqualTo(ejected));
    }

    [Test]
    public void EjectionsChanged_EjectionAndReturn_RaisedOnceEach()
    {
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.Interval, o.BaseEjectionTime) = (1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)));
        var raised = 0;
        _detector!.EjectionsChanged += () => raised++;

        Report(endpoints[0], ServerError);
        Assert.That(raised, Is.EqualTo(1));
        Report(endpoints[0], ServerError);
        Assert.That(raised, Is.EqualTo(1), "an ejected endpoint is not ejected again");
        Advance(TimeSpan.FromSeconds(1));
        Advance(TimeSpan.FromSeconds(1));
        Assert.That(raised, Is.EqualTo(1), "sweeps that change nothing are silent");
        Advance(TimeSpan.FromSeconds(1));

        Assert.That(raised, Is.EqualTo(2));
        Assert.That(endpoints[0].State.IsEjected, Is.False);
    }

    [Test]
    public void Report_EjectionAndReturn_AreCountedInTelemetry()
    {
        using var ejections = new MetricCollector<long>(_telemetry.Meter, "mesh.outlier.ejections");
        using var returns = new MetricCollector<long>(_telemetry.Meter, "mesh.outlier.returns");
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.ConsecutiveGatewayErrors, o.Interval, o.BaseEjectionTime) = (0, 1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)));

        Report(endpoints[0], AttemptOutcome.FromStatus(504));
        Advance(TimeSpan.FromSeconds(1));

        var ejection = ejections.GetMeasurementSnapshot().Single();
        Assert.That(ejection.Tags[MeshTelemetry.Tags.EjectionReason], Is.EqualTo("consecutive_gateway_errors"));
        Assert.That(ejection.Tags[MeshTelemetry.Tags.Service], Is.EqualTo("backend"));
        Assert.That(returns.GetMeasurementSnapshot().Single().Value, Is.EqualTo(1));
    }

    [Test]
    public void Dispose_Detector_StopsSweeping()
    {
        var endpoints = Create(3, o => (o.Consecutive5xxErrors, o.Interval, o.BaseEjectionTime) = (1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)));
        Report(endpoints[0], ServerError);

        _detector!.Dispose();
        Advance(TimeSpan.FromSeconds(5));

        Assert.That(endpoints[0].State.IsEjected, Is.True, "nothing returns the endpoint any more");
    }

    /// <summary>One interval of traffic: 100 requests to each endpoint, all successful but for the last endpoint's.</summary>
    private void ReportInterval(ImmutableArray<EndpointModel> endpoints, int outlierSuccesses)
    {
        for (var i = 0; i < endpoints.Length; i++)
        {
            var successes = i == endpoints.Length - 1 ? outlierSuccesses : 100;
            Report(endpoints[i], Ok, successes);
            Report(endpoints[i], ServerError, 100 - successes);
        }
    }

    private static void SuccessRateOnly(OutlierDetectionOptions o)
    {
        o.Consecutive5xxErrors = 0;
        o.MaxEjectionPercent = 100;
        o.SuccessRateMinimumHosts = 5;
        o.SuccessRateRequestVolume = 100;
    }

    private static void FailurePercentageOnly(OutlierDetectionOptions o)
    {
        o.Consecutive5xxErrors = 0;
        o.MaxEjectionPercent = 100;
        o.EnforcingSuccessRate = 0;
        o.EnforcingFailurePercentage = 100;
        o.FailurePercentageThreshold = 85;
        o.FailurePercentageMinimumHosts = 5;
        o.FailurePercentageRequestVolume = 50;
    }

    private static OutlierDetectionSettings Settings(Action<OutlierDetectionOptions> configure)
    {
        var options = new OutlierDetectionOptions();
        configure(options);
        var errors = new List<string>();
        var settings = OutlierDetectionSettings.Create(options, "test", errors);
        Assert.That(errors, Is.Empty);
        return settings!;
    }

    private TimeSpan Elapsed => _time.GetUtcNow() - _time.Start;

    private ImmutableArray<EndpointModel> Create(int count, Action<OutlierDetectionOptions> configure, Random? random = null) =>
        Create(count, Settings(configure), random);

    private ImmutableArray<EndpointModel> Create(int count, OutlierDetectionSettings settings, Random? random = null)
    {
        var endpoints = TestEndpoints.Many(count);
        _detector = new OutlierDetector("backend", settings, endpoints, _time, random ?? new ConstantRandom(), _telemetry, NullLogger.Instance);
        return endpoints;
    }

    private void Report(EndpointModel endpoint, AttemptOutcome outcome, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            _detector!.Report(endpoint, outcome);
        }
    }

    /// <summary>Advances the clock; the detector's timer runs its sweep synchronously inside the advance.</summary>
    private void Advance(TimeSpan delta) => _time.Advance(delta);

    /// <summary>Advances one interval at a time until the endpoint is back; returns the elapsed time then.</summary>
    private TimeSpan SweepsUntilReturned(EndpointModel endpoint, TimeSpan interval, int maxSweeps)
    {
        for (var sweep = 0; sweep < maxSweeps; sweep++)
        {
            Advance(interval);
            if (!endpoint.State.IsEjected)
            {
                return Elapsed;
            }
        }

        Assert.Fail($"not returned within {maxSweeps} sweeps");
        return TimeSpan.Zero;
    }
}
