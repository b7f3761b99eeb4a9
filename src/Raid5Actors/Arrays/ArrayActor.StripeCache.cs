using Akka.Actor;
using Akka.Event;
using Raid5Actors.Stripes;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Arrays;

/// <summary>
/// The stripe cache: at most <c>stripe-cache-size</c> stripe actors. Work for a row without an
/// active stripe waits in <see cref="_waiting"/> (bounded by the requests admitted) until a slot
/// frees. Order: no work waits for a row that is active, so work sent straight to an active stripe
/// never overtakes earlier work for the same row. Every piece of work sent is remembered until the
/// stripe answers it, so a stripe that crashes can be replaced and its work redone.
/// </summary>
public sealed partial class ArrayActor
{
    private sealed class SweepIdleStripes
    {
        public static readonly SweepIdleStripes Instance = new();
    }

    private sealed class StripeSlot(IActorRef stripe, long row)
    {
        public IActorRef Stripe { get; set; } = stripe;

        public long Row { get; } = row;

        /// <summary>Work sent and not yet answered, in the order sent.</summary>
        public LinkedList<object> Sent { get; } = new();

        public LinkedListNode<long>? IdleNode { get; set; }

        public int IdleSweeps { get; set; }
    }

    private readonly Dictionary<long, StripeSlot> _stripes = [];
    private readonly Dictionary<IActorRef, StripeSlot> _stripeOfActor = [];
    private readonly LinkedList<long> _idleStripes = new(); // least recently used first
    private readonly Queue<(long Row, object Work)> _waiting = new();
    private long _stripeGeneration;
    private int _stripeCacheSize;

    private void RouteToStripe(long row, object work)
    {
        if (_stripes.TryGetValue(row, out var slot) || (_waiting.Count == 0 && TryActivate(row, out slot)))
        {
            Send(slot, work);
            return;
        }
        _waiting.Enqueue((row, work));
    }

    private void Send(StripeSlot slot, object work)
    {
        if (slot.IdleNode is not null)
        {
            _idleStripes.Remove(slot.IdleNode);
            slot.IdleNode = null;
        }
        slot.IdleSweeps = 0;
        slot.Sent.AddLast(work);
        slot.Stripe.Tell(work);
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
        slot = new StripeSlot(NewStripe(row), row);
        _stripes.Add(row, slot);
        _stripeOfActor.Add(slot.Stripe, slot);
        return true;
    }

    private IActorRef NewStripe(long row)
    {
        var stripe = Context.ActorOf(
            StripeActor.Props(_geometry, row, _bitmap, _bitmapGeometry, Self),
            $"stripe-{row}-{++_stripeGeneration}");
        Context.Watch(stripe);
        return stripe;
    }

    private void Passivate(long row)
    {
        var slot = _stripes[row];
        if (slot.IdleNode is not null)
            _idleStripes.Remove(slot.IdleNode);
        _stripes.Remove(row);
        _stripeOfActor.Remove(slot.Stripe);
        Context.Unwatch(slot.Stripe);
        Context.Stop(slot.Stripe);
    }

    private void OnStripeAnswered(long row, long requestId)
    {
        if (!_stripes.TryGetValue(row, out var slot))
            return;
        for (var node = slot.Sent.First; node is not null; node = node.Next)
        {
            if (RequestIdOf(node.Value) == requestId)
            {
                slot.Sent.Remove(node);
                break;
            }
        }
        if (slot.Sent.Count == 0)
            slot.IdleNode = _idleStripes.AddLast(row);
        DrainWaiting();
    }

    private static long RequestIdOf(object work) => work switch
    {
        StripeWrite w => w.RequestId,
        StripeRead r => r.RequestId,
        StripeSync s => s.RequestId,
        _ => throw new ArgumentException($"not stripe work: {work}"),
    };

    private void DrainWaiting()
    {
        while (_waiting.Count > 0)
        {
            var row = _waiting.Peek().Row;
            if (!TryActivate(row, out var slot))
                return;
            // Send every waiting piece of this row, in order, before anything newer can reach it.
            var count = _waiting.Count;
            for (var i = 0; i < count; i++)
            {
                var entry = _waiting.Dequeue();
                if (entry.Row == row)
                    Send(slot, entry.Work);
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

    private void OnChildTerminated(IActorRef child)
    {
        if (_stripeOfActor.Remove(child, out var slot))
        {
            ReplaceCrashedStripe(slot);
            return;
        }
        OnDeviceTerminated(child);
    }

    // The stripe threw and was stopped (see the supervisor strategy). Its row may be half written:
    // the new stripe first recomputes the row's parity, then redoes the unanswered work in order.
    private void ReplaceCrashedStripe(StripeSlot slot)
    {
        _log.Warning("stripe of row {0} crashed; replacing it and redoing {1} unanswered requests", slot.Row, slot.Sent.Count);
        slot.Stripe = NewStripe(slot.Row);
        _stripeOfActor.Add(slot.Stripe, slot);
        if (slot.IdleNode is not null)
        {
            _idleStripes.Remove(slot.IdleNode);
            slot.IdleNode = null;
        }
        slot.IdleSweeps = 0;
        var view = ViewFor(slot.Row);
        if (view.MissingMask == 0)
        {
            var id = ++_nextRequestId;
            _pending.Add(id, new PendingRequest(RequestKind.Internal, Self, null, fua: false));
            slot.Stripe.Tell(new StripeSync(id, SyncKind.Resync, view));
            slot.Sent.AddFirst(new StripeSync(id, SyncKind.Resync, view));
        }
        foreach (var work in slot.Sent.Skip(view.MissingMask == 0 ? 1 : 0))
            slot.Stripe.Tell(work);
        if (slot.Sent.Count == 0)
            slot.IdleNode = _idleStripes.AddLast(slot.Row);
    }
}
