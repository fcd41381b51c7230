using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Envoy.Extensions.Filters.Common.Fault.V3;
using Envoy.Extensions.Filters.Http.Fault.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Type.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Mesh.Xds.Resources;
using static Mesh.Xds.Tests.Infrastructure.ResourceProtos;

namespace Mesh.Xds.Tests.Resources;

[TestFixture]
public sealed class ListenerResourceTypeTests
{
    private static readonly XdsListenerResourceType Type = XdsListenerResourceType.Instance;

    [Test]
    public void Decode_RdsListener_NamesRouteConfigurationAndEndsWithRouter()
    {
        // Act
        var listener = Valid<XdsListener>(Type, NewListener());

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(listener.Name, Is.EqualTo(Target));
            Assert.That(listener.RouteConfigurationName, Is.EqualTo(Target));
            Assert.That(listener.RouteConfiguration, Is.Null);
            Assert.That(listener.HttpFilters.Select(f => f.Kind), Is.EqualTo(new[] { XdsHttpFilterKind.Router }));
            Assert.That(listener.MaxStreamDuration, Is.Null);
        });
    }

    [Test]
    public void Decode_InlineRouteConfigurationAndMaxStreamDuration_AreRead()
    {
        // Arrange
        var hcm = new HttpConnectionManager
        {
            RouteConfig = NewRouteConfig("inline"),
            CommonHttpProtocolOptions = new HttpProtocolOptions { MaxStreamDuration = Seconds(3) },
        };
        hcm.HttpFilters.Add(RouterFilter());

        // Act
        var listener = Valid<XdsListener>(Type, NewListener(hcm: hcm));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(listener.RouteConfigurationName, Is.Null);
            Assert.That(listener.RouteConfiguration!.Name, Is.EqualTo("inline"));
            Assert.That(listener.RouteConfiguration.VirtualHosts, Has.Length.EqualTo(1));
            Assert.That(listener.MaxStreamDuration, Is.EqualTo(TimeSpan.FromSeconds(3)));
        });
    }

    [Test]
    public void Decode_SelfConfigSource_IsAccepted()
    {
        // Arrange
        var hcm = RdsManager();
        hcm.Rds.ConfigSource = new ConfigSource { Self = new SelfConfigSource() };

        // Act
        var listener = Valid<XdsListener>(Type, NewListener(hcm: hcm));

        // Assert
        Assert.That(listener.RouteConfigurationName, Is.EqualTo(Target));
    }

    [Test]
    public void Decode_RdsWithoutAdsConfigSource_IsRejected()
    {
        // Arrange: a config source that names no way of fetching over ADS.
        var hcm = RdsManager();
        hcm.Rds.ConfigSource = new ConfigSource { ResourceApiVersion = ApiVersion.V3 };

        // Act
        var error = Invalid(Type, NewListener(hcm: hcm));

        // Assert
        Assert.That(error, Does.Contain("api_listener.api_listener.rds.config_source: is 'None'; it must be ads or self"));
    }

    [Test]
    public void Decode_RdsWithoutName_IsRejected()
    {
        // Arrange
        var hcm = RdsManager(routeName: string.Empty);

        // Act
        var error = Invalid(Type, NewListener(hcm: hcm));

        // Assert
        Assert.That(error, Does.Contain("rds.route_config_name: is empty"));
    }

    [Test]
    public void Decode_WithoutApiListener_IsRejected()
    {
        // Arrange: a socket listener (server side).
        var listener = new Listener { Name = Target, Address = new Address { SocketAddress = new SocketAddress { Address = "0.0.0.0", PortValue = 8080 } } };

        // Act
        var error = Invalid(Type, listener);

        // Assert
        Assert.That(error, Is.EqualTo($"Listener '{Target}': api_listener: is not set; a client listener must be an API listener holding an HttpConnectionManager (socket listeners are for xDS-enabled servers)"));
    }

    [Test]
    public void Decode_ApiListenerOfAnotherType_IsRejected()
    {
        // Arrange
        var listener = new Listener { Name = Target, ApiListener = new ApiListener { ApiListener_ = Any.Pack(new StringValue { Value = "x" }) } };

        // Act
        var error = Invalid(Type, listener);

        // Assert
        Assert.That(error, Does.Contain("api_listener.api_listener: has type 'type.googleapis.com/google.protobuf.StringValue'; it must be"));
    }

    [Test]
    public void Decode_WithoutRouter_IsRejected()
    {
        // Act
        var error = Invalid(Type, NewListener(hcm: RdsManager(Target, FaultFilter())));

        // Assert
        Assert.That(error, Does.Contain("api_listener.api_listener.http_filters: has no router filter; end the list with envoy.extensions.filters.http.router.v3.Router"));
    }

    [Test]
    public void Decode_RouterNotLast_IsRejected()
    {
        // Act
        var error = Invalid(Type, NewListener(hcm: RdsManager(Target, RouterFilter(), FaultFilter())));

        // Assert
        Assert.That(error, Does.Contain("the router filter 'envoy.filters.http.router' is not the last filter; the router is terminal and must come last"));
    }

    [Test]
    public void Decode_NoFilters_IsRejected()
    {
        // Arrange
        var hcm = RdsManager();
        hcm.HttpFilters.Clear();

        // Act
        var error = Invalid(Type, NewListener(hcm: hcm));

        // Assert
        Assert.That(error, Does.Contain("http_filters: is empty; the list must end with the router filter"));
    }

    [Test]
    public void Decode_UnknownFilter_IsRejected()
    {
        // Arrange
        var unknown = new HttpFilter { Name = "envoy.filters.http.lua", TypedConfig = Any.Pack(new StringValue()) };

        // Act
        var error = Invalid(Type, NewListener(hcm: RdsManager(Target, unknown, RouterFilter())));

        // Assert
        Assert.That(error, Does.Contain("http_filters[0].typed_config: type 'google.protobuf.StringValue' is not an HTTP filter the client supports (Router, HTTPFault); remove the filter or mark it is_optional to skip it"));
    }

    [Test]
    public void Decode_UnknownOptionalFilter_IsSkipped()
    {
        // Arrange
        var unknown = new HttpFilter { Name = "envoy.filters.http.lua", TypedConfig = Any.Pack(new StringValue()), IsOptional = true };

        // Act
        var listener = Valid<XdsListener>(Type, NewListener(hcm: RdsManager(Target, unknown, RouterFilter())));

        // Assert
        Assert.That(listener.HttpFilters.Select(f => f.Name), Is.EqualTo(new[] { "envoy.filters.http.router" }));
    }

    [Test]
    public void Decode_DuplicateFilterNames_AreRejected()
    {
        // Act
        var error = Invalid(Type, NewListener(hcm: RdsManager(Target, FaultFilter(name: "x"), RouterFilter("x"))));

        // Assert
        Assert.That(error, Does.Contain("http_filters[1].name = 'x': another filter has this name; filter names must be unique"));
    }

    [Test]
    public void Decode_ScopedRoutes_AreRejected()
    {
        // Arrange
        var hcm = new HttpConnectionManager { ScopedRoutes = new ScopedRoutes { Name = "s" } };
        hcm.HttpFilters.Add(RouterFilter());

        // Act
        var error = Invalid(Type, NewListener(hcm: hcm));

        // Assert
        Assert.That(error, Does.Contain("scoped_routes: scoped routes are not supported"));
    }

    [Test]
    public void Decode_FaultFilter_ReadsDelayAbortAndPercentages()
    {
        // Arrange: 5 % delay of 1.5 s (per ten thousand), 25 % aborts with 503.
        var fault = new HTTPFault
        {
            Delay = new FaultDelay { FixedDelay = Seconds(1.5), Percentage = new FractionalPercent { Numerator = 500, Denominator = FractionalPercent.Types.DenominatorType.TenThousand } },
            Abort = new FaultAbort { HttpStatus = 503, Percentage = new FractionalPercent { Numerator = 25 } },
        };

        // Act
        var listener = Valid<XdsListener>(Type, NewListener(hcm: RdsManager(Target, FaultFilter(fault), RouterFilter())));

        // Assert
        Assert.That(listener.FaultFilter!.Fault, Is.EqualTo(new XdsFaultConfig(TimeSpan.FromSeconds(1.5), 5, 503, 25)));
    }

    [Test]
    public void Decode_FaultGrpcStatus_MapsToEnvoysHttpStatusAndKeepsTheGrpcStatus()
    {
        // Arrange: UNAVAILABLE (14) is answered as 503 to HTTP requests, as Envoy does; gRPC calls end with 14 itself.
        var fault = new HTTPFault { Abort = new FaultAbort { GrpcStatus = 14, Percentage = new FractionalPercent { Numerator = 1_000_000, Denominator = FractionalPercent.Types.DenominatorType.Million } } };

        // Act
        var listener = Valid<XdsListener>(Type, NewListener(hcm: RdsManager(Target, FaultFilter(fault), RouterFilter())));

        // Assert
        Assert.That(listener.FaultFilter!.Fault, Is.EqualTo(new XdsFaultConfig(null, 0, 503, 100, 14)));
    }

    [TestCase("header_abort", "abort.header_abort: aborts taken from request headers are not supported")]
    [TestCase("header_delay", "delay.header_delay: delays taken from request headers are not supported")]
    [TestCase("http_status", "abort.http_status = 700: must be an HTTP status from 200 to 599")]
    [TestCase("grpc_status", "abort.grpc_status = 17: must be a gRPC status code from 1 to 16")]
    [TestCase("max_active_faults", "max_active_faults = 3: a limit on concurrent faults is not supported")]
    [TestCase("denominator", "abort.percentage.denominator = 9: must be HUNDRED, TEN_THOUSAND or MILLION")]
    public void Decode_FaultTheModelCannotExpress_IsRejected(string field, string expected)
    {
        // Arrange
        var fault = field switch
        {
            "header_abort" => new HTTPFault { Abort = new FaultAbort { HeaderAbort = new FaultAbort.Types.HeaderAbort() } },
            "header_delay" => new HTTPFault { Delay = new FaultDelay { HeaderDelay = new FaultDelay.Types.HeaderDelay() } },
            "http_status" => new HTTPFault { Abort = new FaultAbort { HttpStatus = 700 } },
            "grpc_status" => new HTTPFault { Abort = new FaultAbort { GrpcStatus = 17 } },
            "max_active_faults" => new HTTPFault { MaxActiveFaults = 3 },
            _ => new HTTPFault { Abort = new FaultAbort { HttpStatus = 503, Percentage = new FractionalPercent { Numerator = 1, Denominator = (FractionalPercent.Types.DenominatorType)9 } } },
        };

        // Act
        var error = Invalid(Type, NewListener(hcm: RdsManager(Target, FaultFilter(fault), RouterFilter())));

        // Assert
        Assert.That(error, Does.Contain($"http_filters[0].typed_config.{expected}"));
    }

    [Test]
    public void Decode_TwoFaultFilters_AreRejected()
    {
        // Act
        var error = Invalid(Type, NewListener(hcm: RdsManager(Target, FaultFilter(name: "a"), FaultFilter(name: "b"), RouterFilter())));

        // Assert
        Assert.That(error, Does.Contain("has 2 fault filters; the mesh applies one fault configuration per route"));
    }

    [Test]
    public void Decode_FaultFilterInTypedStruct_IsReadFromItsJson()
    {
        // Arrange: gRFC A39: the type inside a TypedStruct decides; its value is the config as JSON.
        var json = Struct.Parser.ParseJson("{\"abort\": {\"httpStatus\": 500, \"percentage\": {\"numerator\": 10}}}");
        var typed = new global::Xds.Type.V3.TypedStruct { TypeUrl = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", Value = json };
        var filter = new HttpFilter { Name = "fault", TypedConfig = Any.Pack(typed) };

        // Act
        var listener = Valid<XdsListener>(Type, NewListener(hcm: RdsManager(Target, filter, RouterFilter())));

        // Assert
        Assert.That(listener.FaultFilter!.Fault, Is.EqualTo(new XdsFaultConfig(null, 0, 500, 10)));
    }

    [Test]
    public void Decode_WrongTypeUrl_IsRejectedWithoutAName()
    {
        // Act
        var result = Type.Decode(Any.Pack(EdsCluster(V1)));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Name, Is.Null);
            Assert.That(result.Error, Is.EqualTo("Listener: the resource has type URL 'type.googleapis.com/envoy.config.cluster.v3.Cluster'; a Listener must have 'type.googleapis.com/envoy.config.listener.v3.Listener'"));
        });
    }

    [Test]
    public void Decode_UnparsableBytes_AreRejected()
    {
        // Arrange: a truncated length-delimited field.
        var any = new Any { TypeUrl = XdsListenerResourceType.ListenerTypeUrl, Value = ByteString.CopyFrom(0x0a, 0x10, 0x41) };

        // Act
        var result = Type.Decode(any);

        // Assert
        Assert.That(result.Error, Does.StartWith("Listener: the resource is not a valid envoy.config.listener.v3.Listener message"));
    }

    [Test]
    public void Decode_WithoutName_IsRejected()
    {
        // Act
        var result = Type.Decode(Any.Pack(NewListener(name: string.Empty)));

        // Assert
        Assert.That(result.Error, Is.EqualTo("Listener: the resource has no name; every Listener needs a unique, non-empty name"));
    }

    [Test]
    public void Decode_ResourceWrapper_IsUnwrapped()
    {
        // Arrange
        var wrapper = new Envoy.Service.Discovery.V3.Resource { Name = Target, Resource_ = Any.Pack(NewListener()) };

        // Act
        var result = Type.Decode(Any.Pack(wrapper));

        // Assert
        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null);
            Assert.That(result.Name, Is.EqualTo(Target));
            Assert.That(result.Resource, Is.InstanceOf<XdsListener>());
        });
    }
}
