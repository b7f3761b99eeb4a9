using Akka.Actor;
using Akka.Event;
using Raid5Actors.Bitmap;
using Raid5Actors.Stripes;
using Raid5Actors.Sync;
using static Raid5Actors.Arrays.ArrayProtocol;
using static Raid5Actors.Stripes.StripeProtocol;
using static Raid5Actors.Sync.SyncProtocol;

namespace Raid5Actors.Arrays;

/// <summary>
/// The sync pass in progress (at most one): resync after an unclean stop, recovery onto a spare or
/// a re-added member, check and repair. Rows are synced through their stripes, so a sync never
/// races a write. During a recovery the target counts as present for writes once the row's sync
/// has been sent (writes queued after it in the stripe see the rebuilt chunk), and for direct reads
/// once every row up to it is done.
/// </summary>
public sealed partial class ArrayActor
{
    private sealed class SyncRun(IActorRef actor, SyncKind kind, int targetRole, SyncStatus initial)
    {
        public IActorRef Actor { get; } = actor;

        public SyncKind Kind { get; } = kind;

        public int TargetRole { get; } = targetRole;

        public SyncStatus Latest { get; set; } = initial;
    }

    /// <summary>Where a recovery stands: rows in <c>Ranges</c> below <c>NextRow</c> are sent, those below <c>CompletedBelow</c> are done.</summary>
    private sealed class RebuildProgress(int role, IReadOnlyList<RowRange> ranges)
    {
        public int Role { get; } = role;

        public IReadOnlyList<RowRange> Ranges { get; } = ranges;

        public long NextRow { get; set; } = ranges.Count > 0 ? ranges[0].First : 0;

        public SortedSet<long> InFlight { get; } = [];

        public long CompletedBelow => InFlight.Count > 0 ? InFlight.Min : NextRow;

        public bool Writable(long row) => !InRanges(row) || row < NextRow;

        public bool Readable(long row) => !InRanges(row) || row < CompletedBelow;

        private bool InRanges(long row)
        {
            int lo = 0, hi = Ranges.Count - 1;
            while (lo <= hi)
            {
                var mid = (lo + hi) / 2;
                if (row < Ranges[mid].First)
                    hi = mid - 1;
                else if (row >= Ranges[mid].End)
                    lo = mid + 1;
                else
                    return true;
            }
            return false;
        }
    }

    private readonly List<IActorRef> _syncWaiters = [];
    private readonly Queue<Action<int[]>> _pinnedBitsWaiters = new();
    private SyncRun? _sync;
    private RebuildProgress? _rebuild;
    private SyncStatus? _lastSync;
    private string? _lastSyncFailure;
    private DateTime _lastCheckpointUtc;

    /// <summary>At open: resync after an unclean stop, then resume or start a recovery.</summary>
    private void StartPendingSync()
    {
        if (_needsResync && !_resyncStarted)
        {
            _resyncStarted = true;
            if (_metadata.Degraded)
            {
                _log.Warning("dirty and degraded array started by force: no resync is possible, rows written at the crash may be wrong");
            }
            else if (_bitmap is null)
            {
                StartSyncActor(SyncKind.Resync, -1, [new RowRange(0, _geometry.RowCount)]);
                return;
            }
            else
            {
                WithPinnedBits(bits => StartSyncActor(SyncKind.Resync, -1, RowsOf(bits)));
                return;
            }
        }
        var rebuilding = _metadata.Slots.FirstOrDefault(s => s.State == MemberState.Rebuilding);
        if (rebuilding is not null)
            StartRecovery(rebuilding.Role);
        else
            MaybeStartRecovery();
    }

    // Set at open after an unclean stop; cleared when the resync completes. While set, a stop
    // leaves the array marked dirty, so the next open resyncs again.
    private bool _needsResync;
    private bool _resyncStarted;

    private void StartRecovery(int role)
    {
        var slot = _metadata.Slots[role];
        if (slot.FromBitmap && _bitmap is not null)
            WithPinnedBits(bits => BeginRecovery(role, RowsOf(bits).Select(r => Clip(r, slot.RebuiltRows)).Where(r => r.Count > 0).ToList()));
        else
            BeginRecovery(role, [new RowRange(slot.RebuiltRows, _geometry.RowCount - slot.RebuiltRows)]);
    }

    private static RowRange Clip(RowRange range, long from) =>
        range.First >= from ? range : new RowRange(from, Math.Max(0, range.End - from));

    private void BeginRecovery(int role, IReadOnlyList<RowRange> ranges)
    {
        _rebuild = new RebuildProgress(role, ranges);
        _lastCheckpointUtc = DateTime.UtcNow;
        StartSyncActor(SyncKind.Recover, role, ranges);
    }

    private void StartSyncActor(SyncKind kind, int targetRole, IReadOnlyList<RowRange> ranges)
    {
        var actor = Context.ActorOf(
            SyncActor.Props(kind, targetRole, ranges, _geometry.ChunkBytes, _settings.Sync, Self),
            $"sync-{kind.ToString().ToLowerInvariant()}-{++_stripeGeneration}");
        var total = ranges.Sum(r => r.Count);
        _sync = new SyncRun(actor, kind, targetRole, new SyncStatus(kind, targetRole, 0, total, _geometry.ChunkBytes, 0, null, 0));
        _log.Info("{0} started over {1} rows", kind, total);
    }

    private void WithPinnedBits(Action<int[]> then)
    {
        _pinnedBitsWaiters.Enqueue(then);
        _bitmap!.Tell(BitmapProtocol.GetPinnedBits.Instance);
    }

    private void OnPinnedBits(BitmapProtocol.PinnedBits pinned)
    {
        if (_pinnedBitsWaiters.TryDequeue(out var then))
            then(pinned.Bits);
    }

    /// <summary>The rows covered by bitmap bits (a bit covers whole rows: its chunk is a multiple of the array chunk).</summary>
    private List<RowRange> RowsOf(int[] bits)
    {
        var rowsPerBit = _bitmapGeometry.ChunkBytes / _geometry.ChunkBytes;
        var ranges = new List<RowRange>();
        foreach (var bit in bits.Order())
        {
            var first = bit * rowsPerBit;
            var count = Math.Min(rowsPerBit, _geometry.RowCount - first);
            if (count <= 0)
                continue;
            if (ranges.Count > 0 && ranges[^1].End == first)
                ranges[^1] = ranges[^1] with { Count = ranges[^1].Count + count };
            else
                ranges.Add(new RowRange(first, count));
        }
        return ranges;
    }

    private void OnStartSync(StartSync start)
    {
        string? refusal = start.Kind is SyncKind.Check or SyncKind.Repair ? null : $"{start.Kind} is started by the array itself";
        refusal ??= _sync is not null ? $"a {_sync.Kind.ToString().ToLowerInvariant()} is already running" : null;
        refusal ??= _metadata.Degraded ? "the array is degraded: parity cannot be checked without every member" : null;
        if (refusal is not null)
        {
            Sender.Tell(new RequestFailed(new Raid5Exception(refusal)));
            return;
        }
        var requester = Sender;
        EnsureDirty(() =>
        {
            StartSyncActor(start.Kind, -1, [new RowRange(0, _geometry.RowCount)]);
            requester.Tell(new SyncStarted(_sync!.Latest));
        });
    }

    private void OnWaitForSync()
    {
        // A pass about to start (waiting for the bitmap's pinned bits) counts as running.
        if (_sync is null && _pinnedBitsWaiters.Count == 0)
            Sender.Tell(new SyncIdle(_lastSync, _lastSyncFailure));
        else
            _syncWaiters.Add(Sender);
    }

    private void OnSyncRow(SyncRow row)
    {
        if (_sync is null || !Sender.Equals(_sync.Actor))
            return;
        if (_rebuild is not null)
        {
            _rebuild.NextRow = row.Row + 1;
            _rebuild.InFlight.Add(row.Row);
        }
        var id = ++_nextRequestId;
        _pending.Add(id, new PendingRequest(RequestKind.SyncRow, Sender, null, fua: false) { Row = row.Row });
        RouteToStripe(row.Row, new StripeSync(id, _sync.Kind, ViewFor(row.Row), _sync.TargetRole));
    }

    private void OnSyncRowAnswered(PendingRequest request, long row, bool mismatch, string? failure)
    {
        if (_sync is null || !request.ReplyTo.Equals(_sync.Actor))
            return; // a pass that was aborted
        if (failure is not null)
        {
            request.ReplyTo.Tell(new RowSyncFailed(row, failure));
            return;
        }
        request.ReplyTo.Tell(new RowSynced(row, mismatch, _userRequestSinceSyncRow));
        _userRequestSinceSyncRow = false;
        if (_rebuild is null)
            return;
        _rebuild.InFlight.Remove(row);
        if (DateTime.UtcNow - _lastCheckpointUtc >= _settings.Sync.CheckpointInterval)
        {
            _lastCheckpointUtc = DateTime.UtcNow;
            var slot = _metadata.Slots[_rebuild.Role];
            Record(_metadata.WithSlot(slot with { RebuiltRows = _rebuild.CompletedBelow }));
        }
    }

    private void OnSyncProgress(SyncProgress progress)
    {
        if (_sync is not null && Sender.Equals(_sync.Actor))
            _sync.Latest = progress.Status;
    }

    private void OnSyncFinished(SyncFinished finished)
    {
        if (_sync is null || !Sender.Equals(_sync.Actor))
            return;
        var run = _sync;
        _sync = null;
        _lastSync = finished.Status;
        _lastSyncFailure = finished.Failure;
        if (finished.Failure is null)
            _log.Info("{0} finished: {1}", run.Kind, finished.Status);
        else
            _log.Error("{0} stopped: {1}", run.Kind, finished.Failure);
        switch (run.Kind)
        {
            case SyncKind.Recover when finished.Failure is null:
                FinishRecovery(run.TargetRole);
                return;
            case SyncKind.Recover:
                _rebuild = null;
                var target = _metadata.Slots[run.TargetRole];
                if (target.State == MemberState.Rebuilding)
                    OnMemberFailed(run.TargetRole, $"recovery failed: {finished.Failure}");
                break;
            case SyncKind.Resync when finished.Failure is null:
                _needsResync = false;
                if (!_metadata.Degraded)
                    _bitmap?.Tell(BitmapProtocol.ReleasePinned.Instance);
                break;
        }
        AfterSync();
    }

    private void FinishRecovery(int role)
    {
        _rebuild = null;
        var slot = _metadata.Slots[role] with { State = MemberState.InSync, RebuiltRows = _geometry.RowCount, FromBitmap = false };
        var whole = _metadata.WithSlot(slot).Bumped();
        if (!whole.Degraded)
            whole = whole with { EventsCleared = whole.Events };
        Record(whole, () =>
        {
            RebuildViews();
            WriteSuperblocks();
            if (!_metadata.Degraded)
                _bitmap?.Tell(BitmapProtocol.ReleasePinned.Instance); // I2: "needed" bits may go once the array is whole
            _log.Info("member {0} is in sync again", role);
            AfterSync();
        });
    }

    private void AfterSync()
    {
        foreach (var waiter in _syncWaiters)
            waiter.Tell(new SyncIdle(_lastSync, _lastSyncFailure));
        _syncWaiters.Clear();
        if (_state == State.Running)
            StartPendingSync();
    }

    private void AbortSync(string reason)
    {
        if (_sync is null)
            return;
        Context.Stop(_sync.Actor);
        _lastSync = _sync.Latest;
        _lastSyncFailure = reason;
        _sync = null;
        _rebuild = null;
        foreach (var waiter in _syncWaiters)
            waiter.Tell(new SyncIdle(_lastSync, _lastSyncFailure));
        _syncWaiters.Clear();
    }
}
