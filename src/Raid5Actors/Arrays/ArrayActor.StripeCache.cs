using Akka.Actor;
using Raid5Actors.Stripes;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Arrays;

/// <summary>
/// The stripe cache: at most <c>stripe-cache-size</c> stripe actors. Writes for a row without an
/// active stripe wait in <see cref="_waiting"/> (bounded by the requests admitted) until a slot
/// frees. Order: no write waits for a row that is active, so a write sent straight to an active
/// stripe never overtakes an earlier one for the same row.
/// </summary>
public sealed partial class ArrayActor
{
    private sealed class SweepIdleStripes
    {
        public static readonly SweepIdleStripes Instance = new();
    }

    private sealed class StripeSlot(IActorRef stripe)
    {
        public IActorRef Stripe { get; } = stripe;

        public int Outstanding { get; set; }

        public LinkedListNode<long>? IdleNode { get; set; }

        public int IdleSweeps { get; set; }
    }

    private readonly Dictionary<long, StripeSlot> _stripes = [];
    private readonly LinkedList<long> _idleStripes = new(); // least recently used first
    private readonly Queue<(long Row, StripeWrite Write)> _waiting = new();
    private long _stripeGeneration;
    private int _stripeCacheSize;

    private void RouteToStripe(long row, StripeWrite write)
    {
        if (_stripes.TryGetValue(row, out var slot) || (_waiting.Count == 0 && TryActivate(row, out slot)))
        {
            Send(slot, write);
            return;
        }
        _waiting.Enqueue((row, write));
    }

    private void Send(StripeSlot slot, StripeWrite write)
    {
        if (slot.IdleNode is not null)
        {
            _idleStripes.Remove(slot.IdleNode);
            slot.IdleNode = null;
        }
        slot.IdleSweeps = 0;
        slot.Outstanding++;
        slot.Stripe.Tell(write);
    }

    private bool TryActivate(long row, out StripeSlot slot)
    {
        if (_stripes.Count >= _stripeCacheSize)
        {
            if (_idleStripes.First is null)
            {
                slot = null!;
                return false;
            }
            Passivate(_idleStripes.First.Value);
        }
        var stripe = Context.ActorOf(
            StripeActor.Props(_geometry, row, _members, _bitmap!, _bitmapGeometry, Self),
            $"stripe-{row}-{++_stripeGeneration}");
        slot = new StripeSlot(stripe);
        _stripes.Add(row, slot);
        return true;
    }

    private void Passivate(long row)
    {
        var slot = _stripes[row];
        if (slot.IdleNode is not null)
            _idleStripes.Remove(slot.IdleNode);
        _stripes.Remove(row);
        Context.Stop(slot.Stripe);
    }

    private void OnStripeAnswered(long row)
    {
        var slot = _stripes[row];
        if (--slot.Outstanding == 0)
            slot.IdleNode = _idleStripes.AddLast(row);
        DrainWaiting();
    }

    private void DrainWaiting()
    {
        while (_waiting.Count > 0)
        {
            var row = _waiting.Peek().Row;
            if (!TryActivate(row, out var slot))
                return;
            // Send every waiting write of this row, in order, before anything newer can reach it.
            var count = _waiting.Count;
            for (var i = 0; i < count; i++)
            {
                var entry = _waiting.Dequeue();
                if (entry.Row == row)
                    Send(slot, entry.Write);
                else
                    _waiting.Enqueue(entry);
            }
        }
    }

    private void OnSweepIdleStripes()
    {
        var stale = _idleStripes.Where(row => ++_stripes[row].IdleSweeps >= 2).ToList();
        foreach (var row in stale)
            Passivate(row);
    }
}
