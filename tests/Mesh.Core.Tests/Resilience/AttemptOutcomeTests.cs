using Mesh.Configuration;
using Mesh.Resilience;

namespace Mesh.Core.Tests.Resilience;

public sealed class AttemptOutcomeTests
{
    [TestCase(0, 200, true)]
    [TestCase(14, 503, false)]
    [TestCase(4, 504, false)]
    [TestCase(8, 429, false)]
    [TestCase(5, 404, false)]
    [TestCase(16, 401, false)]
    public void FromGrpcStatus_AnyStatusButOk_IsAFailure(int grpcStatus, int httpStatus, bool success)
    {
        var outcome = AttemptOutcome.FromGrpcStatus(grpcStatus);

        // gRFC A50: a call is a success only with OK; the HTTP status is Envoy's mapping of the gRPC status.
        Assert.That(outcome.StatusCode, Is.EqualTo(httpStatus));
        Assert.That(outcome.GrpcStatus, Is.EqualTo(grpcStatus));
        Assert.That(outcome.IsSuccess, Is.EqualTo(success));
        Assert.That(outcome.Is5xx, Is.EqualTo(!success));
        Assert.That(outcome.IsLocalFailure, Is.False);
    }

    [Test]
    public void FromStatus_HttpOutcome_HasNoGrpcStatusAndKeepsHttpSemantics()
    {
        Assert.That(AttemptOutcome.FromStatus(404).GrpcStatus, Is.Null);
        Assert.That(AttemptOutcome.FromStatus(404).IsSuccess, Is.True);
        Assert.That(AttemptOutcome.FromStatus(503).Is5xx, Is.True);
        Assert.That(AttemptOutcome.FromStatus(200), Is.Not.EqualTo(AttemptOutcome.FromGrpcStatus(0)));
    }

    [TestCase(400, 13)]
    [TestCase(401, 16)]
    [TestCase(403, 7)]
    [TestCase(404, 12)]
    [TestCase(429, 14)]
    [TestCase(502, 14)]
    [TestCase(503, 14)]
    [TestCase(504, 14)]
    [TestCase(500, 2)]
    [TestCase(418, 2)]
    public void FaultPolicy_HttpAbortOnAGrpcCall_UsesGrpcsHttpMapping(int httpStatus, int grpcStatus) =>
        Assert.That(new FaultPolicy(TimeSpan.Zero, 0, httpStatus, 100).AbortGrpcStatusOrMapped, Is.EqualTo(grpcStatus));

    [Test]
    public void FaultPolicy_ConfiguredGrpcStatus_WinsOverTheMapping() =>
        Assert.That(new FaultPolicy(TimeSpan.Zero, 0, 503, 100, AbortGrpcStatus: 8).AbortGrpcStatusOrMapped, Is.EqualTo(8));

    [TestCase(0)]
    [TestCase(17)]
    public void Create_AbortGrpcStatusOutOfRange_IsRejectedWithTheRule(int grpcStatus)
    {
        var errors = new List<string>();

        RoutePolicy.Create(new RouteOptions { Fault = new FaultOptions { Abort = new FaultAbortOptions { GrpcStatus = grpcStatus } } }, "Mesh:Services:b:Routes[0]", errors);

        Assert.That(errors, Is.EqualTo(new[] { $"Mesh:Services:b:Routes[0]:Fault:Abort:GrpcStatus = {grpcStatus}: must be a gRPC status code from 1 to 16, e.g. 14 (UNAVAILABLE)" }));
    }
}
