using Akka.Actor;
using Raid5Actors.Buffers;
using Raid5Actors.Geometry;
using Raid5Actors.Parity;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Stripes;

/// <summary>Write batches: every write queued back to back is planned and carried out together.</summary>
public sealed partial class StripeActor
{
    private sealed class WriteJob(long id, List<StripeWrite> writes) : Job(id, writes[^1].View)
    {
        public List<StripeWrite> Writes { get; } = writes;

        public StripeWritePlan Plan { get; set; } = null!;
    }

    private void StartWriteJob()
    {
        var writes = new List<StripeWrite>();
        while (_queue.TryPeek(out var next) && next is StripeWrite write)
        {
            _queue.Dequeue();
            writes.Add(write);
        }
        var job = new WriteJob(++_nextJobId, writes);
        _job = job;
        // The newest view is the array's latest knowledge; add what this stripe saw fail.
        var missing = writes[^1].View.MissingMask | _failedMask;
        if (System.Numerics.BitOperations.PopCount((uint)missing) >= 2)
        {
            FinishWrite(job, $"members {Roles(missing)} are missing: the array cannot take writes");
            return;
        }
        if (_bitmapLost)
        {
            FinishWrite(job, "the write-intent bitmap is unavailable");
            return;
        }
        Plan(job, absentRole: LowestRole(missing), repair: false);
        RequestGate(job, job.Plan.MemberOffsetBytes, job.Plan.SpanBytes);
        IssueRuns(job, job.Plan.Reads, job.Plan.PageCount, job.Plan.MemberOffsetBytes, write: false);
    }

    private void Plan(WriteJob job, int absentRole, bool repair)
    {
        job.Plan = StripeWritePlan.Create(_geometry, _row, job.Writes.ConvertAll(w => (w.OffsetInRowBytes, w.Data.Length)), absentRole, repair);
        job.Pages = new PooledBuffer?[_geometry.MemberCount];
        for (var member = 0; member < _geometry.MemberCount; member++)
        {
            if (job.Plan.MemberTakesPart(member))
                job.Pages[member] = PooledBuffer.Rent(job.Plan.SpanBytes);
        }
    }

    private void AdvanceWrite(WriteJob job)
    {
        if (job.IoOutstanding > 0 || GateBlocks(job))
            return;
        if (job.Writing)
        {
            // The batch stands if at most one member lacks it: the others and parity hold the data.
            var lacking = job.WriteFailedMask | (job.Plan.Degraded ? 1 << job.Plan.AbsentRole : 0);
            var tooMany = System.Numerics.BitOperations.PopCount((uint)lacking) >= 2;
            FinishWrite(job, tooMany ? $"writes failed on members {Roles(lacking)}: {job.FirstIoFailure}" : null);
            return;
        }
        if (job.ReadFailedMask != 0)
        {
            var failed = job.ReadFailedMask;
            job.ReadFailedMask = 0;
            if (job.Plan.AbsentRole >= 0 || System.Numerics.BitOperations.PopCount((uint)failed) > 1)
            {
                FinishWrite(job, $"cannot rebuild the row: {job.FirstIoFailure}");
                return;
            }
            // md's read-error repair: plan again without reading that member, and write its rebuilt pages back.
            ReturnPages(job);
            Plan(job, absentRole: LowestRole(failed), repair: true);
            IssueRuns(job, job.Plan.Reads, job.Plan.PageCount, job.Plan.MemberOffsetBytes, write: false);
            return;
        }
        if (!job.Released)
            return; // I1: parked until the bitmap batch holding our bits is durable
        ComputeParity(job);
        job.Writing = true;
        IssueRuns(job, job.Plan.Writes, job.Plan.PageCount, job.Plan.MemberOffsetBytes, write: true);
        if (job.IoOutstanding == 0)
            AdvanceWrite(job);
    }

    private void ComputeParity(WriteJob job)
    {
        var plan = job.Plan;
        var parityPages = job.Pages[plan.ParityMember];
        var absent = plan.AbsentRole;
        for (var column = 0; column < plan.PageCount; column++)
        {
            var page = column * ArrayGeometry.kPageBytes;
            switch (plan.Modes[column])
            {
                case StripeWritePlan.ColumnMode.ReadModifyWrite:
                    // Take the old data out of the old parity before it is overwritten.
                    for (var d = 0; d < _geometry.DataMembers; d++)
                    {
                        if (plan.Cover[d, column] != 0)
                            XorParity.Accumulate(PageSpan(parityPages!, page), PageSpan(job.Pages[_geometry.DataMember(_row, d)]!, page));
                    }
                    break;
                case StripeWritePlan.ColumnMode.RebuildThenReconstruct:
                    // The absent member's old page = old parity XOR every other old data page.
                    var sources = 0;
                    _xorSources[sources++] = PageMemory(parityPages!, page);
                    for (var d = 0; d < _geometry.DataMembers; d++)
                    {
                        var member = _geometry.DataMember(_row, d);
                        if (member != absent)
                            _xorSources[sources++] = PageMemory(job.Pages[member]!, page);
                    }
                    XorParity.Compute(PageSpan(job.Pages[absent]!, page), _xorSources.AsSpan(0, sources));
                    break;
            }
        }

        // Lay the new data over the pages, in arrival order so a later overlapping write wins.
        foreach (var write in job.Writes)
            Overlay(job, write);

        for (var column = 0; column < plan.PageCount; column++)
        {
            var page = column * ArrayGeometry.kPageBytes;
            switch (plan.Modes[column])
            {
                case StripeWritePlan.ColumnMode.ReadModifyWrite:
                    for (var d = 0; d < _geometry.DataMembers; d++)
                    {
                        if (plan.Cover[d, column] != 0)
                            XorParity.Accumulate(PageSpan(parityPages!, page), PageSpan(job.Pages[_geometry.DataMember(_row, d)]!, page));
                    }
                    break;
                case StripeWritePlan.ColumnMode.FullStripe or StripeWritePlan.ColumnMode.ReconstructWrite
                    or StripeWritePlan.ColumnMode.RebuildThenReconstruct:
                    if (parityPages is null)
                        break; // parity missing and not repaired: nothing to compute
                    for (var d = 0; d < _geometry.DataMembers; d++)
                        _xorSources[d] = PageMemory(job.Pages[_geometry.DataMember(_row, d)]!, page);
                    XorParity.Compute(PageSpan(parityPages, page), _xorSources.AsSpan(0, _geometry.DataMembers));
                    break;
            }
        }
        Array.Clear(_xorSources);
    }

    private static Span<byte> PageSpan(PooledBuffer pages, int page) => pages.Span.Slice(page, ArrayGeometry.kPageBytes);

    private static ReadOnlyMemory<byte> PageMemory(PooledBuffer pages, int page) => pages.Memory.Slice(page, ArrayGeometry.kPageBytes);

    private void Overlay(WriteJob job, StripeWrite write)
    {
        var chunk = _geometry.ChunkBytes;
        var firstByte = job.Plan.FirstPage * ArrayGeometry.kPageBytes;
        var source = write.Data.Span;
        var pos = write.OffsetInRowBytes;
        while (!source.IsEmpty)
        {
            var inChunk = pos % chunk;
            var length = Math.Min(source.Length, chunk - inChunk);
            var member = _geometry.DataMember(_row, pos / chunk);
            source[..length].CopyTo(job.Pages[member]!.Span[(inChunk - firstByte)..]);
            source = source[length..];
            pos += length;
        }
    }

    private void FinishWrite(WriteJob job, string? failure)
    {
        // Keep the bits ("needed") when a member lacks this write or the row may be half written.
        var degraded = job.Plan is { Degraded: true } || job.WriteFailedMask != 0 || (failure is not null && job.Writing);
        EndGate(job, keepBits: degraded);
        foreach (var write in job.Writes)
        {
            _array.Tell(failure is null
                ? (object)new StripeWorkCompleted(write.RequestId, _row)
                : new StripeWorkFailed(write.RequestId, _row, failure));
        }
        EndJob(job);
    }
}
