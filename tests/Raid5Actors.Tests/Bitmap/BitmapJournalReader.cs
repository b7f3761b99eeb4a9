using Akka.Actor;
using Akka.Persistence;
using Raid5Actors.Bitmap;

namespace Raid5Actors.Tests.Bitmap;

/// <summary>What the journal holds for a bitmap: the bits durably set, and how recovery got there.</summary>
public sealed record RecoveredBitmap(int[] Bits, long? SnapshotSequenceNr, int[] SnapshotBits, IReadOnlyList<IBitmapEvent> Replayed, long LastSequenceNr);

/// <summary>
/// Replays a bitmap's snapshot and events independently of <see cref="BitmapBatchActor"/>, answers
/// <see cref="RecoveredBitmap"/> to <c>replyTo</c> and stops. Run it only while no bitmap actor of the
/// same persistence id is writing.
/// </summary>
public sealed class BitmapJournalReader : UntypedPersistentActor
{
    private readonly IActorRef _replyTo;
    private readonly SortedSet<int> _bits = [];
    private readonly List<IBitmapEvent> _replayed = [];
    private long? _snapshotSequenceNr;
    private int[] _snapshotBits = [];

    public BitmapJournalReader(string persistenceId, string journalPluginId, string snapshotPluginId, IActorRef replyTo)
    {
        PersistenceId = persistenceId;
        JournalPluginId = journalPluginId;
        SnapshotPluginId = snapshotPluginId;
        _replyTo = replyTo;
    }

    public static Props Props(string persistenceId, string journalPluginId, string snapshotPluginId, IActorRef replyTo) =>
        Akka.Actor.Props.Create(() => new BitmapJournalReader(persistenceId, journalPluginId, snapshotPluginId, replyTo));

    public override string PersistenceId { get; }

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: BitmapSnapshot snapshot } offer:
                _snapshotSequenceNr = offer.Metadata.SequenceNr;
                _snapshotBits = [.. snapshot.SetBits];
                _bits.UnionWith(snapshot.SetBits);
                break;
            case BitsSet set:
                _replayed.Add(set);
                _bits.UnionWith(set.Bits);
                break;
            case BitsCleared cleared:
                _replayed.Add(cleared);
                _bits.ExceptWith(cleared.Bits);
                break;
            case RecoveryCompleted:
                _replyTo.Tell(new RecoveredBitmap([.. _bits], _snapshotSequenceNr, _snapshotBits, _replayed, LastSequenceNr));
                Context.Stop(Self);
                break;
        }
    }

    protected override void OnCommand(object message) => Unhandled(message);
}
