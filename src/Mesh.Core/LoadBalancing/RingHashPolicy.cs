using System.Globalization;
using Mesh.Model;
using Mesh.Routing;

namespace Mesh.LoadBalancing;

/// <summary>
/// Consistent hashing on a ring (Ketama), sized and filled as Envoy's ring_hash and gRPC's gRFC A42:
/// each endpoint gets entries in proportion to its weight, hashed with XXH64 of <c>host:port_i</c>;
/// a request goes to the first entry at or after its hash. Removing one of N endpoints moves its keys
/// and under 1/N of the others; adding one moves about 1/(N+1) to it and a few percent between the
/// others (entries per endpoint depend on N, as in Envoy and gRPC). A request without the hashed value
/// is placed at random.
/// </summary>
internal sealed class RingHashPolicy : LoadBalancingPolicy
{
    public override string Name => LoadBalancingDefaults.RingHash;

    public override bool RequiresRequestHash => true;

    public override EndpointPicker CreatePicker(LoadBalancingContext context) =>
        context.Endpoints.IsEmpty ? EmptyPicker.Instance : new Picker(context.Endpoints.ToArray(), context.Random, context.MinimumRingSize, context.MaximumRingSize);

    internal sealed class Picker : EndpointPicker
    {
        private readonly ulong[] _hashes;
        private readonly EndpointModel[] _owners;
        private readonly Random _random;

        public Picker(EndpointModel[] endpoints, Random random, int minimumRingSize, int maximumRingSize)
        {
            _random = random;
            double totalWeight = 0;
            foreach (var endpoint in endpoints)
            {
                totalWeight += endpoint.Weight;
            }

            var minNormalized = double.MaxValue;
            foreach (var endpoint in endpoints)
            {
                minNormalized = Math.Min(minNormalized, endpoint.Weight / totalWeight);
            }

            // gRFC A42: scale so the lightest endpoint gets at least one entry per minimum ring size share.
            var scale = Math.Min(Math.Ceiling(minNormalized * minimumRingSize) / minNormalized, maximumRingSize);
            var ringSize = (int)Math.Ceiling(scale);
            var entries = new List<(ulong Hash, EndpointModel Owner)>(ringSize);
            double target = 0;
            foreach (var endpoint in endpoints)
            {
                target += scale * endpoint.Weight / totalWeight;
                var key = string.Create(CultureInfo.InvariantCulture, $"{endpoint.Host}:{endpoint.Port}_");
                for (var i = 0; entries.Count < target; i++)
                {
                    entries.Add((RequestHashPolicy.Hash(string.Concat(key, i.ToString(CultureInfo.InvariantCulture))), endpoint));
                }
            }

            entries.Sort(static (a, b) => a.Hash.CompareTo(b.Hash));
            _hashes = new ulong[entries.Count];
            _owners = new EndpointModel[entries.Count];
            for (var i = 0; i < entries.Count; i++)
            {
                (_hashes[i], _owners[i]) = entries[i];
            }
        }

        public int RingSize => _hashes.Length;

        public override EndpointModel? Pick(in PickContext context)
        {
            var hash = context.RequestHash ?? (ulong)_random.NextInt64(long.MinValue, long.MaxValue);
            var hashes = _hashes;
            int lo = 0, hi = hashes.Length;
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (hashes[mid] < hash)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            return _owners[lo == hashes.Length ? 0 : lo];
        }
    }
}
