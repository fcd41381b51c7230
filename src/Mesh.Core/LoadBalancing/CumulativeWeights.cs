using Mesh.Model;

namespace Mesh.LoadBalancing;

/// <summary>Prefix sums of endpoint weights, and the index a uniform draw over their total lands on.</summary>
internal static class CumulativeWeights
{
    public static long[] Build(EndpointModel[] endpoints)
    {
        var cumulative = new long[endpoints.Length];
        long total = 0;
        for (var i = 0; i < endpoints.Length; i++)
        {
            total += endpoints[i].Weight;
            cumulative[i] = total;
        }

        return cumulative;
    }

    /// <summary>The first index whose prefix sum exceeds <paramref name="draw"/> (0 ≤ draw &lt; total).</summary>
    public static int IndexOf(long[] cumulative, long draw)
    {
        int lo = 0, hi = cumulative.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (cumulative[mid] > draw)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }
}
