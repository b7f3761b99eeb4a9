using Debug = System.Diagnostics.Debug;
using Akka.Actor;
using Raid5Actors.Bitmap;
using Raid5Actors.Buffers;
using Raid5Actors.Geometry;
using Raid5Actors.Parity;
using static Raid5Actors.Bitmap.BitmapProtocol;
using static Raid5Actors.Disks.MemberDiskProtocol;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Stripes;

/// <summary>
/// One per active row of the array (md's stripe_head and handle_stripe). Writes to the row are
/// queued and carried out one batch at a time, in arrival order, so overlapping writes apply in
/// the order they were sent. A batch runs analyse -> decide -> act:
/// plan the columns (<see cref="StripeWritePlan"/>), set the bitmap bits and pre-read what the plan
/// needs at the same time, then, once the reads are in and the bitmap batch is durable (I1), compute
/// parity and write data and parity.
///
/// Owns: the queue of writes for its row and the page buffers of the batch in progress (lent to the
/// member disks while they read or write them; returned only after every I/O has answered).
/// The array actor stops a stripe only when it has no write outstanding.
/// </summary>
public sealed class StripeActor : UntypedActor
{
    private readonly ArrayGeometry _geometry;
    private readonly long _row;
    private readonly IReadOnlyList<IActorRef> _members;
    private readonly IActorRef _bitmap;
    private readonly BitmapGeometry _bitmapGeometry;
    private readonly IActorRef _array;
    private readonly Queue<StripeWrite> _queue = new();
    private readonly ReadOnlyMemory<byte>[] _xorSources;
    private Batch? _batch;
    private long _nextBatchId;
    private bool _bitmapLost;

    public StripeActor(
        ArrayGeometry geometry, long row, IReadOnlyList<IActorRef> members, IActorRef bitmap,
        BitmapGeometry bitmapGeometry, IActorRef array)
    {
        _geometry = geometry;
        _row = row;
        _members = members;
        _bitmap = bitmap;
        _bitmapGeometry = bitmapGeometry;
        _array = array;
        _xorSources = new ReadOnlyMemory<byte>[geometry.DataMembers];
    }

    public static Props Props(
        ArrayGeometry geometry, long row, IReadOnlyList<IActorRef> members, IActorRef bitmap,
        BitmapGeometry bitmapGeometry, IActorRef array) =>
        Akka.Actor.Props.Create(() => new StripeActor(geometry, row, members, bitmap, bitmapGeometry, array));

    private enum Phase
    {
        Preparing,
        Writing,
    }

    private sealed class Batch(long id, List<StripeWrite> writes, StripeWritePlan plan, PooledBuffer?[] pages, (int First, int Last) bits)
    {
        public long Id { get; } = id;

        public List<StripeWrite> Writes { get; } = writes;

        public StripeWritePlan Plan { get; } = plan;

        /// <summary>Per member: the pages of the planned columns, or null if the member takes no part.</summary>
        public PooledBuffer?[] Pages { get; } = pages;

        public (int First, int Last) Bits { get; } = bits;

        public Phase Phase { get; set; } = Phase.Preparing;

        public int IoOutstanding { get; set; }

        public int BmSeq { get; set; }

        public bool StartAnswered { get; set; }

        public bool Released { get; set; }

        public string? Failure { get; set; }
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StripeWrite write:
                _queue.Enqueue(write);
                if (_batch is null)
                    StartBatch();
                break;
            case WriteStarted started:
                OnWriteStarted(started);
                break;
            case BatchDurable durable:
                // Any BatchDurable(s) is true for every batch <= s, so a late one is harmless.
                if (_batch is { StartAnswered: true, Released: false } batch && unchecked(batch.BmSeq - durable.SeqWrite) <= 0)
                {
                    batch.Released = true;
                    Advance();
                }
                break;
            case BitmapUnavailable:
                _bitmapLost = true;
                if (_batch is { Released: false } waiting)
                {
                    waiting.Failure ??= "the write-intent bitmap is unavailable";
                    waiting.StartAnswered = true;
                    Advance();
                }
                break;
            case IoCompleted done:
                OnIoAnswered(done.Tag, failure: null);
                break;
            case IoFailed failed:
                OnIoAnswered(failed.Tag, $"member {failed.Role} {failed.Kind.ToString().ToLowerInvariant()} failed: {failed.Reason}");
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void StartBatch()
    {
        var writes = new List<StripeWrite>(_queue.Count);
        while (_queue.Count > 0)
            writes.Add(_queue.Dequeue());
        var plan = StripeWritePlan.Create(_geometry, _row, writes.ConvertAll(w => (w.OffsetInRowBytes, w.Data.Length)));
        var pages = new PooledBuffer?[_geometry.MemberCount];
        for (var member = 0; member < pages.Length; member++)
        {
            if (plan.MemberTakesPart(member))
                pages[member] = PooledBuffer.Rent(plan.SpanBytes);
        }
        var bits = _bitmapGeometry.BitsCovering(plan.MemberOffsetBytes, plan.SpanBytes);
        _batch = new Batch(++_nextBatchId, writes, plan, pages, bits);

        if (_bitmapLost)
        {
            _batch.Failure = "the write-intent bitmap is unavailable";
            _batch.StartAnswered = true;
            Finish(_batch);
            return;
        }
        // Ask for the bitmap bits and pre-read in parallel: reads are allowed while parked.
        _bitmap.Tell(new StartWrite(bits.First, bits.Last));
        _batch.IoOutstanding = IssueIo(_batch, _batch.Plan.Reads, write: false);
    }

    private void OnWriteStarted(WriteStarted started)
    {
        var batch = _batch ?? throw new InvalidOperationException("WriteStarted without a batch in progress");
        batch.BmSeq = started.BmSeq;
        batch.StartAnswered = true;
        batch.Released = unchecked(started.BmSeq - started.SeqWrite) <= 0;
        if (!batch.Released)
            _array.Tell(new StripeParked(_row));
        Advance();
    }

    private void OnIoAnswered(long tag, string? failure)
    {
        var batch = _batch ?? throw new InvalidOperationException("member I/O answer without a batch in progress");
        Debug.Assert(tag == batch.Id, "member I/O answer for another batch");
        batch.Failure ??= failure;
        batch.IoOutstanding--;
        Advance();
    }

    private void Advance()
    {
        var batch = _batch!;
        if (batch.IoOutstanding > 0 || !batch.StartAnswered)
            return;
        if (batch.Phase == Phase.Writing || batch.Failure is not null)
        {
            Finish(batch);
            return;
        }
        if (!batch.Released)
            return; // I1: parked until the bitmap batch holding our bits is durable
        ComputeParity(batch);
        batch.Phase = Phase.Writing;
        batch.IoOutstanding = IssueIo(batch, batch.Plan.Writes, write: true);
    }

    private int IssueIo(Batch batch, bool[,] flags, bool write)
    {
        var plan = batch.Plan;
        var issued = 0;
        for (var member = 0; member < _geometry.MemberCount; member++)
        {
            foreach (var (firstColumn, columns) in StripeWritePlan.Runs(flags, member, plan.PageCount))
            {
                var offset = plan.MemberOffsetBytes + (long)firstColumn * ArrayGeometry.kPageBytes;
                var pages = batch.Pages[member]!.Memory.Slice(firstColumn * ArrayGeometry.kPageBytes, columns * ArrayGeometry.kPageBytes);
                _members[member].Tell(write
                    ? new WriteBlock(batch.Id, offset, pages)
                    : new ReadBlock(batch.Id, offset, pages));
                issued++;
            }
        }
        return issued;
    }

    private void ComputeParity(Batch batch)
    {
        var plan = batch.Plan;
        var parity = batch.Pages[plan.ParityMember]!.Span;

        // Read-modify-write columns: take the old data out of the old parity first.
        for (var column = 0; column < plan.PageCount; column++)
        {
            if (plan.Modes[column] != StripeWritePlan.ColumnMode.ReadModifyWrite)
                continue;
            var page = column * ArrayGeometry.kPageBytes;
            for (var d = 0; d < _geometry.DataMembers; d++)
            {
                if (plan.Cover[d, column] != 0)
                    XorParity.Accumulate(parity.Slice(page, ArrayGeometry.kPageBytes), PageOf(batch, d, page));
            }
        }

        // Lay the new data over the pages, in arrival order so a later overlapping write wins.
        foreach (var write in batch.Writes)
            Overlay(batch, write);

        for (var column = 0; column < plan.PageCount; column++)
        {
            var page = column * ArrayGeometry.kPageBytes;
            var target = parity.Slice(page, ArrayGeometry.kPageBytes);
            switch (plan.Modes[column])
            {
                case StripeWritePlan.ColumnMode.ReadModifyWrite:
                    for (var d = 0; d < _geometry.DataMembers; d++)
                    {
                        if (plan.Cover[d, column] != 0)
                            XorParity.Accumulate(target, PageOf(batch, d, page));
                    }
                    break;
                case StripeWritePlan.ColumnMode.FullStripe or StripeWritePlan.ColumnMode.ReconstructWrite:
                    for (var d = 0; d < _geometry.DataMembers; d++)
                        _xorSources[d] = batch.Pages[_geometry.DataMember(_row, d)]!.Memory.Slice(page, ArrayGeometry.kPageBytes);
                    XorParity.Compute(target, _xorSources);
                    break;
            }
        }
        Array.Clear(_xorSources);
    }

    private ReadOnlySpan<byte> PageOf(Batch batch, int dataIndex, int page) =>
        batch.Pages[_geometry.DataMember(_row, dataIndex)]!.Span.Slice(page, ArrayGeometry.kPageBytes);

    private void Overlay(Batch batch, StripeWrite write)
    {
        var chunk = _geometry.ChunkBytes;
        var firstByte = batch.Plan.FirstPage * ArrayGeometry.kPageBytes;
        var source = write.Data.Span;
        var pos = write.OffsetInRowBytes;
        while (!source.IsEmpty)
        {
            var inChunk = pos % chunk;
            var length = Math.Min(source.Length, chunk - inChunk);
            var member = _geometry.DataMember(_row, pos / chunk);
            source[..length].CopyTo(batch.Pages[member]!.Span[(inChunk - firstByte)..]);
            source = source[length..];
            pos += length;
        }
    }

    private void Finish(Batch batch)
    {
        // A write phase that failed part-way may have left the row inconsistent: keep its bits (I2, I3).
        var partial = batch.Failure is not null && batch.Phase == Phase.Writing;
        if (!_bitmapLost)
            _bitmap.Tell(new EndWrite(batch.Bits.First, batch.Bits.Last, Degraded: partial));
        foreach (var write in batch.Writes)
        {
            _array.Tell(batch.Failure is null
                ? new StripeWriteCompleted(write.RequestId, _row)
                : new StripeWriteFailed(write.RequestId, _row, batch.Failure));
        }
        foreach (var pages in batch.Pages)
            pages?.Dispose();
        _batch = null;
        if (_queue.Count > 0)
            StartBatch();
    }
}
