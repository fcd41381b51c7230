using Mesh.ControlPlane.Configuration.Manifests;

namespace Mesh.ControlPlane.Tests.Manifests;

public sealed class ManifestYamlTests
{
    [Test]
    public void Parse_UnclosedFlowSequence_IsASyntaxErrorOfThatDocument()
    {
        // Act: YamlDotNet reports this one as an unexpected event, not as a YamlException.
        var result = ManifestYaml.Parse("kind: Service\n---\nkind: VirtualService\nspec:\n  hosts: [backend\n  http: []\n");

        // Assert
        Assert.That(result.Error, Is.Not.Null);
        Assert.That(result.Error!.Document, Is.EqualTo(2));
        Assert.That(result.Error.Line, Is.GreaterThanOrEqualTo(5));
        Assert.That(result.Documents, Has.Count.EqualTo(1));
    }

    [Test]
    public void Parse_TabIndentation_ReportsTheLineOfTheTab()
    {
        // Act
        var result = ManifestYaml.Parse("kind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n\t- port: 80\n");

        // Assert
        Assert.That(result.Error, Is.Not.Null);
        Assert.That(result.Error!.Line, Is.EqualTo(6), result.Error.Message);
    }
}
