using Akka.Actor;
using Raid5Actors.Bitmap;
using Raid5Actors.Buffers;
using Raid5Actors.Geometry;
using static Raid5Actors.Bitmap.BitmapProtocol;
using static Raid5Actors.Disks.MemberDiskProtocol;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Stripes;

/// <summary>
/// One per active row of the array (md's stripe_head and handle_stripe). Work for the row (write
/// batches, reads that rebuild a block, sync passes) is queued and done one job at a time in
/// arrival order, so overlapping requests apply in the order they were sent and a rebuild never
/// sees a half-written row. A write job runs analyse -> decide -> act: plan the columns
/// (<see cref="StripeWritePlan"/>), ask the bitmap to set the bits while pre-reading, then, once the
/// reads are in and the bitmap batch is durable (I1), compute parity and write data and parity.
///
/// Owns: its queue, the page buffers of the job in progress (lent to member disks while they read
/// or write them, returned only after every I/O has answered), and what it learned of member
/// failures. A member that fails a read is rebuilt from the others and rewritten (md's read-error
/// repair); one that fails a write is reported to the array, which marks it faulty.
/// </summary>
public sealed partial class StripeActor : UntypedActor
{
    private readonly ArrayGeometry _geometry;
    private readonly long _row;
    private readonly IActorRef? _bitmap;
    private readonly BitmapGeometry _bitmapGeometry;
    private readonly IActorRef _array;
    private readonly Queue<object> _queue = new();
    private readonly ReadOnlyMemory<byte>[] _xorSources;
    private Job? _job;
    private long _nextJobId;
    private bool _bitmapLost;
    private readonly HashSet<IActorRef> _watched = [];

    // Members that failed a write seen by this stripe: never read or written again here.
    private int _failedMask;

    /// <param name="bitmap">The bitmap actor, or null when the array runs without a bitmap.</param>
    public StripeActor(
        ArrayGeometry geometry, long row, IActorRef? bitmap, BitmapGeometry bitmapGeometry, IActorRef array)
    {
        _geometry = geometry;
        _row = row;
        _bitmap = bitmap;
        _bitmapGeometry = bitmapGeometry;
        _array = array;
        _xorSources = new ReadOnlyMemory<byte>[geometry.MemberCount];
    }

    public static Props Props(
        ArrayGeometry geometry, long row, IActorRef? bitmap, BitmapGeometry bitmapGeometry, IActorRef array) =>
        Akka.Actor.Props.Create(() => new StripeActor(geometry, row, bitmap, bitmapGeometry, array));

    /// <summary>State shared by every kind of job: buffers, I/O in flight, failures, the bitmap gate.</summary>
    private abstract class Job(long id, MemberView view)
    {
        public long Id { get; } = id;

        public MemberView View { get; } = view;

        public PooledBuffer?[] Pages { get; set; } = [];

        public int IoOutstanding { get; set; }

        /// <summary>I/O out per role, so that the answers a stopped disk actor will never send can be failed.</summary>
        public int[] OutstandingByRole { get; } = new int[view.Members.Count];

        public int ReadFailedMask { get; set; }

        public int WriteFailedMask { get; set; }

        public string? FirstIoFailure { get; set; }

        public bool GateRequested { get; set; }

        public (int First, int Last) Bits { get; set; }

        public int BmSeq { get; set; }

        public bool StartAnswered { get; set; }

        public bool Released { get; set; }

        public bool Writing { get; set; }
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StripeWrite or StripeRead or StripeSync:
                _queue.Enqueue(message);
                if (_job is null)
                    StartNext();
                break;
            case WriteStarted started:
                OnWriteStarted(started);
                break;
            case BatchDurable durable:
                // Any BatchDurable(s) is true for every batch <= s, so a late one is harmless.
                if (_job is { StartAnswered: true, Released: false } job && unchecked(job.BmSeq - durable.SeqWrite) <= 0)
                {
                    job.Released = true;
                    Advance();
                }
                break;
            case BitmapUnavailable:
                _bitmapLost = true;
                if (_job is { GateRequested: true, Released: false } waiting)
                {
                    waiting.FirstIoFailure ??= "the write-intent bitmap is unavailable";
                    waiting.StartAnswered = waiting.Released = true;
                    waiting.GateRequested = false;
                    FailJob("the write-intent bitmap is unavailable");
                }
                break;
            case IoCompleted done:
                OnIoAnswered(done.Tag, done.Role, done.Kind, failure: null);
                break;
            case Terminated terminated:
                OnMemberStopped(terminated.ActorRef);
                break;
            case IoFailed failed:
                OnIoAnswered(failed.Tag, failed.Role, failed.Kind, $"member {failed.Role} {failed.Kind.ToString().ToLowerInvariant()} failed: {failed.Reason}");
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    protected override void PostStop()
    {
        if (_job is null)
            return;
        // Stopped mid-job (a crash): the row may be half written, so its bits stay "needed".
        // Buffers still lent to member disks are left to the garbage collector, not returned.
        if (_job.GateRequested && _bitmap is not null && !_bitmapLost)
            _bitmap.Tell(new EndWrite(_job.Bits.First, _job.Bits.Last, Degraded: true));
        if (_job.IoOutstanding == 0)
            ReturnPages(_job);
    }

    private void StartNext()
    {
        while (_job is null && _queue.Count > 0)
        {
            switch (_queue.Peek())
            {
                case StripeWrite:
                    StartWriteJob();
                    break;
                case StripeRead:
                    StartReadJob((StripeRead)_queue.Dequeue());
                    break;
                case StripeSync:
                    StartSyncJob((StripeSync)_queue.Dequeue());
                    break;
            }
        }
    }

    private void Advance()
    {
        switch (_job)
        {
            case WriteJob write:
                AdvanceWrite(write);
                break;
            case ReadJob read:
                AdvanceRead(read);
                break;
            case SyncJob sync:
                AdvanceSync(sync);
                break;
        }
    }

    private void OnIoAnswered(long tag, int role, IoKind kind, string? failure)
    {
        var job = _job ?? throw new InvalidOperationException("member I/O answer without a job in progress");
        if (tag != job.Id)
            throw new InvalidOperationException($"member I/O answer for job {tag}, but job {job.Id} is in progress");
        job.IoOutstanding--;
        if (role >= 0 && role < job.OutstandingByRole.Length)
            job.OutstandingByRole[role]--;
        if (failure is not null)
        {
            job.FirstIoFailure ??= failure;
            if (kind == IoKind.Write)
            {
                job.WriteFailedMask |= 1 << role;
                _failedMask |= 1 << role;
                _array.Tell(new StripeMemberFailed(_row, role, failure));
            }
            else
            {
                job.ReadFailedMask |= 1 << role;
            }
        }
        Advance();
    }

    // The bitmap gate (I1): ask for the bits; member writes wait until the batch holding them is durable.
    private void RequestGate(Job job, long memberOffsetBytes, long lengthBytes)
    {
        job.Bits = _bitmapGeometry.BitsCovering(memberOffsetBytes, lengthBytes);
        if (_bitmap is null)
        {
            job.StartAnswered = job.Released = true; // running without a bitmap: nothing to wait for
            return;
        }
        job.GateRequested = true;
        _bitmap.Tell(new StartWrite(job.Bits.First, job.Bits.Last));
    }

    private bool GateBlocks(Job job) => job.GateRequested && !job.StartAnswered;

    private void OnWriteStarted(WriteStarted started)
    {
        var job = _job ?? throw new InvalidOperationException("WriteStarted without a job in progress");
        job.BmSeq = started.BmSeq;
        job.StartAnswered = true;
        job.Released = unchecked(started.BmSeq - started.SeqWrite) <= 0;
        if (!job.Released)
            _array.Tell(new StripeParked(_row));
        Advance();
    }

    private void EndGate(Job job, bool keepBits)
    {
        if (job.GateRequested && _bitmap is not null && !_bitmapLost)
            _bitmap.Tell(new EndWrite(job.Bits.First, job.Bits.Last, Degraded: keepBits));
        job.GateRequested = false;
    }

    private int IssueRuns(Job job, bool[,] flags, int pageCount, long memberOffsetBytes, bool write, int skipMask = 0)
    {
        var issued = 0;
        for (var member = 0; member < _geometry.MemberCount; member++)
        {
            if ((skipMask & (1 << member)) != 0)
                continue;
            foreach (var (firstColumn, columns) in StripeWritePlan.Runs(flags, member, pageCount))
            {
                var offset = memberOffsetBytes + (long)firstColumn * ArrayGeometry.kPageBytes;
                var pages = job.Pages[member]!.Memory.Slice(firstColumn * ArrayGeometry.kPageBytes, columns * ArrayGeometry.kPageBytes);
                Issue(job, member, offset, pages, write);
                issued++;
            }
        }
        return issued;
    }

    private void Issue(Job job, int member, long memberOffsetBytes, Memory<byte> pages, bool write)
    {
        var disk = job.View.Members[member];
        if (_watched.Add(disk))
            Context.Watch(disk);
        disk.Tell(write ? new WriteBlock(job.Id, memberOffsetBytes, pages) : new ReadBlock(job.Id, memberOffsetBytes, pages));
        job.IoOutstanding++;
        job.OutstandingByRole[member]++;
    }

    // A disk actor that was stopped (it kept crashing) answers nothing more: fail what it still owed.
    private void OnMemberStopped(IActorRef disk)
    {
        _watched.Remove(disk);
        if (_job is not { } job)
            return;
        for (var role = 0; role < job.View.Members.Count; role++)
        {
            if (!job.View.Members[role].Equals(disk))
                continue;
            while (job.OutstandingByRole[role] > 0 && _job == job)
                OnIoAnswered(job.Id, role, job.Writing ? IoKind.Write : IoKind.Read, $"member {role} disk actor stopped");
        }
    }

    private static void ReturnPages(Job job)
    {
        foreach (var pages in job.Pages)
            pages?.Dispose();
        job.Pages = [];
    }

    private void FailJob(string reason)
    {
        var job = _job!;
        if (job.IoOutstanding > 0)
            return; // finish once every lent buffer is back
        switch (job)
        {
            case WriteJob write:
                FinishWrite(write, reason);
                break;
            case ReadJob read:
                FinishRead(read, reason);
                break;
            case SyncJob sync:
                FinishSync(sync, reason, mismatch: false);
                break;
        }
    }

    private void EndJob(Job job)
    {
        ReturnPages(job);
        _job = null;
        StartNext();
    }

    private static int LowestRole(int mask) => mask == 0 ? -1 : System.Numerics.BitOperations.TrailingZeroCount(mask);

    private static string Roles(int mask) =>
        string.Join(" and ", Enumerable.Range(0, 32).Where(r => (mask & (1 << r)) != 0));
}
