using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Mesh.Xds.Resources;

/// <summary>
/// A resource type decoded from one protobuf message: checks the type URL, parses the bytes, reads the name, then
/// validates the message into the immutable model. Every problem, a parse failure included, becomes an error that
/// names the resource when its name is known, so that only that resource is NACKed.
/// </summary>
/// <typeparam name="TMessage">The Envoy message of the resource, e.g. <c>envoy.config.listener.v3.Listener</c>.</typeparam>
internal abstract class XdsResourceType<TMessage> : XdsResourceType
    where TMessage : IMessage<TMessage>
{
    private const string ResourceWrapperType = "envoy.service.discovery.v3.Resource";

    /// <summary>The parser of <typeparamref name="TMessage"/>.</summary>
    protected abstract MessageParser<TMessage> Parser { get; }

    /// <summary>The resource name carried by the message (<c>name</c> or <c>cluster_name</c>).</summary>
    protected abstract string GetName(TMessage message);

    /// <summary>Validates <paramref name="message"/>, adding each problem as <c>field.path = value: rule</c> to <paramref name="errors"/>.</summary>
    /// <returns>The decoded resource; ignored when <paramref name="errors"/> is not empty.</returns>
    protected abstract object? Validate(TMessage message, List<string> errors);

    /// <inheritdoc />
    public sealed override XdsDecodeResult Decode(Any resource)
    {
        string? name = null;
        try
        {
            if (resource is null)
            {
                return XdsDecodeResult.Invalid(null, $"{Name}: the resource is missing (null)");
            }

            // State-of-the-world responses may wrap each resource in envoy.service.discovery.v3.Resource ("xds.config.resource-in-sotw").
            if (XdsTypeUrls.MessageType(resource.TypeUrl) == ResourceWrapperType)
            {
                var wrapper = Envoy.Service.Discovery.V3.Resource.Parser.ParseFrom(resource.Value);
                name = string.IsNullOrEmpty(wrapper.Name) ? null : wrapper.Name;
                if (wrapper.Resource_ is null)
                {
                    return XdsDecodeResult.Invalid(name, $"{Describe(name)}: the envoy.service.discovery.v3.Resource wrapper has no resource");
                }

                resource = wrapper.Resource_;
            }

            var expected = XdsTypeUrls.MessageType(TypeUrl);
            if (XdsTypeUrls.MessageType(resource.TypeUrl) != expected)
            {
                return XdsDecodeResult.Invalid(name, $"{Describe(name)}: the resource has type URL '{resource.TypeUrl}'; a {Name} must have '{TypeUrl}'");
            }

            var message = Parser.ParseFrom(resource.Value);
            var own = GetName(message);
            if (string.IsNullOrEmpty(own))
            {
                return XdsDecodeResult.Invalid(name, $"{Describe(name)}: the resource has no name; every {Name} needs a unique, non-empty name");
            }

            name = own;
            var errors = new List<string>();
            var decoded = Validate(message, errors);
            if (errors.Count == 0 && decoded is not null)
            {
                return XdsDecodeResult.Valid(name, decoded);
            }

            if (errors.Count == 0)
            {
                errors.Add("the resource could not be decoded");
            }

            return XdsDecodeResult.Invalid(name, $"{Describe(name)}: {string.Join("; ", errors)}");
        }
        catch (Exception e) when (XdsFields.IsParseFailure(e))
        {
            return XdsDecodeResult.Invalid(name, $"{Describe(name)}: the resource is not a valid {XdsTypeUrls.MessageType(TypeUrl)} message ({e.Message})");
        }
        catch (Exception e) when (e is ArgumentException or OverflowException or FormatException or InvalidCastException or NotSupportedException or IndexOutOfRangeException or NullReferenceException)
        {
            // Decoding must never throw to the client: a bug here NACKs the one resource instead of breaking the stream.
            return XdsDecodeResult.Invalid(name, $"{Describe(name)}: the resource could not be decoded ({e.GetType().Name}: {e.Message})");
        }
    }

    private string Describe(string? name) => name is null ? Name : $"{Name} '{name}'";
}
