using Akka.Actor;
using Raid5Actors.Buffers;
using Raid5Actors.Geometry;
using Raid5Actors.Parity;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Stripes;

/// <summary>
/// Reads that go through the stripe: blocks of a missing member are rebuilt by XOR of the others
/// (degraded read), and a block that failed a read on a live member is rebuilt, answered, and
/// written back to it (md's read-error repair). Ordered with the row's writes, so a rebuild never
/// mixes old and new blocks of one write.
/// </summary>
public sealed partial class StripeActor
{
    /// <summary>A block of the absent member: rebuilt from the same pages of every other member.</summary>
    private sealed record RebuiltPiece(int SpanStartInChunk, int SpanBytes, int PieceOffsetInSpan, int PieceBytes, int DestinationOffset);

    private sealed class ReadJob(long id, StripeRead read, int absentRole) : Job(id, read.View)
    {
        public StripeRead Read { get; } = read;

        public int AbsentRole { get; } = absentRole;

        public RebuiltPiece? Piece { get; set; }

        public PooledBuffer? Rebuilt { get; set; }
    }

    private void StartReadJob(StripeRead read)
    {
        var repair = read.View.RepairRole;
        var missing = read.View.MissingMask | _failedMask;
        var absentMask = missing | (repair >= 0 ? 1 << repair : 0);
        var job = new ReadJob(++_nextJobId, read, repair >= 0 ? repair : LowestRole(missing));
        _job = job;
        job.Pages = new PooledBuffer?[_geometry.MemberCount];
        var chunk = _geometry.ChunkBytes;
        var done = 0;
        while (done < read.Destination.Length)
        {
            var pos = read.OffsetInRowBytes + done;
            var inChunk = pos % chunk;
            var length = Math.Min(read.Destination.Length - done, chunk - inChunk);
            var member = _geometry.DataMember(_row, pos / chunk);
            if ((absentMask & (1 << member)) == 0)
            {
                Issue(job, member, _row * chunk + inChunk, read.Destination.Slice(done, length), write: false);
            }
            else if (System.Numerics.BitOperations.PopCount((uint)absentMask) >= 2)
            {
                job.FirstIoFailure = $"data lost: members {Roles(absentMask)} are both unavailable";
                job.ReadFailedMask |= absentMask;
            }
            else
            {
                IssueRebuildReads(job, inChunk, length, done);
            }
            done += length;
        }
        if (job.IoOutstanding == 0)
            AdvanceRead(job);
    }

    // A read lies within one chunk per data member, so at most one piece is rebuilt per request.
    private void IssueRebuildReads(ReadJob job, int inChunk, int length, int destinationOffset)
    {
        var spanStart = inChunk / ArrayGeometry.kPageBytes * ArrayGeometry.kPageBytes;
        var spanEnd = (inChunk + length + ArrayGeometry.kPageBytes - 1) / ArrayGeometry.kPageBytes * ArrayGeometry.kPageBytes;
        job.Piece = new RebuiltPiece(spanStart, spanEnd - spanStart, inChunk - spanStart, length, destinationOffset);
        for (var member = 0; member < _geometry.MemberCount; member++)
        {
            if (member == job.AbsentRole)
                continue;
            job.Pages[member] = PooledBuffer.Rent(spanEnd - spanStart);
            Issue(job, member, _row * _geometry.ChunkBytes + spanStart, job.Pages[member]!.Memory, write: false);
        }
    }

    private void AdvanceRead(ReadJob job)
    {
        if (job.IoOutstanding > 0)
            return;
        if (job.Writing || job.ReadFailedMask != 0)
        {
            // A failed repair write only costs that member (already reported); the read itself stands.
            FinishRead(job, job.ReadFailedMask != 0 ? $"cannot read the row: {job.FirstIoFailure}" : null);
            return;
        }
        if (job.Piece is not { } piece)
        {
            FinishRead(job, failure: null);
            return;
        }
        var sources = 0;
        for (var member = 0; member < _geometry.MemberCount; member++)
        {
            if (job.Pages[member] is { } pages)
                _xorSources[sources++] = pages.Memory;
        }
        job.Rebuilt = PooledBuffer.Rent(piece.SpanBytes);
        XorParity.Compute(job.Rebuilt.Span, _xorSources.AsSpan(0, sources));
        Array.Clear(_xorSources);
        job.Rebuilt.Span.Slice(piece.PieceOffsetInSpan, piece.PieceBytes).CopyTo(job.Read.Destination.Span[piece.DestinationOffset..]);
        if (job.Read.View.RepairRole == job.AbsentRole)
        {
            job.Writing = true;
            Issue(job, job.AbsentRole, _row * _geometry.ChunkBytes + piece.SpanStartInChunk, job.Rebuilt.Memory, write: true);
            return;
        }
        FinishRead(job, failure: null);
    }

    private void FinishRead(ReadJob job, string? failure)
    {
        _array.Tell(failure is null
            ? (object)new StripeWorkCompleted(job.Read.RequestId, _row)
            : new StripeWorkFailed(job.Read.RequestId, _row, failure));
        job.Rebuilt?.Dispose();
        EndJob(job);
    }
}
