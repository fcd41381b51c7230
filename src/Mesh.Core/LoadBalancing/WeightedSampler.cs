using Mesh.Model;

namespace Mesh.LoadBalancing;

/// <summary>
/// Samples endpoint indexes in proportion to their weights in constant time with Vose's alias method:
/// one uniform draw picks a column and, by its fractional part, either the column's own endpoint or
/// its alias. Built once per picker; a sample reads two arrays and allocates nothing.
/// </summary>
internal sealed class WeightedSampler
{
    private readonly double[] _probability;
    private readonly int[] _alias;

    public WeightedSampler(EndpointModel[] endpoints)
    {
        var n = endpoints.Length;
        _probability = new double[n];
        _alias = new int[n];
        double total = 0;
        foreach (var endpoint in endpoints)
        {
            total += endpoint.Weight;
        }

        var scaled = new double[n];
        var small = new Stack<int>();
        var large = new Stack<int>();
        for (var i = 0; i < n; i++)
        {
            scaled[i] = endpoints[i].Weight * n / total;
            (scaled[i] < 1 ? small : large).Push(i);
        }

        while (small.Count > 0 && large.Count > 0)
        {
            var lo = small.Pop();
            var hi = large.Pop();
            _probability[lo] = scaled[lo];
            _alias[lo] = hi;
            scaled[hi] = scaled[hi] + scaled[lo] - 1;
            (scaled[hi] < 1 ? small : large).Push(hi);
        }

        // What is left is 1 up to rounding.
        while (large.Count > 0)
        {
            var i = large.Pop();
            _probability[i] = 1;
            _alias[i] = i;
        }

        while (small.Count > 0)
        {
            var i = small.Pop();
            _probability[i] = 1;
            _alias[i] = i;
        }
    }

    public int Sample(Random random)
    {
        var u = random.NextDouble() * _probability.Length;
        var column = Math.Min((int)u, _probability.Length - 1);
        return u - column < _probability[column] ? column : _alias[column];
    }
}
