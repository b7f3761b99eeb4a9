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
        // Columns with the same mode and the same written members form runs: one XOR call per run.
        var runs = ColumnRuns(plan);
        foreach (var (first, count) in runs)
            SubtractOldOrRebuild(job, first, count);

        // Lay the new data over the pages, in arrival order so a later overlapping write wins.
        foreach (var write in job.Writes)
            Overlay(job, write);

        foreach (var (first, count) in runs)
            AddNewData(job, first, count);
        Array.Clear(_xorSources);
    }

    private static List<(int First, int Count)> ColumnRuns(StripeWritePlan plan)
    {
        var runs = new List<(int, int)>();
        var column = 0;
        while (column < plan.PageCount)
        {
            var start = column;
            var signature = Signature(plan, column);
            while (++column < plan.PageCount && Signature(plan, column) == signature)
            {
            }
            if (plan.Modes[start] != StripeWritePlan.ColumnMode.Untouched)
                runs.Add((start, column - start));
        }
        return runs;
    }

    private static long Signature(StripeWritePlan plan, int column)
    {
        long touched = 0;
        for (var d = 0; d < plan.Geometry.DataMembers; d++)
            touched |= plan.Cover[d, column] != 0 ? 1L << d : 0;
        return touched << 8 | (long)plan.Modes[column];
    }

    private void SubtractOldOrRebuild(WriteJob job, int firstColumn, int columns)
    {
        var plan = job.Plan;
        var parityPages = job.Pages[plan.ParityMember];
        switch (plan.Modes[firstColumn])
        {
            case StripeWritePlan.ColumnMode.ReadModifyWrite:
                // Take the old data out of the old parity before it is overwritten.
                for (var d = 0; d < _geometry.DataMembers; d++)
                {
                    if (plan.Cover[d, firstColumn] != 0)
                        XorParity.Accumulate(Run(parityPages!, firstColumn, columns).Span, Run(job.Pages[_geometry.DataMember(_row, d)]!, firstColumn, columns).Span);
                }
                break;
            case StripeWritePlan.ColumnMode.RebuildThenReconstruct:
                // The absent member's old pages = old parity XOR every other old data page.
                var sources = 0;
                _xorSources[sources++] = Run(parityPages!, firstColumn, columns);
                for (var d = 0; d < _geometry.DataMembers; d++)
                {
                    var member = _geometry.DataMember(_row, d);
                    if (member != plan.AbsentRole)
                        _xorSources[sources++] = Run(job.Pages[member]!, firstColumn, columns);
                }
                XorParity.Compute(Run(job.Pages[plan.AbsentRole]!, firstColumn, columns).Span, _xorSources.AsSpan(0, sources));
                break;
        }
    }

    private void AddNewData(WriteJob job, int firstColumn, int columns)
    {
        var plan = job.Plan;
        if (job.Pages[plan.ParityMember] is not { } parityPages)
            return; // parity missing and not repaired: nothing to compute
        switch (plan.Modes[firstColumn])
        {
            case StripeWritePlan.ColumnMode.ReadModifyWrite:
                for (var d = 0; d < _geometry.DataMembers; d++)
                {
                    if (plan.Cover[d, firstColumn] != 0)
                        XorParity.Accumulate(Run(parityPages, firstColumn, columns).Span, Run(job.Pages[_geometry.DataMember(_row, d)]!, firstColumn, columns).Span);
                }
                break;
            case StripeWritePlan.ColumnMode.FullStripe or StripeWritePlan.ColumnMode.ReconstructWrite
                or StripeWritePlan.ColumnMode.RebuildThenReconstruct:
                for (var d = 0; d < _geometry.DataMembers; d++)
                    _xorSources[d] = Run(job.Pages[_geometry.DataMember(_row, d)]!, firstColumn, columns);
                XorParity.Compute(Run(parityPages, firstColumn, columns).Span, _xorSources.AsSpan(0, _geometry.DataMembers));
                break;
        }
    }

    private static Memory<byte> Run(PooledBuffer pages, int firstColumn, int columns) =>
        pages.Memory.Slice(firstColumn * ArrayGeometry.kPageBytes, columns * ArrayGeometry.kPageBytes);

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
