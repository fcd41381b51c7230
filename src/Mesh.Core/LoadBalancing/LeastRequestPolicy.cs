using Mesh.Model;

namespace Mesh.LoadBalancing;

/// <summary>
/// Least request by the power of two choices (Envoy's default choice count): sample two distinct
/// endpoints (in proportion to weight when weights differ) and take the one with fewer in-flight
/// requests per unit of weight (in-flight / weight); a tie goes to the first sample. With equal weights
/// this is Envoy's P2C exactly. With unequal weights an idle cluster is spread in proportion to weight
/// (every comparison ties, so the weighted first sample wins) and a busy one by load per weight, an
/// approximation of Envoy's weight / (active + 1) schedule without its shared, locked scheduler.
/// </summary>
internal sealed class LeastRequestPolicy : LoadBalancingPolicy
{
    public override string Name => LoadBalancingDefaults.LeastRequest;

    public override EndpointPicker CreatePicker(LoadBalancingContext context) =>
        context.Endpoints.IsEmpty ? EmptyPicker.Instance : new Picker(context.Endpoints.ToArray(), context.Random);

    internal sealed class Picker : EndpointPicker
    {
        private readonly EndpointModel[] _endpoints;
        private readonly WeightedSampler? _sampler;
        private readonly Random _random;

        public Picker(EndpointModel[] endpoints, Random random)
        {
            _endpoints = endpoints;
            _random = random;
            var uniform = true;
            foreach (var endpoint in endpoints)
            {
                uniform &= endpoint.Weight == endpoints[0].Weight;
            }

            _sampler = uniform ? null : new WeightedSampler(endpoints);
        }

        public override EndpointModel? Pick(in PickContext context)
        {
            var endpoints = _endpoints;
            if (endpoints.Length == 1)
            {
                return endpoints[0];
            }

            var a = Sample();
            var b = Sample();
            if (b == a)
            {
                // Two distinct candidates: the second draw is re-aimed at the next endpoint.
                b = a + 1 == endpoints.Length ? 0 : a + 1;
            }

            var first = endpoints[a];
            var second = endpoints[b];

            // Compare inFlight / weight without division; ties keep the first (weight-sampled) candidate.
            var firstLoad = (long)first.State.InFlight * second.Weight;
            var secondLoad = (long)second.State.InFlight * first.Weight;
            return secondLoad < firstLoad ? second : first;
        }

        private int Sample()
        {
            var sampler = _sampler;
            return sampler is null ? _random.Next(_endpoints.Length) : sampler.Sample(_random);
        }
    }
}
