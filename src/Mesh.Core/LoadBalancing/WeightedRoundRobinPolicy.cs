using Mesh.Model;

namespace Mesh.LoadBalancing;

/// <summary>
/// Smooth weighted round robin, as nginx: over one cycle of total weight W every endpoint is picked
/// exactly w_i times, interleaved (weights {2,3,1} give s2, s1, s2, s3, s1, s2). The cycle is computed
/// once per endpoint change, so a pick is one atomic increment and one array read: lock-free and
/// allocation-free, where nginx's per-pick update of every endpoint's current weight needs a lock.
/// </summary>
internal sealed class WeightedRoundRobinPolicy : LoadBalancingPolicy
{
    // Up to this many steps (endpoints × cycle length) the cycle is built with nginx's exact algorithm;
    // beyond it, with an earliest-deadline-first schedule that keeps the same per-cycle counts.
    private const long ExactBuildBudget = 1 << 24;

    public override string Name => LoadBalancingDefaults.WeightedRoundRobin;

    public override EndpointPicker CreatePicker(LoadBalancingContext context)
    {
        if (context.Endpoints.IsEmpty)
        {
            return EmptyPicker.Instance;
        }

        var endpoints = context.Endpoints.ToArray();
        var weights = new long[endpoints.Length];
        for (var i = 0; i < endpoints.Length; i++)
        {
            weights[i] = endpoints[i].Weight;
        }

        var cycle = BuildCycle(weights, LoadBalancingDefaults.MaxWeightedRoundRobinCycle);
        return new Picker(endpoints, cycle, context.Random.Next(cycle.Length));
    }

    /// <summary>One cycle of endpoint indexes. Weights are reduced by their common divisor and scaled down if the cycle would exceed <paramref name="maxCycle"/>.</summary>
    internal static int[] BuildCycle(long[] weights, int maxCycle)
    {
        var n = weights.Length;
        Reduce(weights);
        var total = Sum(weights);
        if (total > maxCycle && total > n)
        {
            // Proportional scaling keeps every endpoint at least once per cycle; shares stay within one pick per cycle of exact.
            var target = Math.Max(maxCycle, n);
            for (var i = 0; i < n; i++)
            {
                weights[i] = Math.Max(1, weights[i] * target / total);
            }

            Reduce(weights);
            total = Sum(weights);
        }

        var uniform = true;
        for (var i = 1; i < n && uniform; i++)
        {
            uniform = weights[i] == weights[0];
        }

        if (uniform)
        {
            // nginx's algorithm with equal weights is plain round robin in list order.
            var plain = new int[n];
            for (var i = 0; i < n; i++)
            {
                plain[i] = i;
            }

            return plain;
        }

        return n * total <= ExactBuildBudget ? BuildNginx(weights, (int)total) : BuildEarliestDeadlineFirst(weights, (int)total);
    }

    private static int[] BuildNginx(long[] weights, int total)
    {
        var current = new long[weights.Length];
        var cycle = new int[total];
        for (var step = 0; step < total; step++)
        {
            var best = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }

            current[best] -= total;
            cycle[step] = best;
        }

        return cycle;
    }

    private static int[] BuildEarliestDeadlineFirst(long[] weights, int total)
    {
        // Endpoint i's k-th pick is due at (2k + 1) / (2 w_i): evenly spaced, w_i picks per cycle.
        var queue = new PriorityQueue<int, (long Numerator, long Denominator, int Index)>(weights.Length, DeadlineComparer.Instance);
        var picks = new long[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            queue.Enqueue(i, (1, 2 * weights[i], i));
        }

        var cycle = new int[total];
        for (var step = 0; step < total; step++)
        {
            var i = queue.Dequeue();
            cycle[step] = i;
            picks[i]++;
            queue.Enqueue(i, ((2 * picks[i]) + 1, 2 * weights[i], i));
        }

        return cycle;
    }

    private static void Reduce(long[] weights)
    {
        var gcd = weights[0];
        foreach (var w in weights)
        {
            gcd = Gcd(gcd, w);
        }

        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] /= gcd;
        }
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    private static long Sum(long[] weights)
    {
        long total = 0;
        foreach (var w in weights)
        {
            total += w;
        }

        return total;
    }

    private sealed class DeadlineComparer : IComparer<(long Numerator, long Denominator, int Index)>
    {
        public static DeadlineComparer Instance { get; } = new();

        public int Compare((long Numerator, long Denominator, int Index) x, (long Numerator, long Denominator, int Index) y)
        {
            var byDeadline = (x.Numerator * y.Denominator).CompareTo(y.Numerator * x.Denominator);
            return byDeadline != 0 ? byDeadline : x.Index.CompareTo(y.Index);
        }
    }

    internal sealed class Picker(EndpointModel[] endpoints, int[] cycle, int start) : EndpointPicker
    {
        private int _next = start - 1;

        public override EndpointModel? Pick(in PickContext context) =>
            endpoints[cycle[(uint)Interlocked.Increment(ref _next) % (uint)cycle.Length]];
    }
}
