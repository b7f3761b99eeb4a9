using Akka.Actor;
using Akka.Event;
using Raid5Actors.Bitmap;
using Raid5Actors.Buffers;
using Raid5Actors.Stripes;
using Raid5Actors.Sync;
using static Raid5Actors.Arrays.ArrayProtocol;
using static Raid5Actors.Disks.MemberDiskProtocol;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Arrays;

/// <summary>Reads, writes and flushes: splitting them by chunk and row, and answering when every piece has.</summary>
public sealed partial class ArrayActor
{
    private enum RequestKind
    {
        Read,
        Write,
        Flush,
        SyncRow,
        Internal,
        FlushBeforeClear,
    }

    /// <summary>One chunk-sized piece of a read, kept so that a failed member read can be redone through the stripe.</summary>
    private readonly record struct ReadPiece(long Row, int OffsetInRow, int Length, int DestinationOffset, int Role);

    /// <summary>A request in flight and the pieces still out. The array owns <c>Buffer</c> until it answers.</summary>
    private sealed class PendingRequest(RequestKind kind, IActorRef replyTo, PooledBuffer? buffer, bool fua)
    {
        public RequestKind Kind { get; set; } = kind;

        public IActorRef ReplyTo { get; } = replyTo;

        public PooledBuffer? Buffer { get; } = buffer;

        public bool Fua { get; } = fua;

        public int Outstanding { get; set; }

        public string? Failure { get; set; }

        public List<ReadPiece>? Pieces { get; set; }

        /// <summary>Roles whose flush failed: a flush stands only while at most one role lacks it.</summary>
        public int FlushFailedMask { get; set; }

        public int Generation { get; init; }

        public long Row { get; init; }
    }

    // Member answers carry (request id << 16 | piece index): a read has at most 8192 pieces.
    private const int kPieceBits = 16;

    private readonly Dictionary<long, PendingRequest> _pending = [];
    private long _nextRequestId;
    private bool _userRequestSinceSyncRow;

    private void Running(object message)
    {
        switch (message)
        {
            case Read read:
                _userRequestSinceSyncRow = true;
                OnRead(read);
                break;
            case Write write:
                _userRequestSinceSyncRow = true;
                OnWrite(write);
                break;
            case Flush:
                StartFlush(new PendingRequest(RequestKind.Flush, Sender, null, fua: false), ++_nextRequestId);
                break;
            case FailMember fail:
                OnFailMember(fail);
                break;
            case RemoveMember remove:
                OnRemoveMember(remove);
                break;
            case AddMember add:
                OnAddMember(add);
                break;
            case StartSync start:
                OnStartSync(start);
                break;
            case WaitForSync:
                OnWaitForSync();
                break;
            case ArrayProtocol.Stop:
                BeginStop(Sender);
                break;
            default:
                OnInternal(message);
                break;
        }
    }

    /// <summary>Messages from children and timers, handled the same in every live state.</summary>
    private void OnInternal(object message)
    {
        switch (message)
        {
            case IoCompleted { Tag: kSuperblockTag }:
                OnSuperblockAnswer(null);
                break;
            case IoFailed { Tag: kSuperblockTag } failed:
                OnSuperblockAnswer(failed);
                break;
            case IoCompleted done:
                if (ForgetDirect(done.Tag))
                    OnPieceAnswered(done.Tag >> kPieceBits, failure: null);
                break;
            case IoFailed failed:
                if (ForgetDirect(failed.Tag))
                    OnMemberIoFailed(failed);
                break;
            case StripeWorkCompleted done:
                OnStripeAnswered(done.Row, done.RequestId);
                OnStripeWorkCompleted(done);
                break;
            case StripeWorkFailed failed:
                OnStripeAnswered(failed.Row, failed.RequestId);
                OnStripeWorkFailed(failed);
                break;
            case StripeMemberFailed failed:
                OnMemberFailed(failed.Role, failed.Reason);
                break;
            case StripeParked:
                OnStripeParked();
                break;
            case EndOfBurst:
                Unplug();
                break;
            case SweepIdleStripes:
                OnSweepIdleStripes();
                break;
            case BitmapProtocol.BitmapStatus status:
                OnBitmapStatus(status);
                break;
            case BitmapProtocol.FlushBeforeClear flush:
                StartFlush(new PendingRequest(RequestKind.FlushBeforeClear, Sender, null, fua: false) { Generation = flush.Generation }, ++_nextRequestId);
                break;
            case BitmapProtocol.PinnedBits pinned:
                OnPinnedBits(pinned);
                break;
            case BitmapProtocol.Quiesced:
                OnQuiesced();
                break;
            case SyncProtocol.SyncRow row:
                OnSyncRow(row);
                break;
            case SyncProtocol.SyncProgress progress:
                OnSyncProgress(progress);
                break;
            case SyncProtocol.SyncFinished finished:
                OnSyncFinished(finished);
                break;
            case Terminated t when t.ActorRef.Equals(_bitmap):
                OnBitmapLost();
                break;
            case Terminated t:
                OnChildTerminated(t.ActorRef);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void OnRead(Read read)
    {
        var error = IoRange.Check(read.OffsetBytes, read.LengthBytes, _geometry.CapacityBytes, _settings.MaxRequestBytes);
        if (error is not null)
        {
            Sender.Tell(new RequestFailed(error));
            return;
        }
        var request = new PendingRequest(RequestKind.Read, Sender, PooledBuffer.Rent(read.LengthBytes), fua: false) { Pieces = [] };
        var id = ++_nextRequestId;
        var done = 0;
        while (done < read.LengthBytes)
        {
            var position = read.OffsetBytes + done;
            var location = _geometry.Locate(position);
            var length = Math.Min(read.LengthBytes - done, _geometry.ChunkBytes - location.OffsetInChunk);
            var piece = new ReadPiece(location.Row, (int)(position % _geometry.RowDataBytes), length, done, location.Member);
            request.Pieces.Add(piece);
            request.Outstanding++;
            // Reads go straight to the member holding the data: an acknowledged write has completed
            // on that member, and the member answers in order, so the read sees it. A block that
            // member cannot serve is rebuilt through the row's stripe, in order with its writes.
            if (ReadableDirect(location.Member, location.Row))
                SendDirect(location.Member, new ReadBlock((id << kPieceBits) | (long)(request.Pieces.Count - 1), location.MemberOffset, request.Buffer!.Memory.Slice(done, length)));
            else
                ReadThroughStripe(id, request, piece, repairRole: -1);
            done += length;
        }
        _pending.Add(id, request);
    }

    private void ReadThroughStripe(long id, PendingRequest request, ReadPiece piece, int repairRole)
    {
        var view = ViewFor(piece.Row);
        if (repairRole >= 0 && !view.IsMissing(repairRole))
        {
            // A live member is repaired (md's read-error rewrite); one whose disk actor is gone is just missing.
            view = _deviceOfActor.ContainsKey(_roleActors[repairRole])
                ? view with { RepairRole = repairRole }
                : view.WithMissing(repairRole);
        }
        RouteToStripe(piece.Row, new StripeRead(id, piece.OffsetInRow, request.Buffer!.Memory.Slice(piece.DestinationOffset, piece.Length), view));
    }

    // md's read-error handling: the block is rebuilt from the other members, answered, and written back.
    private void OnMemberIoFailed(IoFailed failed)
    {
        var id = failed.Tag >> kPieceBits;
        if (!_pending.TryGetValue(id, out var request))
            throw new InvalidOperationException($"member answer for unknown request {id}");
        if (failed.Kind == IoKind.Read && request.Pieces is { } pieces)
        {
            _log.Warning("member {0} read failed, rebuilding the block from the others: {1}", failed.Role, failed.Reason);
            ReadThroughStripe(id, request, pieces[(int)(failed.Tag & ((1 << kPieceBits) - 1))], failed.Role);
            return;
        }
        if (failed.Kind == IoKind.Flush)
        {
            // The member may not hold what it acknowledged: it cannot be trusted any more. The flush
            // still stands while the others hold everything (at most one role lacks it).
            OnMemberFailed(failed.Role, $"flush failed: {failed.Reason}");
            request.FlushFailedMask |= 1 << failed.Role;
            var lacking = request.FlushFailedMask | _missingMask;
            var lost = System.Numerics.BitOperations.PopCount((uint)lacking) >= 2;
            OnPieceAnswered(id, lost ? $"flush failed on members {string.Join(" and ", Enumerable.Range(0, 32).Where(r => (lacking & (1 << r)) != 0))}: {failed.Reason}" : null);
            return;
        }
        OnPieceAnswered(id, $"member {failed.Role} {failed.Kind.ToString().ToLowerInvariant()} failed: {failed.Reason}");
    }

    private void OnWrite(Write write)
    {
        var error = _writesRefused is not null
            ? new Raid5Exception(_writesRefused)
            : IoRange.Check(write.OffsetBytes, write.Data.LengthBytes, _geometry.CapacityBytes, _settings.MaxRequestBytes);
        if (error is not null)
        {
            write.Data.Dispose();
            Sender.Tell(new RequestFailed(error));
            return;
        }
        var request = new PendingRequest(RequestKind.Write, Sender, write.Data, write.Fua);
        var id = ++_nextRequestId;
        _pending.Add(id, request);
        // md marks the superblock dirty before the first write after a clean start.
        EnsureDirty(() => SendWrite(id, request, write));
    }

    private void SendWrite(long id, PendingRequest request, Write write)
    {
        var rowBytes = _geometry.RowDataBytes;
        var done = 0;
        var pieces = new List<(long Row, StripeWrite Work)>();
        while (done < write.Data.LengthBytes)
        {
            var position = write.OffsetBytes + done;
            var row = position / rowBytes;
            var offsetInRow = (int)(position % rowBytes);
            var length = (int)Math.Min(write.Data.LengthBytes - done, rowBytes - offsetInRow);
            pieces.Add((row, new StripeWrite(id, offsetInRow, write.Data.Memory.Slice(done, length), ViewFor(row))));
            done += length;
        }
        request.Outstanding = pieces.Count;
        foreach (var (row, work) in pieces)
            RouteToStripe(row, work);
    }

    // Reads and flushes sent straight to a disk, by disk actor: answered by it, or failed if it stops.
    private readonly Dictionary<IActorRef, Dictionary<long, (int Role, IoKind Kind)>> _directIo = [];

    private void SendDirect(int role, object io)
    {
        var disk = _roleActors[role];
        var (tag, kind) = io switch
        {
            ReadBlock r => (r.Tag, IoKind.Read),
            FlushMember f => (f.Tag, IoKind.Flush),
            _ => throw new ArgumentException($"not direct I/O: {io}"),
        };
        if (!_directIo.TryGetValue(disk, out var outstanding))
            _directIo[disk] = outstanding = [];
        outstanding[tag] = (role, kind);
        disk.Tell(io);
    }

    // False for a late answer from a disk whose outstanding I/O was already failed (it was stopped).
    private bool ForgetDirect(long tag) => _directIo.TryGetValue(Sender, out var outstanding) && outstanding.Remove(tag);

    private void FailDirectIoOf(IActorRef disk)
    {
        if (!_directIo.Remove(disk, out var outstanding))
            return;
        foreach (var (tag, (role, kind)) in outstanding)
            OnMemberIoFailed(new IoFailed(tag, role, kind, "its disk actor stopped"));
    }

    private void EnsureDirty(Action then)
    {
        if (_metadata.Clean)
            Record(_metadata with { Clean = false }, then);
        else
            then();
    }

    private void StartFlush(PendingRequest request, long id)
    {
        Unplug();
        if (System.Numerics.BitOperations.PopCount((uint)_missingMask) >= 2)
        {
            // Writes that reached the lost members can never be made durable: say so.
            request.Failure = "the array has failed: it cannot make every completed write durable";
            _pending[id] = request;
            request.Outstanding = 1;
            OnPieceAnswered(id, request.Failure);
            return;
        }
        var members = _metadata.Slots.Where(s => s.State != MemberState.Faulty && !_roleActors[s.Role].IsNobody()).Select(s => s.Role).ToList();
        request.Outstanding = members.Count;
        foreach (var member in members)
            SendDirect(member, new FlushMember(id << kPieceBits));
        _pending[id] = request;
        if (members.Count == 0)
            OnPieceAnswered(id, failure: null);
    }

    private void OnStripeWorkCompleted(StripeWorkCompleted done)
    {
        if (!_pending.TryGetValue(done.RequestId, out var request))
            return;
        switch (request.Kind)
        {
            case RequestKind.SyncRow:
                _pending.Remove(done.RequestId);
                OnSyncRowAnswered(request, done.Row, done.Mismatch, failure: null);
                break;
            case RequestKind.Internal:
                _pending.Remove(done.RequestId);
                break;
            default:
                OnPieceAnswered(done.RequestId, failure: null);
                return;
        }
        if (_state == State.Stopping)
            ContinueStop();
    }

    private void OnStripeWorkFailed(StripeWorkFailed failed)
    {
        if (!_pending.TryGetValue(failed.RequestId, out var request))
            return;
        switch (request.Kind)
        {
            case RequestKind.SyncRow:
                _pending.Remove(failed.RequestId);
                OnSyncRowAnswered(request, failed.Row, mismatch: false, failed.Reason);
                break;
            case RequestKind.Internal:
                _pending.Remove(failed.RequestId);
                _log.Warning("row {0}: {1}", failed.Row, failed.Reason);
                break;
            default:
                OnPieceAnswered(failed.RequestId, failed.Reason);
                return;
        }
        if (_state == State.Stopping)
            ContinueStop();
    }

    private void OnPieceAnswered(long id, string? failure)
    {
        if (!_pending.TryGetValue(id, out var request))
            throw new InvalidOperationException($"answer for unknown request {id}");
        request.Failure ??= failure;
        if (--request.Outstanding > 0)
            return;
        _pending.Remove(id);
        if (request is { Kind: RequestKind.Write, Fua: true, Failure: null })
        {
            request.Kind = RequestKind.Flush;
            request.Buffer!.Dispose();
            StartFlush(request, id);
            return;
        }
        Complete(request);
    }

    private void Complete(PendingRequest request)
    {
        if (request.Kind == RequestKind.FlushBeforeClear)
        {
            request.ReplyTo.Tell(new BitmapProtocol.MembersFlushed(request.Generation, Durable: request.Failure is null && request.FlushFailedMask == 0));
        }
        else if (request.Failure is not null)
        {
            request.Buffer?.Dispose();
            request.ReplyTo.Tell(new RequestFailed(new Raid5IoException(request.Failure)));
        }
        else
        {
            switch (request.Kind)
            {
                case RequestKind.Read:
                    request.ReplyTo.Tell(new ReadCompleted(request.Buffer!));
                    break;
                case RequestKind.Write:
                    request.Buffer!.Dispose();
                    request.ReplyTo.Tell(WriteCompleted.Instance);
                    break;
                case RequestKind.Flush:
                    request.ReplyTo.Tell(request.Fua ? WriteCompleted.Instance : FlushCompleted.Instance);
                    break;
            }
        }
        if (_state == State.Stopping)
            ContinueStop();
    }

    private void OnBitmapLost()
    {
        // I1 cannot be kept without a bitmap: refuse writes from now on instead of writing unprotected.
        _writesRefused = "the write-intent bitmap could not be written; the array accepts no more writes (reads still work)";
        _log.Error(_writesRefused);
        _bitmap = null;
        foreach (var slot in _stripes.Values)
            slot.Stripe.Tell(BitmapUnavailable.Instance);
        var waiting = _waiting.ToList();
        _waiting.Clear();
        foreach (var (row, work) in waiting)
        {
            if (work is StripeWrite write)
                OnPieceAnswered(write.RequestId, _writesRefused);
            else
                _waiting.Enqueue((row, work));
        }
    }
}
