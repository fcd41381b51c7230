using Mesh.Telemetry;

namespace Mesh.Telemetry
{
    /// <summary>The names OpenTelemetry listens to for the mesh.</summary>
    internal static class MeshInstrumentationNames
    {
        /// <summary>
        /// Every other mesh meter and activity source (<c>Mesh.Grpc</c> and those to come), as an OpenTelemetry
        /// wildcard; it does not match <see cref="MeshTelemetry.Name"/> itself, which is registered beside it.
        /// </summary>
        public const string Wildcard = MeshTelemetry.Name + ".*";
    }
}

namespace OpenTelemetry.Trace
{
    /// <summary>Registers the mesh's spans with an OpenTelemetry <see cref="TracerProviderBuilder"/>.</summary>
    public static class MeshTracerProviderBuilderExtensions
    {
        /// <summary>
        /// Listens to every mesh <see cref="System.Diagnostics.ActivitySource"/>: <c>Mesh</c> (the <c>mesh.request</c>
        /// span per request and a <c>mesh.attempt</c> child per attempt, retries and hedges as events) and any
        /// <c>Mesh.*</c> source of the transport packages.
        /// </summary>
        /// <example>
        /// <code>
        /// builder.Services.AddOpenTelemetry()
        ///     .WithTracing(tracing => tracing.AddMeshInstrumentation().AddOtlpExporter());
        /// </code>
        /// </example>
        /// <param name="builder">The builder.</param>
        /// <returns>The builder, for chaining.</returns>
        public static TracerProviderBuilder AddMeshInstrumentation(this TracerProviderBuilder builder)
        {
            ArgumentNullException.ThrowIfNull(builder);
            return builder.AddSource(MeshTelemetry.Name, MeshInstrumentationNames.Wildcard);
        }
    }
}

namespace OpenTelemetry.Metrics
{
    /// <summary>Registers the mesh's instruments with an OpenTelemetry <see cref="MeterProviderBuilder"/>.</summary>
    public static class MeshMeterProviderBuilderExtensions
    {
        /// <summary>
        /// Listens to every mesh <see cref="System.Diagnostics.Metrics.Meter"/>: <c>Mesh</c> (requests, retries, hedges,
        /// overflows, timeouts, ejections, configuration updates) and <c>Mesh.*</c>, such as <c>Mesh.Grpc</c>
        /// (gRPC's call and attempt metrics).
        /// </summary>
        /// <example>
        /// <code>
        /// builder.Services.AddOpenTelemetry()
        ///     .WithMetrics(metrics => metrics.AddMeshInstrumentation().AddOtlpExporter());
        /// </code>
        /// </example>
        /// <param name="builder">The builder.</param>
        /// <returns>The builder, for chaining.</returns>
        public static MeterProviderBuilder AddMeshInstrumentation(this MeterProviderBuilder builder)
        {
            ArgumentNullException.ThrowIfNull(builder);
            return builder.AddMeter(MeshTelemetry.Name, MeshInstrumentationNames.Wildcard);
        }
    }
}
