using Mesh.Model;

namespace Mesh.LoadBalancing;

/// <summary>Round robin from a random starting point (so that many clients do not move in lockstep), ignoring weights.</summary>
internal sealed class RoundRobinPolicy : LoadBalancingPolicy
{
    public override string Name => LoadBalancingDefaults.RoundRobin;

    public override EndpointPicker CreatePicker(LoadBalancingContext context)
    {
        var endpoints = context.Endpoints;
        return endpoints.IsEmpty ? EmptyPicker.Instance : new Picker(endpoints.ToArray(), context.Random.Next(endpoints.Length));
    }

    internal sealed class Picker(EndpointModel[] endpoints, int start) : EndpointPicker
    {
        private int _next = start - 1;

        public override EndpointModel? Pick(in PickContext context) =>
            endpoints[(uint)Interlocked.Increment(ref _next) % (uint)endpoints.Length];
    }
}

/// <summary>Uniformly random, ignoring weights.</summary>
internal sealed class RandomPolicy : LoadBalancingPolicy
{
    public override string Name => LoadBalancingDefaults.Random;

    public override EndpointPicker CreatePicker(LoadBalancingContext context) =>
        context.Endpoints.IsEmpty ? EmptyPicker.Instance : new Picker(context.Endpoints.ToArray(), context.Random);

    private sealed class Picker(EndpointModel[] endpoints, Random random) : EndpointPicker
    {
        public override EndpointModel? Pick(in PickContext context) => endpoints[random.Next(endpoints.Length)];
    }
}

/// <summary>Random with probability proportional to weight, in constant time (alias method).</summary>
internal sealed class WeightedRandomPolicy : LoadBalancingPolicy
{
    public override string Name => LoadBalancingDefaults.WeightedRandom;

    public override EndpointPicker CreatePicker(LoadBalancingContext context) =>
        context.Endpoints.IsEmpty ? EmptyPicker.Instance : new Picker(context.Endpoints.ToArray(), context.Random);

    private sealed class Picker(EndpointModel[] endpoints, Random random) : EndpointPicker
    {
        private readonly WeightedSampler _sampler = new(endpoints);

        public override EndpointModel? Pick(in PickContext context) => endpoints[_sampler.Sample(random)];
    }
}
