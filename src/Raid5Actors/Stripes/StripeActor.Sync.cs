using Akka.Actor;
using Raid5Actors.Buffers;
using Raid5Actors.Parity;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Stripes;

/// <summary>
/// One row of a sync pass, in order with the row's writes: check or repair parity (also the resync
/// after an unclean stop), or rebuild one member's chunk from the others (recovery, re-add).
/// </summary>
public sealed partial class StripeActor
{
    private sealed class SyncJob(long id, StripeSync sync) : Job(id, sync.View)
    {
        public StripeSync Sync { get; } = sync;

        public bool Mismatch { get; set; }
    }

    private void StartSyncJob(StripeSync sync)
    {
        var job = new SyncJob(++_nextJobId, sync);
        _job = job;
        var missing = sync.View.MissingMask | _failedMask;
        if (sync.Kind == SyncKind.Recover)
            missing &= ~(1 << sync.TargetRole); // the target is rebuilt, not read
        if (missing != 0)
        {
            FinishSync(job, $"members {Roles(missing)} are missing: cannot {sync.Kind.ToString().ToLowerInvariant()} the row", mismatch: false);
            return;
        }
        var chunk = _geometry.ChunkBytes;
        job.Pages = new PooledBuffer?[_geometry.MemberCount];
        for (var member = 0; member < _geometry.MemberCount; member++)
        {
            job.Pages[member] = PooledBuffer.Rent(chunk);
            if (sync.Kind != SyncKind.Recover || member != sync.TargetRole)
                Issue(job, member, _row * chunk, job.Pages[member]!.Memory, write: false);
        }
    }

    private void AdvanceSync(SyncJob job)
    {
        if (job.IoOutstanding > 0 || GateBlocks(job))
            return;
        if (job.ReadFailedMask != 0 || job.WriteFailedMask != 0)
        {
            FinishSync(job, $"{job.Sync.Kind.ToString().ToLowerInvariant()} of the row failed: {job.FirstIoFailure}", job.Mismatch);
            return;
        }
        if (job.Writing)
        {
            FinishSync(job, failure: null, job.Mismatch);
            return;
        }
        if (job.GateRequested)
        {
            if (!job.Released)
                return;
            WriteParity(job);
            return;
        }
        var target = job.Sync.Kind == SyncKind.Recover ? job.Sync.TargetRole : _geometry.ParityMember(_row);
        var sources = 0;
        for (var member = 0; member < _geometry.MemberCount; member++)
        {
            if (member != target)
                _xorSources[sources++] = job.Pages[member]!.Memory;
        }
        if (job.Sync.Kind == SyncKind.Recover)
        {
            XorParity.Compute(job.Pages[target]!.Span, _xorSources.AsSpan(0, sources));
            Array.Clear(_xorSources);
            job.Writing = true;
            Issue(job, target, _row * _geometry.ChunkBytes, job.Pages[target]!.Memory, write: true);
            return;
        }
        using var expected = PooledBuffer.Rent(_geometry.ChunkBytes);
        XorParity.Compute(expected.Span, _xorSources.AsSpan(0, sources));
        Array.Clear(_xorSources);
        job.Mismatch = !expected.Span.SequenceEqual(job.Pages[target]!.Span);
        if (!job.Mismatch || job.Sync.Kind == SyncKind.Check)
        {
            FinishSync(job, failure: null, job.Mismatch);
            return;
        }
        expected.Span.CopyTo(job.Pages[target]!.Span);
        // Rewriting parity is a write like any other: its bit must be durable first (I1).
        RequestGate(job, _row * _geometry.ChunkBytes, _geometry.ChunkBytes);
        if (!GateBlocks(job) && job.Released)
            WriteParity(job);
    }

    private void WriteParity(SyncJob job)
    {
        job.Writing = true;
        Issue(job, _geometry.ParityMember(_row), _row * _geometry.ChunkBytes, job.Pages[_geometry.ParityMember(_row)]!.Memory, write: true);
    }

    private void FinishSync(SyncJob job, string? failure, bool mismatch)
    {
        EndGate(job, keepBits: failure is not null && job.Writing);
        _array.Tell(failure is null
            ? (object)new StripeWorkCompleted(job.Sync.RequestId, _row, mismatch)
            : new StripeWorkFailed(job.Sync.RequestId, _row, failure));
        EndJob(job);
    }
}
