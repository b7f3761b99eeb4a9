using Debug = System.Diagnostics.Debug;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using static Raid5Actors.Bitmap.BitmapProtocol;

namespace Raid5Actors.Bitmap;

/// <summary>
/// The write-intent bitmap of one array and the batch sequencing of md's BITMAP UNPLUGGING
/// (the seed patch). Owns, and is the only writer of: <c>seq_flush</c>, <c>seq_write</c>, the
/// in-memory bits, their write counters and idle-sweep counts, and the set of parked stripes.
///
/// Invariants kept here:
/// <list type="bullet">
/// <item>I1 bitmap before data: <see cref="StartWrite"/> sets the bits and only then answers
/// <c>bm_seq = seq_flush + 1</c>, in one handler. A stripe is released (<see cref="BatchDurable"/>)
/// only when <c>unchecked(bm_seq - seq_write) &lt;= 0</c>, and <c>seq_write</c> moves to a batch
/// only after the journal confirmed the write of every bit dirtied before that batch closed.</item>
/// <item>No stall: bits are written with <c>PersistAsync</c>, so StartWrite keeps being answered
/// (joining the next batch) while a bitmap write is in flight.</item>
/// <item>I2 bits outlive writes: a bit is cleared only with no write in flight under it and after
/// two idle daemon sweeps; bits recovered after an unclean stop, or written while degraded, are
/// pinned ("pending resync") and never cleared here.</item>
/// <item>Sequence numbers are 32-bit and compared only by wrap-safe differences.</item>
/// </list>
/// A failed journal write stops this actor (Akka's persist-failure rule); the array then refuses
/// writes rather than continue without a bitmap.
/// </summary>
public sealed class BitmapBatchActor : UntypedPersistentActor, IWithTimers
{
    private sealed class DaemonSweep
    {
        public static readonly DaemonSweep Instance = new();
    }

    private readonly BitmapGeometry _geometry;
    private readonly BitmapSettings _settings;
    private readonly IActorRef _owner;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    // In-memory bitmap: set bits, writes in flight per bit, idle sweeps since the last write ended.
    private readonly bool[] _set;
    private readonly bool[] _durable;
    private readonly bool[] _pinned;
    private readonly int[] _writers;
    private readonly byte[] _idleSweeps;
    private readonly HashSet<int> _setBits = [];
    private readonly HashSet<int> _dirty = [];
    private readonly List<(IActorRef Stripe, int BmSeq)> _parked = [];
    private int _seqFlush;
    private int _seqWrite;
    private bool _writeInFlight;
    private int _eventsSinceSnapshot;
    private List<int>? _clearCandidates;
    private int _flushGeneration;

    public BitmapBatchActor(
        string persistenceId, BitmapGeometry geometry, BitmapSettings settings, IActorRef owner,
        string journalPluginId, string snapshotPluginId)
    {
        PersistenceId = persistenceId;
        JournalPluginId = journalPluginId;
        SnapshotPluginId = snapshotPluginId;
        _geometry = geometry;
        _settings = settings;
        _owner = owner;
        _set = new bool[geometry.ChunkCount];
        _durable = new bool[geometry.ChunkCount];
        _pinned = new bool[geometry.ChunkCount];
        _writers = new int[geometry.ChunkCount];
        _idleSweeps = new byte[geometry.ChunkCount];
        _seqFlush = _seqWrite = settings.InitialSequence;
    }

    public static Props Props(
        string persistenceId, BitmapGeometry geometry, BitmapSettings settings, IActorRef owner,
        string journalPluginId, string snapshotPluginId) =>
        Akka.Actor.Props.Create(() => new BitmapBatchActor(persistenceId, geometry, settings, owner, journalPluginId, snapshotPluginId));

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: BitmapSnapshot snapshot }:
                Debug.Assert(snapshot.ChunkCount == _geometry.ChunkCount, "bitmap snapshot of another geometry");
                foreach (var bit in snapshot.SetBits)
                    _durable[bit] = true;
                _eventsSinceSnapshot = 0;
                break;
            case BitsSet set:
                foreach (var bit in set.Bits)
                    _durable[bit] = true;
                _eventsSinceSnapshot++; // replayed events count too, or short runs never snapshot
                break;
            case BitsCleared cleared:
                foreach (var bit in cleared.Bits)
                    _durable[bit] = false;
                _eventsSinceSnapshot++;
                break;
            case RecoveryCompleted:
                // Every bit still durably set was covering writes when we last stopped: its
                // region may be inconsistent (I3), so it stays set until a resync clears it.
                for (var bit = 0; bit < _durable.Length; bit++)
                {
                    if (!_durable[bit])
                        continue;
                    _set[bit] = _pinned[bit] = true;
                    _setBits.Add(bit);
                }
                Timers.StartPeriodicTimer(nameof(DaemonSweep), DaemonSweep.Instance, _settings.DaemonSleep);
                _owner.Tell(new BitmapReady(Self, _setBits.Count));
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case StartWrite start:
                OnStartWrite(start.Validate());
                break;
            case EndWrite end:
                OnEndWrite(end);
                break;
            case Unplug:
                _seqFlush = unchecked(_seqFlush + 1);
                MaybeStartBatchWrite();
                break;
            case DaemonSweep:
                OnDaemonSweep();
                break;
            case MembersFlushed flushed:
                OnMembersFlushed(flushed);
                break;
            case Quiesce:
                // The owner flushed every member before asking: idle bits can go at once.
                Clear(_setBits.Where(Clearable).ToList());
                var requester = Sender;
                // Answered after the clear is durable: PersistAsync handlers and Defer run in order.
                DeferAsync(Quiesced.Instance, q => requester.Tell(q));
                break;
            case GetBitmapStatus:
                Sender.Tell(Status());
                break;
            case GetPinnedBits:
                Sender.Tell(new PinnedBits(Enumerable.Range(0, _pinned.Length).Where(b => _pinned[b]).ToArray()));
                break;
            case ReleasePinned:
                Array.Clear(_pinned);
                break;
            case SaveSnapshotSuccess saved:
                DeleteMessages(saved.Metadata.SequenceNr);
                DeleteSnapshots(new SnapshotSelectionCriteria(saved.Metadata.SequenceNr - 1));
                break;
            case SaveSnapshotFailure failed:
                _log.Warning("bitmap snapshot failed, recovery will replay more events: {0}", failed.Cause.Message);
                break;
            case DeleteMessagesSuccess or DeleteSnapshotsSuccess:
                break;
            case DeleteMessagesFailure or DeleteSnapshotsFailure:
                _log.Warning("bitmap journal cleanup failed: {0}", message);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    // The seed's fix: set the bits first, then read seq_flush, in one handler.
    private void OnStartWrite(StartWrite start)
    {
        for (var bit = start.FirstBit; bit <= start.LastBit; bit++)
        {
            _writers[bit]++;
            _idleSweeps[bit] = 0;
            if (_set[bit])
                continue;
            _set[bit] = true;
            _setBits.Add(bit);
            _dirty.Add(bit);
        }
        var bmSeq = unchecked(_seqFlush + 1);
        _parked.Add((Sender, bmSeq));
        Sender.Tell(new WriteStarted(bmSeq, _seqWrite));
    }

    private void OnEndWrite(EndWrite end)
    {
        for (var bit = end.FirstBit; bit <= end.LastBit; bit++)
        {
            if (_writers[bit] <= 0)
                throw new InvalidOperationException($"EndWrite for bit {bit} without a StartWrite");
            _writers[bit]--;
            _idleSweeps[bit] = 0;
            if (end.Degraded)
                _pinned[bit] = true; // "needed": a member missed this write
        }
    }

    private void MaybeStartBatchWrite()
    {
        if (_writeInFlight || _seqFlush == _seqWrite)
            return;
        var seq = _seqFlush;
        if (_dirty.Count == 0)
        {
            // Nothing new to write: every bit of the closed batches is already durable or in an
            // earlier write that completed (none is in flight).
            CompleteBatch(seq);
            return;
        }
        var bits = _dirty.ToArray();
        Array.Sort(bits);
        _dirty.Clear();
        _writeInFlight = true;
        PersistAsync(new BitsSet(bits), set =>
        {
            foreach (var bit in set.Bits)
                _durable[bit] = true;
            _writeInFlight = false;
            CompleteBatch(seq);
            CountEventAndMaybeSnapshot();
            MaybeStartBatchWrite();
        });
    }

    private void CompleteBatch(int seq)
    {
        _seqWrite = seq;
        var released = new BatchDurable(_seqWrite);
        _parked.RemoveAll(p =>
        {
            if (unchecked(p.BmSeq - _seqWrite) > 0)
                return false;
            p.Stripe.Tell(released);
            return true;
        });
    }

    // md's daemon: an idle bit goes 2 -> 1 -> 0 over two sweeps. Before it is cleared, the members
    // are flushed, so the writes it covered are durable and not only in a disk's write cache (I3).
    private void OnDaemonSweep()
    {
        List<int>? candidates = null;
        foreach (var bit in _setBits)
        {
            if (!Clearable(bit))
                continue;
            if (_idleSweeps[bit] < 2)
                _idleSweeps[bit]++;
            if (_idleSweeps[bit] >= 2)
                (candidates ??= []).Add(bit);
        }
        if (candidates is null || _clearCandidates is not null)
            return; // nothing to clear, or a flush for the previous candidates is still out
        _clearCandidates = candidates;
        _owner.Tell(new FlushBeforeClear(++_flushGeneration));
    }

    private void OnMembersFlushed(MembersFlushed flushed)
    {
        if (flushed.Generation != _flushGeneration || _clearCandidates is not { } candidates)
            return;
        _clearCandidates = null;
        if (!flushed.Durable)
            return; // a member may not hold those writes: keep the bits
        // A StartWrite since the flush request reset the bit's sweeps: it stays.
        Clear(candidates.Where(bit => _set[bit] && Clearable(bit) && _idleSweeps[bit] >= 2).ToList());
    }

    private bool Clearable(int bit) => _writers[bit] == 0 && !_pinned[bit];

    private void Clear(List<int> bits)
    {
        if (bits.Count == 0)
            return;
        foreach (var bit in bits)
        {
            _set[bit] = false;
            _idleSweeps[bit] = 0;
            _setBits.Remove(bit);
            _dirty.Remove(bit);
        }
        bits.Sort();
        PersistAsync(new BitsCleared([.. bits]), c =>
        {
            // Journal order is event order: a later BitsSet for the same bit lands after this.
            foreach (var bit in c.Bits)
                _durable[bit] = false;
            CountEventAndMaybeSnapshot();
        });
    }

    private void CountEventAndMaybeSnapshot()
    {
        if (++_eventsSinceSnapshot < _settings.SnapshotEveryEvents)
            return;
        _eventsSinceSnapshot = 0;
        var bits = new List<int>();
        for (var bit = 0; bit < _durable.Length; bit++)
        {
            if (_durable[bit])
                bits.Add(bit);
        }
        SaveSnapshot(new BitmapSnapshot(_geometry.ChunkCount, [.. bits]));
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "bitmap write failed; the array stops accepting writes (a full resync will be needed)");
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    private BitmapStatus Status() => new(
        _geometry.ChunkBytes,
        _geometry.ChunkCount,
        _setBits.Count,
        _durable.Count(d => d),
        _pinned.Count(p => p),
        _seqFlush,
        _seqWrite,
        _writeInFlight,
        _parked.Count);
}
