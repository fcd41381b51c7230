using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Mesh.Model;

namespace Mesh.LoadBalancing;

/// <summary>
/// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with Envoy's weighted table fill: every
/// endpoint walks its own permutation of a prime-sized table, taking slots in turn, heavier endpoints
/// more often. A pick is one modulo and one array read.
/// </summary>
internal sealed class MaglevPolicy : LoadBalancingPolicy
{
    public override string Name => LoadBalancingDefaults.Maglev;

    public override bool RequiresRequestHash => true;

    public override EndpointPicker CreatePicker(LoadBalancingContext context) =>
        context.Endpoints.IsEmpty ? EmptyPicker.Instance : new Picker(context.Endpoints.ToArray(), context.Random, context.TableSize);

    internal static bool IsPrime(int value)
    {
        if (value < 2)
        {
            return false;
        }

        for (var d = 2; (long)d * d <= value; d++)
        {
            if (value % d == 0)
            {
                return false;
            }
        }

        return true;
    }

    internal sealed class Picker : EndpointPicker
    {
        private readonly EndpointModel[] _table;
        private readonly Random _random;

        public Picker(EndpointModel[] endpoints, Random random, int tableSize)
        {
            _random = random;
            var size = (ulong)tableSize;
            var offsets = new ulong[endpoints.Length];
            var skips = new ulong[endpoints.Length];
            var next = new ulong[endpoints.Length];
            var targets = new double[endpoints.Length];
            var maxWeight = 0;
            for (var i = 0; i < endpoints.Length; i++)
            {
                var key = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{endpoints[i].Host}:{endpoints[i].Port}"));
                offsets[i] = XxHash64.HashToUInt64(key, 0) % size;
                skips[i] = (XxHash64.HashToUInt64(key, 1) % (size - 1)) + 1;
                maxWeight = Math.Max(maxWeight, endpoints[i].Weight);
            }

            var slots = new int[tableSize];
            Array.Fill(slots, -1);
            var filled = 0;
            for (long iteration = 1; filled < tableSize; iteration++)
            {
                for (var i = 0; i < endpoints.Length && filled < tableSize; i++)
                {
                    // In units of the heaviest weight: an endpoint of half that weight takes a slot every other round.
                    if (iteration * endpoints[i].Weight < targets[i])
                    {
                        continue;
                    }

                    targets[i] += maxWeight;
                    var slot = (offsets[i] + (skips[i] * next[i])) % size;
                    while (slots[slot] >= 0)
                    {
                        next[i]++;
                        slot = (offsets[i] + (skips[i] * next[i])) % size;
                    }

                    slots[slot] = i;
                    next[i]++;
                    filled++;
                }
            }

            _table = new EndpointModel[tableSize];
            for (var s = 0; s < tableSize; s++)
            {
                _table[s] = endpoints[slots[s]];
            }
        }

        public override EndpointModel? Pick(in PickContext context)
        {
            var hash = context.RequestHash ?? (ulong)_random.NextInt64(long.MinValue, long.MaxValue);
            return _table[(int)(hash % (ulong)_table.Length)];
        }
    }
}
